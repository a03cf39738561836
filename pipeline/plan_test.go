package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"hotfolder/ratelimit"
	"hotfolder/uploader"
	"hotfolder/watcher"
)

// A dry run says what a run would do with each input and writes nothing.
func TestDryRun(t *testing.T) {
	e := newEnv(t)
	done, failed := e.input("done.jpg", time.Hour), e.input("failed.jpg", time.Hour)
	refuse := func(_ context.Context, src uploader.Upload) (uploader.Job, error) {
		if strings.HasSuffix(src.Path, "failed.jpg") {
			return uploader.Job{}, &uploader.APIError{Op: "submit", StatusCode: 400, Message: "bad input"}
		}
		return uploader.Job{ID: src.Path, Op: "remove-background"}, nil
	}
	if _, err := e.run(e.config(1), &fakeSource{files: []watcher.File{done, failed}}, &fakeRemote{SubmitFn: refuse}); err != nil {
		t.Fatal(err)
	}
	inflight := e.input("inflight.jpg", time.Hour)
	abortInWait(t, e, []watcher.File{inflight}, 1)
	fresh, bad, clash := e.input("new.jpg", time.Hour), e.input("bad.jpg", time.Hour), e.input("done.png", time.Hour)

	state := filepath.Join(e.out, ".hotfolder")
	before := snapshot(t, state)
	check := func(_ context.Context, _ uploader.Step, path string) error {
		if strings.HasSuffix(path, "bad.jpg") {
			return errors.New("validate: the file is empty")
		}
		return nil
	}
	files := []watcher.File{done, failed, inflight, fresh, bad, clash}
	plan, err := DryRun(context.Background(), e.config(1), &fakeSource{files: files}, check)
	if err != nil {
		t.Fatal(err)
	}
	want := []Planned{
		{Rel: "done.jpg", Outputs: []string{"done.png"}, Action: PlanDone},
		{Rel: "failed.jpg", Outputs: []string{"failed.png"}, Action: PlanFailed, Reason: "submit: submit: HTTP 400: bad input"},
		{Rel: "inflight.jpg", Outputs: []string{"inflight.png"}, Action: PlanResume, Poll: true},
		{Rel: "new.jpg", Outputs: []string{"new.png"}, Action: PlanProcess},
		{Rel: "bad.jpg", Outputs: []string{"bad.png"}, Action: PlanRejected, Reason: "validate: the file is empty"},
		{Rel: "done.png", Outputs: []string{"done.png.png"}, Action: PlanProcess},
	}
	if len(plan.Files) != len(want) {
		t.Fatalf("plan %+v, want %+v", plan.Files, want)
	}
	for i, w := range want {
		if got := plan.Files[i]; got.Rel != w.Rel || !slices.Equal(got.Outputs, w.Outputs) || got.Action != w.Action || got.Step != w.Step || got.Poll != w.Poll ||
			(w.Reason != "" && !strings.Contains(got.Reason, strings.SplitN(w.Reason, ":", 2)[0])) {
			t.Errorf("file %d: %+v, want %+v", i, got, w)
		}
	}
	// Two to process; the job in flight is paid for already, and it was
	// the only step.
	if got := plan.Posts; len(got) != 1 || got[ratelimit.RemoveBackgroundPost] != 2 {
		t.Errorf("Posts = %v, want 2 on remove-background.post", got)
	}
	if after := snapshot(t, state); after != before {
		t.Errorf("the state folder changed in a dry run:\nbefore %s\nafter  %s", before, after)
	}
}

// snapshot describes every file in dir by name, size and modification time.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %s %d; ", d.Name(), fi.ModTime(), fi.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
