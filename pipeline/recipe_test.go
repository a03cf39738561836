package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"hotfolder/pipeline/journal"
	"hotfolder/uploader"
	"hotfolder/watcher"
)

// Recipes of several steps on the fake remote: each step one job on the
// previous step's result, every output of the last written, and a stopped
// run going on at the step it reached.

// twoSteps is remove background, then a composite writing two JPEGs.
func twoSteps() uploader.Recipe {
	return uploader.Recipe{Steps: []uploader.Step{
		{Op: uploader.OpRemoveBackground, RemoveBackground: &uploader.RemoveBackground{Mode: "cutout"},
			Outputs: []uploader.Rendition{{Format: "png"}}},
		{Op: uploader.OpComposite, Composite: &uploader.Composite{},
			Outputs: []uploader.Rendition{{Format: "jpeg"}, {Format: "jpeg", MaxWidth: 800}}},
	}}
}

// recipeConfig is e's config with recipe r.
func recipeConfig(e *env, r uploader.Recipe, workers int) Config {
	cfg := e.config(workers)
	cfg.Recipe, cfg.Fingerprint = r, "test recipe"
	return cfg
}

// keptFiles lists the state folder's kept results.
func keptFiles(t *testing.T, e *env) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.out, ".hotfolder", stepsDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ents {
		names = append(names, d.Name())
	}
	return names
}

// Each step is one job, in order; a step that takes any URL gets the
// previous result's hosted URL, one that does not gets the kept result
// uploaded; every output of the last step is written, and the journal
// holds them all.
func TestRecipeRunsEveryStep(t *testing.T) {
	for _, tc := range []struct {
		name    string
		recipe  uploader.Recipe
		uploads int // per input
		outs    []string
	}{
		{"hosted URL", twoSteps(), 1, []string{"a-800.jpg", "a.jpg"}},
		{"re-upload", uploader.Recipe{Steps: []uploader.Step{
			{Op: uploader.OpComposite, Composite: &uploader.Composite{}, Outputs: []uploader.Rendition{{Format: "png"}}},
			{Op: uploader.OpRemoveBackground, RemoveBackground: &uploader.RemoveBackground{Mode: "cutout"},
				Outputs: []uploader.Rendition{{Format: "png"}}},
		}}, 2, []string{"a.png"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			a := e.input("a.jpg", time.Hour)
			r := &fakeRemote{}
			sum, err := e.run(recipeConfig(e, tc.recipe, 2), &fakeSource{files: []watcher.File{a}}, r)
			if err != nil || sum.Done != 1 {
				t.Fatalf("run = %+v, %v; want 1 done", sum.Stats, err)
			}
			var ops []string
			for _, s := range tc.recipe.Steps {
				ops = append(ops, s.Op)
			}
			if !slices.Equal(r.steps, ops) || r.n("Upload") != tc.uploads {
				t.Errorf("submitted %v with %d uploads, want %v with %d", r.steps, r.n("Upload"), ops, tc.uploads)
			}
			if got := e.outputs(); !slices.Equal(got, tc.outs) {
				t.Errorf("outputs %v, want %v", got, tc.outs)
			}
			rec := e.journalRecords()["a.jpg"]
			if rec.State != journal.Done || len(rec.OutputSHA256s) != len(tc.outs) || rec.Intermediate != "" {
				t.Errorf("journal: %+v, want done with %d hashes and no kept result", rec, len(tc.outs))
			}
			if k := keptFiles(t, e); len(k) != 0 {
				t.Errorf("kept results left in the state folder: %v", k)
			}
		})
	}
}

// stopAtStep2 runs a through twoSteps until its second job is submitted
// (and then waited for) or, with beforeSubmit, until just before that
// POST, then aborts as a kill would.
func stopAtStep2(t *testing.T, e *env, a watcher.File, beforeSubmit bool) *fakeRemote {
	t.Helper()
	reached := make(chan struct{})
	var once bool
	r := &fakeRemote{}
	r.SubmitStepFn = func(ctx context.Context, step uploader.Step, src string) (uploader.Job, error) {
		if step.Op == uploader.OpComposite && beforeSubmit {
			if !once {
				once = true
				close(reached)
			}
			<-ctx.Done()
			return uploader.Job{}, ctx.Err()
		}
		return uploader.Job{ID: src, Op: step.Op}, nil
	}
	r.WaitFn = func(ctx context.Context, job uploader.Job) (uploader.Result, error) {
		if job.Op == uploader.OpComposite {
			close(reached)
			<-ctx.Done()
			return uploader.Result{}, ctx.Err()
		}
		return uploader.Result{URL: job.ID, MediaType: "image/png"}, nil
	}
	p, err := New(recipeConfig(e, twoSteps(), 1), &fakeSource{files: []watcher.File{a}, hold: true}, r)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := p.Run(ctx); done <- err }()
	<-reached
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("aborted run: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return r
}

