package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"hotfolder/uploader"
	"hotfolder/watcher"
)

// File names are bytes: an input whose name is not UTF-8 keeps its output
// name across runs (the claims file keeps it exactly), so a rerun spends
// nothing and adds no file.
func TestNamesThatAreNotUTF8SurviveARerun(t *testing.T) {
	e := newEnv(t)
	names := []string{"caf\xe9.jpg", "sub\xff/x.jpg", "ok.jpg"}
	var files []watcher.File
	for _, n := range names {
		files = append(files, e.input(n, time.Hour))
	}
	if sum, err := e.run(e.config(2), &fakeSource{files: files}, &fakeRemote{}); err != nil || sum.Done != 3 {
		t.Fatalf("first run: %+v, %v", sum.Stats, err)
	}
	before := e.outputs()
	r := noRemote(t)
	sum, err := e.run(e.config(2), &fakeSource{files: files}, r)
	if err != nil || sum.Skipped != 3 || r.total() != 0 {
		t.Errorf("rerun = %+v, %v, %d remote calls; want all 3 skipped, nothing sent", sum.Stats, err, r.total())
	}
	if after := e.outputs(); strings.Join(after, "|") != strings.Join(before, "|") {
		t.Errorf("outputs %q after the rerun, %q before", after, before)
	}
	for _, want := range []string{"caf\xe9.png", "sub\xff/x.png"} {
		if _, err := os.Stat(e.outPath(want)); err != nil {
			t.Errorf("output %q: %v", want, err)
		}
	}
	// The claims file stays valid JSON Lines that people can read.
	data, err := os.ReadFile(filepath.Join(e.out, ".hotfolder", claimsFile))
	if err != nil || !utf8.Valid(data) {
		t.Errorf("claims file is not UTF-8 (%v):\n%q", err, data)
	}
}

// DisplayName shows a name that is not printable UTF-8 escaped, and any
// other as it is.
func TestDisplayName(t *testing.T) {
	for in, want := range map[string]string{
		"shoes/red shoe.jpg": "shoes/red shoe.jpg",
		"café.jpg":           "café.jpg",
		"caf\xe9.jpg":        `"caf\xe9.jpg"`,
		"a\nb.jpg":           `"a\nb.jpg"`,
	} {
		if got := DisplayName(in); got != want {
			t.Errorf("DisplayName(%q) = %s, want %s", in, got, want)
		}
	}
}

// A name that grows past the file system's limit when it collides is
// shortened the same way on every run, before anything is spent.
func TestLongCollidingNameIsShortened(t *testing.T) {
	e := newEnv(t)
	stem := strings.Repeat("é", 120) + "x" // 241 bytes
	a, b := e.input(stem+".jpg", time.Hour), e.input(stem+".png", time.Hour)
	sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{a, b}}, &fakeRemote{})
	if err != nil || sum.Done != 2 || sum.Failed != 0 {
		t.Fatalf("run = %+v %v, %v; want both done", sum.Stats, sum.Failures, err)
	}
	outs := e.outputs()
	if len(outs) != 2 {
		t.Fatalf("outputs %q", outs)
	}
	for _, o := range outs {
		if len(o) > 255 || !utf8.ValidString(o) || !strings.HasSuffix(o, ".png") {
			t.Errorf("output name %q (%d bytes)", o, len(o))
		}
	}
	// Rerun: the same names, nothing sent.
	r := noRemote(t)
	if sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{a, b}}, r); err != nil || sum.Skipped != 2 {
		t.Errorf("rerun = %+v, %v", sum.Stats, err)
	}
}

func TestFitName(t *testing.T) {
	long := strings.Repeat("a", 300) + ".png"
	got := fitName(long, "png", 255)
	if len(got) != 255 || !strings.HasSuffix(got, ".png") || fitName(long, "png", 255) != got {
		t.Errorf("fitName = %q (%d bytes)", got, len(got))
	}
	other := strings.Repeat("a", 300) + "b.png"
	if fitName(other, "png", 255) == got {
		t.Error("two long names that differ past the cut were given one name")
	}
	if fitName("a.png", "png", 255) != "a.png" {
		t.Error("a short name was changed")
	}
	utf := strings.Repeat("é", 200) + ".png"
	if f := fitName(utf, "png", 255); !utf8.ValidString(f) || len(f) > 255 {
		t.Errorf("fitName cut a character: %q", f)
	}
}

// A folder of -out that is a symbolic link is never written through (it
// could lead outside -out): the file fails before any upload, with a reason
// and a hint, and is taken again once the folder is mended.
func TestSymlinkInOutIsRefused(t *testing.T) {
	e := newEnv(t)
	outside := t.TempDir()
	if err := os.MkdirAll(e.out, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, e.outPath("shoes")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	f, ok := e.input("shoes/red.jpg", time.Hour), e.input("ok.jpg", time.Hour)
	r := &fakeRemote{}
	sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{f, ok}}, r)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 1 || sum.Failed != 1 || r.n("Upload") != 1 {
		t.Fatalf("summary %+v, %d uploads; want shoes/red.jpg failed before its upload", sum.Stats, r.n("Upload"))
	}
	fl := sum.Failures[0]
	if fl.Rel != "shoes/red.jpg" || fl.Stage != "check" || !errors.Is(fl.Err, errOutputPath) ||
		!strings.Contains(fl.Err.Error(), "symbolic link") || uploader.Hint(fl.Err) == "" {
		t.Errorf("failure %s at %s: %v (hint %q)", fl.Rel, fl.Stage, fl.Err, uploader.Hint(fl.Err))
	}
	if left, _ := os.ReadDir(outside); len(left) != 0 {
		t.Errorf("files were written outside -out: %v", left)
	}
	// Mended: the next run takes it again, although it did not change.
	if err := os.Remove(e.outPath("shoes")); err != nil {
		t.Fatal(err)
	}
	sum, err = e.run(e.config(1), &fakeSource{files: []watcher.File{f, ok}}, &fakeRemote{})
	if err != nil || sum.Done != 1 || sum.Skipped != 1 {
		t.Errorf("after mending -out: %+v, %v; want shoes/red.jpg done", sum.Stats, err)
	}
}

