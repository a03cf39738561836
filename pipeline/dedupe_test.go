package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hotfolder/pipeline/journal"
	"hotfolder/uploader"
	"hotfolder/watcher"
)

// inputOf creates input rel holding content, dated age ago.
func (e *env) inputOf(rel, content string, age time.Duration) watcher.File {
	e.t.Helper()
	p := filepath.Join(e.in, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o666); err != nil {
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

// dedupeConfig is e's config with dedupe on and a recipe fingerprint.
func (e *env) dedupeConfig(workers int) Config {
	cfg := e.config(workers)
	cfg.Dedupe, cfg.Fingerprint = true, "recipe-png"
	return cfg
}

// readOutput returns output rel's bytes.
func (e *env) readOutput(rel string) string {
	e.t.Helper()
	b, err := os.ReadFile(e.outPath(rel))
	if err != nil {
		e.t.Fatalf("output %s: %v", rel, err)
	}
	return string(b)
}

// Six inputs of three contents, in different folders under other names:
// three jobs; every output is there, each copy identical to its original's;
// the copies are journaled as copies; a rerun submits nothing.
func TestDedupeOneJobPerContent(t *testing.T) {
	e := newEnv(t)
	files := []watcher.File{
		e.inputOf("a/x.jpg", "content A", time.Hour),
		e.inputOf("b/y.jpg", "content A", time.Hour),
		e.inputOf("c/deep/z.jpg", "content A", time.Hour),
		e.inputOf("d/w.jpg", "content B", time.Hour),
		e.inputOf("e/v.jpg", "content B", time.Hour),
		e.inputOf("f/u.jpg", "content C", time.Hour),
	}
	r := &fakeRemote{}
	sum, err := e.run(e.dedupeConfig(4), &fakeSource{files: files}, r)
	if err != nil {
		t.Fatal(err)
	}
	if n := r.n("Submit"); n != 3 {
		t.Errorf("%d jobs submitted, want 3 (one per content)", n)
	}
	if sum.Done != 6 || sum.Copies != 3 || sum.PostsSaved != 3 {
		t.Errorf("done %d, copies %d, POSTs saved %d; want 6, 3, 3", sum.Done, sum.Copies, sum.PostsSaved)
	}
	recs := e.journalRecords()
	byContent := map[string]string{}
	for _, f := range files {
		rec := recs[f.Rel]
		if rec.State != journal.Done {
			t.Fatalf("%s is %s, want done", f.Rel, rec.State)
		}
		got := e.readOutput(rec.Outputs[0])
		if want, ok := byContent[rec.SHA256]; ok && got != want {
			t.Errorf("%s's output %q differs from its original's %q", f.Rel, got, want)
		}
		byContent[rec.SHA256] = got
		if rec.CopyOf != "" && recs[rec.CopyOf].SHA256 != rec.SHA256 {
			t.Errorf("%s is journaled as a copy of %s, of other content", f.Rel, rec.CopyOf)
		}
	}
	if len(byContent) != 3 {
		t.Errorf("%d distinct contents journaled, want 3", len(byContent))
	}

	r2 := &fakeRemote{}
	sum, err = e.run(e.dedupeConfig(4), &fakeSource{files: files}, r2)
	if err != nil || r2.n("Submit") != 0 || sum.Skipped != 6 {
		t.Errorf("rerun: %d submitted, %d skipped, %v; want 0, 6", r2.n("Submit"), sum.Skipped, err)
	}

	// A seventh copy, dropped in next week, costs nothing either.
	late := e.inputOf("g/late.jpg", "content B", time.Hour)
	r3 := &fakeRemote{}
	sum, err = e.run(e.dedupeConfig(4), &fakeSource{files: append(files, late)}, r3)
	if err != nil || r3.n("Submit") != 0 || sum.Copies != 1 {
		t.Errorf("a late copy: %d submitted, %d copies, %v; want 0, 1", r3.n("Submit"), sum.Copies, err)
	}
	if rec := e.journalRecords()["g/late.jpg"]; rec.CopyOf == "" || e.readOutput(rec.Outputs[0]) != e.readOutput(recs[rec.CopyOf].Outputs[0]) {
		t.Errorf("the late copy's record %+v", rec)
	}
}

// With dedupe off, every input is paid for, as before.
func TestDedupeOff(t *testing.T) {
	e := newEnv(t)
	files := []watcher.File{e.inputOf("a.jpg", "same", time.Hour), e.inputOf("b.jpg", "same", time.Hour)}
	r := &fakeRemote{}
	cfg := e.dedupeConfig(2)
	cfg.Dedupe = false
	if _, err := e.run(cfg, &fakeSource{files: files}, r); err != nil {
		t.Fatal(err)
	}
	if n := r.n("Submit"); n != 2 {
		t.Errorf("%d submitted with dedupe off, want 2", n)
	}
}

// parkedBehind waits until n inputs are parked behind the flight of some
// content in p.
func parkedBehind(ctx context.Context, p *Pipeline, n int) error {
	for {
		p.index.mu.Lock()
		got := 0
		for _, fl := range p.index.flights {
			got += len(fl.followers)
		}
		p.index.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// holdFirstJob is a remote whose jobs wait until release is closed.
func holdJobs(release <-chan struct{}) *fakeRemote {
	return &fakeRemote{WaitFn: func(ctx context.Context, job uploader.Job) (uploader.Result, error) {
		select {
		case <-release:
			return uploader.Result{URL: job.ID, MediaType: "image/png"}, nil
		case <-ctx.Done():
			return uploader.Result{}, ctx.Err()
		}
	}}
}

// A copy taken while its original's job is running waits for it: one job
// in all, and the copy gets the original's output.
func TestDuplicateWaitsForItsOriginalInFlight(t *testing.T) {
	e := newEnv(t)
	files := []watcher.File{e.inputOf("first.jpg", "same", time.Hour), e.inputOf("later/second.jpg", "same", time.Hour)}
	release := make(chan struct{})
	r := holdJobs(release)
	p := e.pipeline(e.dedupeConfig(4), &fakeSource{files: files}, r)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		if parkedBehind(ctx, p, 1) == nil {
			close(release)
		}
	}()
	sum, err := p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := r.n("Submit"); n != 1 {
		t.Errorf("%d submitted, want 1", n)
	}
	if sum.Done != 2 || sum.Copies != 1 {
		t.Errorf("done %d, copies %d; want 2, 1", sum.Done, sum.Copies)
	}
	p.Close()
	recs := e.journalRecords()
	orig, cp := recs["first.jpg"], recs["later/second.jpg"]
	if orig.CopyOf == cp.CopyOf || (orig.CopyOf == "" && cp.CopyOf == "") {
		t.Fatalf("copy of: %q, %q; want exactly one copy", orig.CopyOf, cp.CopyOf)
	}
	if a, b := e.readOutput(orig.Outputs[0]), e.readOutput(cp.Outputs[0]); a != b {
		t.Errorf("outputs differ: %q, %q", a, b)
	}
}

// When the original's job fails, its copies fail with the same reason and
// no job of their own; -retry-failed takes them again together, for one
// job.
func TestCopiesShareTheOriginalsFailure(t *testing.T) {
	e := newEnv(t)
	files := []watcher.File{e.inputOf("a.jpg", "bad", time.Hour), e.inputOf("b.jpg", "bad", time.Hour), e.inputOf("c.jpg", "bad", time.Hour)}
	var mu sync.Mutex
	fail := true
	gate := make(chan struct{})
	r := &fakeRemote{WaitFn: func(ctx context.Context, job uploader.Job) (uploader.Result, error) {
		<-gate
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return uploader.Result{}, &uploader.JobFailedError{JobID: job.ID, Code: "400401", Message: "The value provided is not valid."}
		}
		return uploader.Result{URL: job.ID, MediaType: "image/png"}, nil
	}}
	p := e.pipeline(e.dedupeConfig(4), &fakeSource{files: files}, r)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		if parkedBehind(ctx, p, 2) == nil {
			close(gate)
		}
	}()
	sum, err := p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if r.n("Submit") != 1 || sum.Failed != 3 {
		t.Fatalf("%d submitted, %d failed; want 1, 3", r.n("Submit"), sum.Failed)
	}
	copies := 0
	for _, f := range sum.Failures {
		var se *sameContentError
		if errors.As(f.Err, &se) {
			copies++
			if !strings.Contains(f.Err.Error(), "The value provided is not valid") || f.Stage != StageProcess {
				t.Errorf("%s failed at %s with %v", f.Rel, f.Stage, f.Err)
			}
		}
	}
	if copies != 2 {
		t.Errorf("%d copies failed with their original's reason, want 2", copies)
	}

	// A rerun leaves them failed, paying nothing; with -retry-failed they
	// go again together.
	r2 := &fakeRemote{}
	if _, err := e.run(e.dedupeConfig(4), &fakeSource{files: files}, r2); err != nil || r2.n("Submit") != 0 {
		t.Errorf("rerun: %d submitted, %v; want 0", r2.n("Submit"), err)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	r3 := &fakeRemote{}
	cfg := e.dedupeConfig(4)
	cfg.RetryFailed = true
	sum, err = e.run(cfg, &fakeSource{files: files}, r3)
	if err != nil || r3.n("Submit") != 1 || sum.Done != 3 {
		t.Errorf("-retry-failed: %d submitted, %d done, %v; want 1, 3", r3.n("Submit"), sum.Done, err)
	}
}

// A new copy of content whose job failed in an earlier run fails the same
// way without a job: a failed job is never paid for again by itself.
func TestNewCopyOfFailedContentCostsNothing(t *testing.T) {
	e := newEnv(t)
	a := e.inputOf("a.jpg", "bad", time.Hour)
	r := &fakeRemote{WaitFn: func(ctx context.Context, job uploader.Job) (uploader.Result, error) {
		return uploader.Result{}, &uploader.JobFailedError{JobID: job.ID, Message: "no subject found"}
	}}
	if _, err := e.run(e.dedupeConfig(2), &fakeSource{files: []watcher.File{a}}, r); err != nil {
		t.Fatal(err)
	}
	b := e.inputOf("b.jpg", "bad", time.Hour)
	r2 := &fakeRemote{}
	sum, err := e.run(e.dedupeConfig(2), &fakeSource{files: []watcher.File{a, b}}, r2)
	if err != nil || r2.n("Submit") != 0 || sum.Failed != 1 {
		t.Fatalf("%d submitted, %d failed, %v; want 0, 1", r2.n("Submit"), sum.Failed, err)
	}
	if msg := sum.Failures[0].Err.Error(); !strings.Contains(msg, "in an earlier run") || !strings.Contains(msg, "no subject found") {
		t.Errorf("the copy failed with %q", msg)
	}
}

// An original that fails for a reason of its own file (deleted while it
// was being uploaded) does not fail its copies: the next one leads.
func TestCopyLeadsWhenTheOriginalFailsForItsOwnReason(t *testing.T) {
	e := newEnv(t)
	files := []watcher.File{e.inputOf("gone.jpg", "same", time.Hour), e.inputOf("kept.jpg", "same", time.Hour)}
	gate, uploading := make(chan struct{}), make(chan struct{})
	var p *Pipeline
	r := &fakeRemote{UploadFn: func(ctx context.Context, path string) (uploader.Upload, error) {
		if filepath.Base(path) == "gone.jpg" {
			close(uploading)
			<-gate
			return uploader.Upload{}, errors.New("storage refused the upload")
		}
		return uploader.Upload{Path: path, Key: "in/" + path, URL: "https://storage.test/in/" + path}, nil
	}, CheckFn: func(ctx context.Context, path string) error {
		if filepath.Base(path) == "kept.jpg" {
			<-uploading // gone.jpg leads
		}
		return nil
	}}
	p = e.pipeline(e.dedupeConfig(4), &fakeSource{files: files}, r)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		if parkedBehind(ctx, p, 1) == nil {
			close(gate)
		}
	}()
	sum, err := p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 1 || sum.Failed != 1 || r.n("Submit") != 1 {
		t.Errorf("done %d, failed %d, submitted %d; want 1, 1, 1", sum.Done, sum.Failed, r.n("Submit"))
	}
	p.Close()
	if rec := e.journalRecords()["kept.jpg"]; rec.State != journal.Done || rec.CopyOf != "" {
		t.Errorf("kept.jpg: %s, copy of %q; want done by its own job", rec.State, rec.CopyOf)
	}
}

// A run killed while an original's job is running and its copy waits:
// the next run, taking the copy first, still pays for nothing. The copy
// waits for the original, which resumes its job.
func TestCopyWaitsForAResumedJobAfterAKill(t *testing.T) {
	e := newEnv(t)
	orig, cp := e.inputOf("orig.jpg", "same", time.Hour), e.inputOf("copy.jpg", "same", time.Hour)
	waiting := make(chan struct{})
	var once sync.Once
	r := &fakeRemote{WaitFn: func(ctx context.Context, job uploader.Job) (uploader.Result, error) {
		once.Do(func() { close(waiting) })
		<-ctx.Done() // never done: the run is killed
		return uploader.Result{}, ctx.Err()
	}}
	p := e.pipeline(e.dedupeConfig(4), &fakeSource{files: []watcher.File{orig, cp}}, r)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	go func() {
		if parkedBehind(ctx, p, 1) == nil {
			<-waiting
			cancel()
		}
	}()
	if _, err := p.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("killed run: %v", err)
	}
	cancel()
	p.Close()
	// Either may have led: the one whose job is journaled.
	recs := e.journalRecords()
	leader, follower := orig, cp
	if recs[cp.Rel].State == journal.Submitted {
		leader, follower = cp, orig
	}
	if st := recs[leader.Rel].State; st != journal.Submitted {
		t.Fatalf("neither input's job is journaled after the kill: %s is %s", leader.Rel, st)
	}

	r2 := &fakeRemote{}
	sum, err := e.run(e.dedupeConfig(4), &fakeSource{files: []watcher.File{follower, leader}}, r2)
	if err != nil {
		t.Fatal(err)
	}
	if r2.n("Submit") != 0 || sum.Done != 2 || sum.Resumed != 1 {
		t.Errorf("after the kill: %d submitted, %d done, %d resumed; want 0, 2, 1", r2.n("Submit"), sum.Done, sum.Resumed)
	}
	if rec := e.journalRecords()[follower.Rel]; rec.CopyOf != leader.Rel {
		t.Errorf("%s is a copy of %q, want %s", follower.Rel, rec.CopyOf, leader.Rel)
	}
}

