package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"hotfolder/pipeline/journal"
	"hotfolder/uploader"
	"hotfolder/watcher"
)

// clock is the fixed time the tests' Config.Now returns.
func clock() time.Time { return time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC) }

// env is an input folder, an output folder and a captured debug log.
type env struct {
	t       *testing.T
	in, out string
	log     *syncBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{t: t, in: t.TempDir(), out: filepath.Join(t.TempDir(), "out"), log: &syncBuffer{}}
}

// input creates the input file rel, last modified age ago (real time, as
// outputs are dated by the file system), and returns it as the watcher
// would.
func (e *env) input(rel string, age time.Duration) watcher.File {
	e.t.Helper()
	p := filepath.Join(e.in, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("input "+rel), 0o666); err != nil {
		e.t.Fatal(err)
	}
	mt := time.Now().Add(-age).Truncate(time.Second)
	if err := os.Chtimes(p, mt, mt); err != nil {
		e.t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		e.t.Fatal(err)
	}
	return watcher.File{Path: p, Rel: rel, Size: fi.Size(), ModTime: fi.ModTime()}
}

func (e *env) config(workers int) Config {
	return Config{
		In:      e.in,
		Out:     e.out,
		Recipe:  recipeFor("png"),
		Workers: workers,
		Logger:  slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:     clock,
	}
}

// pipeline makes a Pipeline that is closed when the test ends.
func (e *env) pipeline(cfg Config, src Source, r Remote) *Pipeline {
	e.t.Helper()
	p, err := New(cfg, src, r)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.t.Cleanup(func() { p.Close() })
	return p
}

// run makes a Pipeline, runs it to the end and closes it.
func (e *env) run(cfg Config, src Source, r Remote) (Summary, error) {
	e.t.Helper()
	p, err := New(cfg, src, r)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return p.Run(ctx)
}

// outPath is the file path of output rel.
func (e *env) outPath(rel string) string { return filepath.Join(e.out, filepath.FromSlash(rel)) }

// outputs returns every regular file under the output folder outside the
// state folder, slash-separated and relative, sorted.
func (e *env) outputs() []string {
	e.t.Helper()
	var got []string
	err := filepath.WalkDir(e.out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".hotfolder" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(e.out, p)
			got = append(got, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(got)
	return got
}

// wantContent checks that output rel holds want.
func (e *env) wantContent(rel string, want []byte) {
	e.t.Helper()
	got, err := os.ReadFile(e.outPath(rel))
	if err != nil {
		e.t.Errorf("output %s: %v", rel, err)
		return
	}
	if string(got) != string(want) {
		e.t.Errorf("output %s = %q, want %q", rel, got, want)
	}
}

// claims reads the claims file.
func (e *env) claims() []claimLine {
	e.t.Helper()
	f, err := os.Open(filepath.Join(e.out, ".hotfolder", claimsFile))
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	var cs []claimLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var c claimLine
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			e.t.Fatalf("claims file line %q: %v", sc.Text(), err)
		}
		cs = append(cs, c)
	}
	return cs
}

// journalRecords reads the journal of the default state folder; no run may
// be holding it.
func (e *env) journalRecords() map[string]journal.Record {
	e.t.Helper()
	j, err := journal.Open(filepath.Join(e.out, ".hotfolder", JournalFile), journal.Options{ReadOnly: true})
	if err != nil {
		e.t.Fatalf("open journal: %v", err)
	}
	defer j.Close()
	recs := map[string]journal.Record{}
	if err := j.Each(func(r journal.Record) error { recs[r.Rel] = r; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return recs
}

// journalStates counts the journal's records by state.
func (e *env) journalStates() map[journal.State]int {
	n := map[journal.State]int{}
	for _, r := range e.journalRecords() {
		n[r.State]++
	}
	return n
}

// recipeFor is the recipe of one remove background step writing the
// format of extension ext, as -format does.
func recipeFor(ext string) uploader.Recipe {
	format := map[string]string{"jpg": "jpeg"}[ext]
	if format == "" {
		format = ext
	}
	return uploader.Recipe{Steps: []uploader.Step{{
		Op:               uploader.OpRemoveBackground,
		RemoveBackground: &uploader.RemoveBackground{Mode: "cutout"},
		Outputs:          []uploader.Rendition{{Format: format}},
	}}}
}
