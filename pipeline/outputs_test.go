package pipeline

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"hotfolder/uploader"
	"hotfolder/watcher"
)

func TestOutputNames(t *testing.T) {
	tests := []struct {
		name string
		ext  string
		in   []string // in the order the source finds them
		want []string // output of each input
	}{
		{"plain", "png", []string{"a.jpg", "sub/b.tif"}, []string{"a.png", "sub/b.png"}},
		{"second input named in full", "png", []string{"a.jpg", "a.png"}, []string{"a.png", "a.png.png"}},
		{"order decides", "png", []string{"a.png", "a.webp"}, []string{"a.png", "a.webp.png"}},
		{"three of a kind", "png", []string{"a.jpg", "a.png", "a.webp"}, []string{"a.png", "a.png.png", "a.webp.png"}},
		{"full name taken too", "png", []string{"x.jpg", "x.png.jpg", "x.png"}, []string{"x.png", "x.png.png", "x.png-2.png"}},
		{"and again", "png", []string{"x.jpg", "x.png.jpg", "x.png-2.jpg", "x.png"}, []string{"x.png", "x.png.png", "x.png-2.png", "x.png-3.png"}},
		{"case-insensitive", "png", []string{"A.jpg", "a.jpg"}, []string{"A.png", "a.jpg.png"}},
		{"case-insensitive folders", "png", []string{"Dir/a.jpg", "dir/a.png"}, []string{"Dir/a.png", "dir/a.png.png"}},
		{"same name, other folder", "png", []string{"a.jpg", "sub/a.jpg"}, []string{"a.png", "sub/a.png"}},
		{"other format", "jpg", []string{"a.png", "a.jpg"}, []string{"a.jpg", "a.jpg.jpg"}},
		{"no extension", "png", []string{"README", "README.jpg"}, []string{"README.png", "README.jpg.png"}},
		{"dotted stem", "png", []string{"v1.2.final.tiff"}, []string{"v1.2.final.png"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var files []watcher.File
			for _, rel := range tc.in {
				files = append(files, e.input(rel, time.Hour))
			}
			cfg := e.config(4) // several workers: names must still follow the source's order
			cfg.Recipe = recipeFor(tc.ext)
			sum, err := e.run(cfg, &fakeSource{files: files}, &fakeRemote{})
			if err != nil || sum.Done != int64(len(files)) {
				t.Fatalf("Run = %+v, %v", sum.Stats, err)
			}
			for i, f := range files {
				e.wantContent(tc.want[i], result(f.Path))
			}
			want := slices.Sorted(slices.Values(tc.want))
			if got := e.outputs(); !slices.Equal(got, want) {
				t.Errorf("output folder holds %q, want %q", got, want)
			}
			var claims []claimLine
			for i := range tc.in {
				claims = append(claims, claimLine{Output: tc.want[i], Input: tc.in[i]})
			}
			if got := e.claims(); !slices.Equal(got, claims) {
				t.Errorf("claims file = %v, want %v", got, claims)
			}
		})
	}
}

// noRemote is a Remote that must not be called.
func noRemote(t *testing.T) *fakeRemote {
	fail := func(string) { t.Helper(); t.Error("remote called for an up-to-date input") }
	return &fakeRemote{
		CheckFn: func(context.Context, string) error { fail("Check"); return nil },
		UploadFn: func(context.Context, string) (uploader.Upload, error) {
			fail("Upload")
			return uploader.Upload{}, nil
		},
	}
}