// A touched input (same bytes, new time) is not new work; new bytes of the
// same size are.
func TestTouchedInputIsNotNewWork(t *testing.T) {
	e := newEnv(t)
	var files []watcher.File
	for _, name := range []string{"a.jpg", "b.jpg", "c.jpg"} {
		files = append(files, e.inputOf(name, "content of "+name, time.Hour))
	}
	if _, err := e.run(e.dedupeConfig(2), &fakeSource{files: files}, &fakeRemote{}); err != nil {
		t.Fatal(err)
	}
	touched := make([]watcher.File, len(files))
	for i, f := range files {
		now := time.Now().Truncate(time.Second)
		if err := os.Chtimes(f.Path, now, now); err != nil {
			t.Fatal(err)
		}
		touched[i] = f
		touched[i].ModTime = now
	}
	// c.jpg's bytes change, its size does not.
	if err := os.WriteFile(files[2].Path, []byte("content of C.JPG"), 0o666); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(files[2].Path)
	touched[2].ModTime = fi.ModTime()
	r := &fakeRemote{}
	sum, err := e.run(e.dedupeConfig(2), &fakeSource{files: touched}, r)
	if err != nil {
		t.Fatal(err)
	}
	if r.n("Submit") != 1 || sum.Skipped != 2 || sum.Done != 1 {
		t.Errorf("%d submitted, %d skipped, %d done; want 1 (c.jpg), 2, 1", r.n("Submit"), sum.Skipped, sum.Done)
	}
	if rec := e.journalRecords()["a.jpg"]; !rec.ModTime.Equal(touched[0].ModTime) {
		t.Errorf("a.jpg's record keeps time %v, want the new %v", rec.ModTime, touched[0].ModTime)
	}
}

