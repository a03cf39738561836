package review

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hotfolder/pipeline"
	"hotfolder/pipeline/journal"
)

// readData reads the data.js Build wrote.
func readData(t *testing.T, dir string) Data {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "data.js"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(strings.TrimPrefix(string(b), "hfLoad("), ");\n")
	var d Data
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBuild(t *testing.T) {
	f := newFixture(t)
	index, err := Build(context.Background(), BuildOptions{State: f.state, In: f.in, Out: f.out})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(index)
	for _, name := range []string{"index.html", "app.js", "app.css", "data.js"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	d := readData(t, dir)
	if want := (Counts{Done: 6, Failed: 3, Pending: 1, Skipped: -1}); d.Counts != want {
		t.Errorf("counts %+v, want %+v", d.Counts, want)
	}
	if len(d.Failures) != 2 || d.Failures[0].Count != 2 || d.Failures[0].Code != "InputValidationError" || d.Failures[1].Count != 1 {
		t.Errorf("failure groups %+v: want the larger first", d.Failures)
	}
	var order []string
	for _, it := range d.Items {
		order = append(order, it.Status)
		if it.Status == "done" && it.Name != "layers.jpg" && (it.Before == "" || it.After == "") {
			t.Errorf("%s: thumbnails %q, %q", it.Name, it.Before, it.After)
		}
		if it.Status == "failed" && it.Before == "" {
			t.Errorf("failed input %s has no thumbnail", it.Name)
		}
		if it.Name == "layers.jpg" && (it.Before == "" || it.After != "") {
			t.Errorf("a PSD output got a thumbnail (%q), or its input none (%q)", it.After, it.Before)
		}
		for _, th := range []string{it.Before, it.After} {
			if th != "" {
				if _, err := os.Stat(filepath.Join(dir, "thumbs", th)); err != nil {
					t.Error(err)
				}
			}
		}
	}
	if got := strings.Join(order, " "); got != "failed failed failed pending done done done done done done" {
		t.Errorf("order %s: want failures first", got)
	}
	// Cut-outs keep their alpha (PNG); opaque inputs are JPEG.
	if !strings.HasSuffix(d.Items[len(d.Items)-1].After, ".png") || !strings.HasSuffix(d.Items[len(d.Items)-1].Before, ".jpg") {
		t.Errorf("thumbnail formats: %+v", d.Items[len(d.Items)-1])
	}
	if !strings.Contains(d.Retry, "-retry-failed") || !strings.Contains(d.Retry, f.in) {
		t.Errorf("retry command %q", d.Retry)
	}
	// The hostile name is escaped inside the script: it cannot end it.
	b, _ := os.ReadFile(filepath.Join(dir, "data.js"))
	if strings.Contains(string(b), "<img") {
		t.Error("data.js holds raw markup")
	}
}

// A second build reuses the thumbnails: named by content, made once.
func TestBuildReusesThumbnails(t *testing.T) {
	f := newFixture(t)
	if _, err := Build(context.Background(), BuildOptions{State: f.state, In: f.in, Out: f.out}); err != nil {
		t.Fatal(err)
	}
	thumbs := filepath.Join(f.state, Dir, "thumbs")
	entries, _ := os.ReadDir(thumbs)
	before := map[string]int64{}
	for _, e := range entries {
		fi, _ := e.Info()
		before[e.Name()] = fi.ModTime().UnixNano()
	}
	os.RemoveAll(f.in) // the inputs are gone: the thumbnails stay
	if _, err := Build(context.Background(), BuildOptions{State: f.state}); err != nil {
		t.Fatal(err)
	}
	entries, _ = os.ReadDir(thumbs)
	if len(entries) != len(before) || len(entries) < 10 {
		t.Fatalf("%d thumbnails, then %d", len(before), len(entries))
	}
	for _, e := range entries {
		fi, _ := e.Info()
		if before[e.Name()] != fi.ModTime().UnixNano() {
			t.Errorf("%s was made again", e.Name())
		}
	}
}

// While a run holds the journal, the review says to use its live page.
func TestBuildWhileRunning(t *testing.T) {
	f := newFixture(t)
	j, err := journal.Open(filepath.Join(f.state, pipeline.JournalFile), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	_, err = Build(context.Background(), BuildOptions{State: f.state})
	if !errors.Is(err, ErrRunning) {
		t.Errorf("got %v, want ErrRunning", err)
	}
}

func TestBuildNoJournal(t *testing.T) {
	_, err := Build(context.Background(), BuildOptions{State: t.TempDir()})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want not-exist", err)
	}
}

// The page never puts text into markup.
func TestNoInnerHTML(t *testing.T) {
	b, err := assets.ReadFile("assets/app.js")
	if err != nil {
		t.Fatal(err)
	}
	code := strings.SplitN(string(b), "\n(function", 2)[1] // past the comment that names it
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(code, bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}
