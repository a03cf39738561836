package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hotfolder/pipeline/journal"
	"hotfolder/uploader"
	"hotfolder/watcher"
)

func TestParseAction(t *testing.T) {
	for _, tc := range []struct {
		in          string
		allowDelete bool
		want        Action
		err         string
	}{
		{"keep", true, Keep, ""},
		{"move", false, Move, ""},
		{"delete", true, Delete, ""},
		{"delete", false, "", "want keep or move"},
		{"archive", true, "", "want keep, move or delete"},
	} {
		got, err := ParseAction(tc.in, tc.allowDelete)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseAction(%q, %v) = %q, %v; want %q, %q", tc.in, tc.allowDelete, got, err, tc.want, tc.err)
		}
	}
}

// Inputs are moved or deleted only once their outcome is in the journal,
// keeping their path below the hot folder, and never over another file.
func TestInputActions(t *testing.T) {
	failB := func(_ context.Context, src uploader.Upload) (uploader.Job, error) {
		if strings.HasSuffix(src.Path, "b.jpg") {
			return uploader.Job{}, &uploader.APIError{Op: "submit", StatusCode: 400}
		}
		return uploader.Job{ID: src.Path, Op: "remove-background"}, nil
	}
	t.Run("move", func(t *testing.T) {
		e := newEnv(t)
		a, b := e.input("sub/a.jpg", time.Hour), e.input("b.jpg", time.Hour)
		processed, failed := filepath.Join(t.TempDir(), "processed"), filepath.Join(t.TempDir(), "failed")
		write(t, filepath.Join(processed, "sub", "a.jpg"), "an older a.jpg")
		cfg := e.config(1)
		cfg.OnSuccess, cfg.OnFailure, cfg.ProcessedDir, cfg.FailedDir = Move, Move, processed, failed
		r := &fakeRemote{SubmitFn: failB}
		sum, err := e.run(cfg, &fakeSource{files: []watcher.File{a, b}}, r)
		if err != nil || sum.Done != 1 || sum.Failed != 1 {
			t.Fatalf("Run = %+v, %v", sum.Stats, err)
		}
		for from, to := range map[string]string{a.Path: filepath.Join(processed, "sub", "a-2.jpg"), b.Path: filepath.Join(failed, "b.jpg")} {
			if _, err := os.Stat(from); !os.IsNotExist(err) {
				t.Errorf("%s still in the hot folder", from)
			}
			if data, err := os.ReadFile(to); err != nil || !strings.HasPrefix(string(data), "input ") {
				t.Errorf("%s: %q, %v; want the moved input", to, data, err)
			}
		}
		if got, _ := os.ReadFile(filepath.Join(processed, "sub", "a.jpg")); string(got) != "an older a.jpg" {
			t.Errorf("the file already in processed/ was overwritten: %q", got)
		}
		recs := e.journalRecords()
		if recs["sub/a.jpg"].State != journal.Done || recs["b.jpg"].State != journal.Failed {
			t.Errorf("journal: %v, %v", recs["sub/a.jpg"].State, recs["b.jpg"].State)
		}
	})
	t.Run("delete", func(t *testing.T) {
		e := newEnv(t)
		a := e.input("a.jpg", time.Hour)
		cfg := e.config(1)
		cfg.OnSuccess = Delete
		if sum, err := e.run(cfg, &fakeSource{files: []watcher.File{a}}, &fakeRemote{}); err != nil || sum.Done != 1 {
			t.Fatalf("Run = %+v, %v", sum.Stats, err)
		}
		if _, err := os.Stat(a.Path); !os.IsNotExist(err) {
			t.Error("input not deleted")
		}
		e.wantContent("a.png", result(a.Path))
	})
	t.Run("finishes an interrupted move", func(t *testing.T) {
		e := newEnv(t)
		a := e.input("a.jpg", time.Hour)
		if _, err := e.run(e.config(1), &fakeSource{files: []watcher.File{a}}, &fakeRemote{}); err != nil {
			t.Fatal(err)
		}
		// Done, but still in the hot folder: the run was stopped before it
		// could move it, or ran with keep.
		cfg := e.config(1)
		cfg.OnSuccess, cfg.ProcessedDir = Move, filepath.Join(t.TempDir(), "processed")
		r := noRemote(t)
		if sum, err := e.run(cfg, &fakeSource{files: []watcher.File{a}}, r); err != nil || sum.Skipped != 1 {
			t.Fatalf("Run = %+v, %v", sum.Stats, err)
		}
		if _, err := os.Stat(filepath.Join(cfg.ProcessedDir, "a.jpg")); err != nil {
			t.Errorf("the done input was not moved: %v", err)
		}
	})
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o666); err != nil {
		t.Fatal(err)
	}
}