// A dry run with dedupe counts a copy as no POST, and names its original.
func TestDryRunCountsCopies(t *testing.T) {
	e := newEnv(t)
	files := []watcher.File{e.inputOf("a.jpg", "same", time.Hour), e.inputOf("b.jpg", "other", time.Hour),
		e.inputOf("sub/c.jpg", "same", time.Hour)}
	plan, err := DryRun(context.Background(), e.dedupeConfig(1), &fakeSource{files: files},
		func(context.Context, uploader.Step, string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, f := range plan.Files {
		actions = append(actions, f.Action+":"+f.Reason)
	}
	if got := strings.Join(actions, " "); got != "process: process: copy:a.jpg" {
		t.Errorf("plan %s", got)
	}
	if n := plan.Posts["remove-background.post"]; n != 2 {
		t.Errorf("%d POSTs planned, want 2", n)
	}
}

// A copy whose original's output was edited since is processed itself:
// copies are checked against the hash the journal holds.
func TestCopyOfAnEditedOutputIsProcessed(t *testing.T) {
	e := newEnv(t)
	a := e.inputOf("a.jpg", "same", time.Hour)
	if _, err := e.run(e.dedupeConfig(2), &fakeSource{files: []watcher.File{a}}, &fakeRemote{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.outPath("a.png"), []byte("retouched by hand"), 0o666); err != nil {
		t.Fatal(err)
	}
	b := e.inputOf("b.jpg", "same", time.Hour)
	r := &fakeRemote{}
	if _, err := e.run(e.dedupeConfig(2), &fakeSource{files: []watcher.File{b}}, r); err != nil {
		t.Fatal(err)
	}
	if r.n("Submit") != 1 {
		t.Errorf("%d submitted, want 1", r.n("Submit"))
	}
	if rec := e.journalRecords()["b.jpg"]; rec.State != journal.Done || rec.CopyOf != "" {
		t.Errorf("b.jpg: %s, copy of %q; want done by its own job", rec.State, rec.CopyOf)
	}
	e.wantContent("a.png", []byte("retouched by hand"))
}