// A run stopped in the second step goes on there: the first step's job is
// not paid for again, whether the second was submitted (its job is
// polled) or not yet (the kept result is its input).
func TestRecipeResumesAtTheStepReached(t *testing.T) {
	for _, tc := range []struct {
		name         string
		beforeSubmit bool
		state        journal.State
		submits      []string // in the second run
	}{
		{"second job submitted", false, journal.Submitted, nil},
		{"before the second POST", true, journal.Queued, []string{uploader.OpComposite}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			a := e.input("a.jpg", time.Hour)
			stopAtStep2(t, e, a, tc.beforeSubmit)
			rec := e.journalRecords()["a.jpg"]
			if rec.State != tc.state || rec.Step != 1 || rec.Intermediate == "" {
				t.Fatalf("after the stop: %+v, want %s at step 2 with a kept result", rec, tc.state)
			}
			if k := keptFiles(t, e); !slices.Equal(k, []string{rec.Intermediate}) {
				t.Fatalf("kept results %v, want [%s]", k, rec.Intermediate)
			}

			r := &fakeRemote{}
			sum, err := e.run(recipeConfig(e, twoSteps(), 1), &fakeSource{files: []watcher.File{a}}, r)
			if err != nil || sum.Done != 1 || sum.Resumed != 1 {
				t.Fatalf("second run = %+v, %v; want 1 done, resumed", sum.Stats, err)
			}
			if !slices.Equal(r.steps, tc.submits) || r.n("Check") != 0 {
				t.Errorf("second run submitted %v after %d checks, want %v and no check", r.steps, r.n("Check"), tc.submits)
			}
			if got := e.outputs(); !slices.Equal(got, []string{"a-800.jpg", "a.jpg"}) {
				t.Errorf("outputs %v", got)
			}
			if k := keptFiles(t, e); len(k) != 0 {
				t.Errorf("kept results left: %v", k)
			}
		})
	}
}

// An input that starts over (an output deleted after it was done, or a
// failure at a later step taken again) starts at the first step: the
// kept result it would need is gone.
func TestRecipeStartsOverFromTheFirstStep(t *testing.T) {
	t.Run("output deleted", func(t *testing.T) {
		e := newEnv(t)
		a := e.input("a.jpg", time.Hour)
		if sum, err := e.run(recipeConfig(e, twoSteps(), 1), &fakeSource{files: []watcher.File{a}}, &fakeRemote{}); err != nil || sum.Done != 1 {
			t.Fatalf("first run = %+v, %v", sum.Stats, err)
		}
		if err := os.Remove(e.outPath("a-800.jpg")); err != nil {
			t.Fatal(err)
		}
		r := &fakeRemote{}
		sum, err := e.run(recipeConfig(e, twoSteps(), 1), &fakeSource{files: []watcher.File{a}}, r)
		if err != nil || sum.Done != 1 {
			t.Fatalf("second run = %+v, %v; want 1 done", sum.Stats, err)
		}
		if want := []string{uploader.OpRemoveBackground, uploader.OpComposite}; !slices.Equal(r.steps, want) {
			t.Errorf("second run submitted %v, want %v", r.steps, want)
		}
		if got := e.outputs(); !slices.Equal(got, []string{"a-800.jpg", "a.jpg"}) {
			t.Errorf("outputs %v", got)
		}
	})
	t.Run("failed at step 2, retried", func(t *testing.T) {
		e := newEnv(t)
		a := e.input("a.jpg", time.Hour)
		r := &fakeRemote{WaitFn: func(_ context.Context, job uploader.Job) (uploader.Result, error) {
			if job.Op == uploader.OpComposite {
				return uploader.Result{}, &uploader.JobFailedError{JobID: job.ID, Code: "400401", Message: "bad"}
			}
			return uploader.Result{URL: job.ID, MediaType: "image/png"}, nil
		}}
		sum, _ := e.run(recipeConfig(e, twoSteps(), 1), &fakeSource{files: []watcher.File{a}}, r)
		if sum.Failed != 1 {
			t.Fatalf("first run = %+v, want 1 failed", sum.Stats)
		}
		// The summary and hotfolder status say which step failed, and
		// which outputs the input lacks.
		at2 := StepInfo{Step: 2, Steps: 2, Op: uploader.OpComposite}
		if len(sum.Failures) != 1 || sum.Failures[0].StepInfo != at2 {
			t.Errorf("summary failures %+v, want one at %v", sum.Failures, at2)
		}
		st, err := ReadStatus(filepath.Join(e.out, ".hotfolder"), clock())
		if err != nil || len(st.Failures) != 1 || st.Failures[0].StepInfo != at2 ||
			!slices.Equal(st.Failures[0].Outputs, []string{"a.jpg", "a-800.jpg"}) {
			t.Errorf("status failures %+v, %v; want one at %v with both outputs", st.Failures, err, at2)
		}
		if rec := e.journalRecords()["a.jpg"]; rec.State != journal.Failed || rec.Step != 1 || rec.Intermediate != "" {
			t.Fatalf("after the failure: %+v, want failed at step 2, its kept result let go", rec)
		}
		if k := keptFiles(t, e); len(k) != 0 {
			t.Errorf("kept results left after a failure: %v", k)
		}
		cfg := recipeConfig(e, twoSteps(), 1)
		cfg.RetryFailed = true
		r = &fakeRemote{}
		sum, err = e.run(cfg, &fakeSource{files: []watcher.File{a}}, r)
		if err != nil || sum.Done != 1 {
			t.Fatalf("retry = %+v, %v; want 1 done", sum.Stats, err)
		}
		if want := []string{uploader.OpRemoveBackground, uploader.OpComposite}; !slices.Equal(r.steps, want) {
			t.Errorf("retry submitted %v, want %v", r.steps, want)
		}
		if !strings.Contains(e.log.String(), "failed") {
			t.Error("the failure was not logged")
		}
	})
}