func TestClaimsPersistAcrossRuns(t *testing.T) {
	e := newEnv(t)
	a, b := e.input("a.jpg", time.Hour), e.input("a.png", time.Hour)

	if _, err := e.run(e.config(2), &fakeSource{files: []watcher.File{a, b}}, &fakeRemote{}); err != nil {
		t.Fatal(err)
	}
	claims := e.claims()

	// Rerun: everything is up to date, so nothing is sent anywhere.
	r := noRemote(t)
	sum, err := e.run(e.config(2), &fakeSource{files: []watcher.File{b, a}}, r)
	if err != nil {
		t.Fatal(err)
	}
	if r.total() != 0 || sum.Skipped != 2 || sum.Done != 0 {
		t.Errorf("rerun = %+v with %d remote calls, want 2 skipped and none", sum.Stats, r.total())
	}
	if got := e.claims(); !slices.Equal(got, claims) {
		t.Errorf("claims changed on a rerun: %v, was %v", got, claims)
	}

	// Both inputs change and arrive in the other order: they keep their names.
	a, b = e.input("a.jpg", -time.Hour), e.input("a.png", -time.Hour)
	sum, err = e.run(e.config(2), &fakeSource{files: []watcher.File{b, a}}, &fakeRemote{})
	if err != nil || sum.Done != 2 {
		t.Fatalf("third run = %+v, %v", sum.Stats, err)
	}
	e.wantContent("a.png", result(a.Path))
	e.wantContent("a.png.png", result(b.Path))
	if got := e.claims(); !slices.Equal(got, claims) {
		t.Errorf("claims changed: %v, was %v", got, claims)
	}
}

func TestClaimsFormatChange(t *testing.T) {
	e := newEnv(t)
	a, b := e.input("a.jpg", time.Hour), e.input("a.png", time.Hour)
	if _, err := e.run(e.config(1), &fakeSource{files: []watcher.File{a, b}}, &fakeRemote{}); err != nil {
		t.Fatal(err)
	}
	// As JPEG each input claims a new name by the same rule, in this run's
	// order; A.jpg clashes with a.jpg and a.jpg.jpg regardless of case.
	cfg := e.config(1)
	cfg.Recipe = recipeFor("jpg")
	c := e.input("A.jpg", time.Hour)
	if _, err := e.run(cfg, &fakeSource{files: []watcher.File{b, a, c}}, &fakeRemote{}); err != nil {
		t.Fatal(err)
	}
	e.wantContent("a.jpg", result(b.Path))
	e.wantContent("a.jpg.jpg", result(a.Path))
	e.wantContent("A.jpg-2.jpg", result(c.Path))
	want := []string{"A.jpg-2.jpg", "a.jpg", "a.jpg.jpg", "a.png", "a.png.png"}
	if got := e.outputs(); !slices.Equal(got, want) {
		t.Errorf("output folder holds %q, want %q", got, want)
	}
}

func TestClaimsTruncatedLastLine(t *testing.T) {
	tests := []struct {
		name, tail string
		keep       int  // claims kept from the file
		warn       bool // whether the damage is logged
	}{
		{"cut mid-line", `{"output":"b.png","inp`, 1, true},
		{"cut before the newline", `{"output":"b.png","input":"b.png"}`, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			state := filepath.Join(e.out, ".hotfolder")
			if err := os.MkdirAll(state, 0o777); err != nil {
				t.Fatal(err)
			}
			old := `{"output":"a.png","input":"a.png"}` + "\n" + tc.tail
			if err := os.WriteFile(filepath.Join(state, claimsFile), []byte(old), 0o666); err != nil {
				t.Fatal(err)
			}
			a, b := e.input("a.jpg", time.Hour), e.input("a.png", time.Hour)
			sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{a, b}}, &fakeRemote{})
			if err != nil || sum.Done != 2 {
				t.Fatalf("Run = %+v, %v", sum.Stats, err)
			}
			// a.png keeps the name claimed before the crash.
			e.wantContent("a.png", result(b.Path))
			e.wantContent("a.jpg.png", result(a.Path))
			got := e.claims() // fails on any line that is not JSON but the skipped one
			if len(got) != tc.keep+1 || got[len(got)-1] != (claimLine{Output: "a.jpg.png", Input: "a.jpg"}) {
				t.Errorf("claims file = %v, want %d old claims and a.jpg's", got, tc.keep)
			}
			if strings.Contains(e.log.String(), "truncated last line") != tc.warn {
				t.Errorf("want warning %v in the log:\n%s", tc.warn, e.log)
			}
		})
	}
}