// Even a link that appears after the check cannot take a write outside
// -out: writes go through the output folder opened as an os.Root.
func TestLinkAfterCheckCannotEscape(t *testing.T) {
	e := newEnv(t)
	outside := t.TempDir()
	f := e.input("shoes/red.jpg", time.Hour)
	r := &fakeRemote{WaitFn: func(_ context.Context, job uploader.Job) (uploader.Result, error) {
		// Between the check and the write, shoes/ becomes a link out.
		if err := os.MkdirAll(e.out, 0o777); err != nil {
			t.Error(err)
		}
		if err := os.Symlink(outside, e.outPath("shoes")); err != nil {
			t.Error(err)
		}
		return uploader.Result{URL: job.ID}, nil
	}}
	sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{f}}, r)
	if err != nil || sum.Failed != 1 || sum.Failures[0].Stage != "write" {
		t.Errorf("summary %+v %v, %v; want the write refused", sum.Stats, sum.Failures, err)
	}
	if left, _ := os.ReadDir(outside); len(left) != 0 {
		t.Errorf("files were written outside -out: %v", left)
	}
}

// A second state folder on the same -out is refused with what to do; a
// mark left by a state folder that is gone is taken over.
func TestOneStateFolderPerOutput(t *testing.T) {
	e := newEnv(t)
	f := e.input("a.jpg", time.Hour)
	if _, err := e.run(e.config(1), &fakeSource{files: []watcher.File{f}}, &fakeRemote{}); err != nil {
		t.Fatal(err)
	}
	other := e.config(1)
	other.State = filepath.Join(t.TempDir(), "elsewhere")
	_, err := New(other, &fakeSource{}, &fakeRemote{})
	if !uploader.IsFatal(err) || !strings.Contains(err.Error(), "belongs to another state folder") ||
		!strings.Contains(uploader.Hint(err), "-state "+filepath.Join(e.out, ".hotfolder")) {
		t.Fatalf("New with a second state folder: %v (hint %q)", err, uploader.Hint(err))
	}
	if _, err := DryRun(context.Background(), other, &fakeSource{}, nil); !uploader.IsFatal(err) {
		t.Errorf("a dry run with a second state folder: %v", err)
	}
	// The first state folder is deleted: the other may take -out over.
	if err := os.RemoveAll(filepath.Join(e.out, ".hotfolder", JournalFile)); err != nil {
		t.Fatal(err)
	}
	p, err := New(other, &fakeSource{}, &fakeRemote{})
	if err != nil {
		t.Fatalf("New after the owner's journal is gone: %v", err)
	}
	p.Close()
	if _, err := New(e.config(1), &fakeSource{}, &fakeRemote{}); !uploader.IsFatal(err) {
		t.Errorf("the old state folder came back and took -out from the new owner: %v", err)
	}
}

// The POST slots granted are journaled as they are granted, and the next
// run's limiter is told of them before it grants any.
func TestQuotaPacingIsJournaled(t *testing.T) {
	e := newEnv(t)
	q := &fakeQuota{}
	cfg := e.config(1)
	cfg.Quota = q
	at := clock().Add(-time.Second)
	r := &fakeRemote{SubmitFn: func(_ context.Context, src uploader.Upload) (uploader.Job, error) {
		q.grant("remove-background.post", at) // as the client's limiter would
		q.grant("remove-background.get", at)
		return uploader.Job{ID: src.Path}, nil
	}}
	p := e.pipeline(cfg, &fakeSource{files: []watcher.File{e.input("a.jpg", time.Hour)}}, r)
	sum, err := p.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Counted as spent: POST buckets only (GETs are not POSTs).
	if posts := p.Posts(); len(posts) != 1 || posts["remove-background.post"] != 1 || sum.Posts != 1 {
		t.Errorf("POSTs %v, %d in all; want remove-background.post 1", posts, sum.Posts)
	}
	p.Close()
	if q.fn != nil {
		t.Error("Close left the journal's callback on the limiter")
	}
	next := &fakeQuota{}
	cfg.Quota = next
	e.pipeline(cfg, &fakeSource{}, &fakeRemote{})
	if got := next.restored["remove-background.post"]; len(got) != 1 || !got[0].Equal(at) {
		t.Errorf("restored %v, want the one POST grant at %v", next.restored, at)
	}
	if _, ok := next.restored["remove-background.get"]; ok {
		t.Error("GET grants were journaled")
	}
	if day := clock().Format(time.DateOnly); next.spent[day] != 1 {
		t.Errorf("POSTs spent today, restored: %v, want 1 on %s", next.spent, day)
	}
}