// A state folder that never had a journal adopts nothing: a file under an
// output's name, however new, is not taken for a result (it may be a text
// file, or another tool's); it is replaced atomically, and while the new
// result downloads the old file stays whole under its name.
func TestSkipRule(t *testing.T) {
	e := newEnv(t)
	old := []byte("earlier result")
	write := func(rel string, age time.Duration) {
		t.Helper()
		p := e.outPath(rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, old, 0o666); err != nil {
			t.Fatal(err)
		}
		mt := time.Now().Add(-age)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	// A file newer than its input, made by hand.
	fresh := e.input("fresh.jpg", 2*time.Hour)
	write("fresh.png", time.Hour)
	// An output older than its input: the input was edited since.
	stale := e.input("stale.jpg", time.Hour)
	write("stale.png", 2*time.Hour)

	r := &fakeRemote{}
	// While the new result downloads, the old one stays whole under its name.
	r.DownloadFn = func(_ context.Context, out uploader.Result, w io.WriteSeeker) (int64, error) {
		body := result(out.URL)
		n1, _ := w.Write(body[:3])
		if got, err := os.ReadFile(e.outPath("stale.png")); err != nil || !bytes.Equal(got, old) {
			t.Errorf("mid-download stale.png = %q, %v; want the earlier result", got, err)
		}
		n2, err := w.Write(body[3:])
		return int64(n1 + n2), err
	}
	sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{fresh, stale}}, r)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Skipped != 0 || sum.Done != 2 || r.n("Check") != 2 {
		t.Errorf("summary = %+v, checked %v; want both done", sum.Stats, r.checkedOn)
	}
	e.wantContent("fresh.png", result(fresh.Path))
	e.wantContent("stale.png", result(stale.Path))
	want := []claimLine{{Output: "fresh.png", Input: "fresh.jpg"}, {Output: "stale.png", Input: "stale.jpg"}}
	if got := e.claims(); !slices.Equal(got, want) {
		t.Errorf("claims = %v, want %v", got, want)
	}
	if got := e.outputs(); !slices.Equal(got, []string{"fresh.png", "stale.png"}) {
		t.Errorf("output folder holds %q", got)
	}
}

func TestClaimRejectsInputsIntoStateFolder(t *testing.T) {
	e := newEnv(t)
	f := e.input(".hotfolder/x.jpg", time.Hour)
	ok := e.input("ok.jpg", time.Hour)
	sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{f, ok}}, &fakeRemote{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 1 || len(sum.Failures) != 1 || sum.Failures[0].Stage != "check" {
		t.Errorf("summary = %+v %v, want .hotfolder/x.jpg failed at check", sum.Stats, sum.Failures)
	}
}

// Claims that could not be written to the claims file are not claims: the
// names stay free, in memory as on disk.
func TestClaimNotWrittenIsNotKept(t *testing.T) {
	root, state := t.TempDir(), filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(state, 0o777); err != nil {
		t.Fatal(err)
	}
	o, err := openOutputs(root, state, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	specs := []outSpec{{ext: "jpg"}, {suffix: "-800", ext: "jpg"}}
	if _, err := o.claim("a.png", specs[:1]); err != nil {
		t.Fatal(err)
	}
	o.f.Close() // every later write fails
	if outs, err := o.claim("a.png", specs); err == nil {
		t.Fatalf("claim with an unwritable claims file = %v, want an error", outs)
	}
	if _, ok := o.byOutput["a-800.jpg"]; ok || o.byInput[claimKey("a.png", "-800.jpg")] != "" {
		t.Error("the claim that was not written is kept in memory")
	}
	if o.byInput[claimKey("a.png", ".jpg")] != "a.jpg" {
		t.Error("the claim written earlier was lost")
	}
	o.f = nil // closed already
	o.close()
}
