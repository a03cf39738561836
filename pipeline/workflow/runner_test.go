package workflow

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hotfolder/pipeline"
	"hotfolder/ratelimit"
	"hotfolder/uploader"
	"hotfolder/watcher"
)

// dirSource hands on the files in a folder when it starts, then watches
// nothing more until ctx ends: a watcher in watch mode, minus the events.
type dirSource struct{ dir string }

func (s dirSource) Run(ctx context.Context, out chan<- watcher.File) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		f := watcher.File{Path: filepath.Join(s.dir, e.Name()), Rel: e.Name(), Size: info.Size(), ModTime: info.ModTime()}
		select {
		case out <- f:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

// api is a fake Photoshop API shared by the workflows: each submit waits
// for the workflow's quota handle and is counted per input; each job ends
// when gate is closed.
type api struct {
	gate chan struct{}

	mu      sync.Mutex
	submits map[string]int // by input path
	jobs    map[string]int // outputs of each job
	n       int
}

// remote is workflow w's client of the api.
type remote struct {
	a   *api
	lim uploader.Limiter
}

func (r remote) Check(context.Context, uploader.Step, string) error { return nil }
func (r remote) Upload(_ context.Context, path string) (uploader.Upload, error) {
	return uploader.Upload{Path: path, Key: path, URL: "mem://" + path}, nil
}
func (r remote) Submit(ctx context.Context, step uploader.Step, src string) (uploader.Job, error) {
	if err := r.lim.Wait(ctx, ratelimit.RemoveBackgroundPost); err != nil {
		return uploader.Job{}, err
	}
	r.a.mu.Lock()
	defer r.a.mu.Unlock()
	r.a.n++
	id := fmt.Sprintf("job%d", r.a.n)
	r.a.submits[src]++
	r.a.jobs[id] = len(step.Outputs)
	return uploader.Job{ID: id, Op: step.Op, Submitted: time.Now()}, nil
}
func (r remote) Wait(ctx context.Context, job uploader.Job) ([]uploader.Result, error) {
	select {
	case <-r.a.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r.a.mu.Lock()
	defer r.a.mu.Unlock()
	return make([]uploader.Result, r.a.jobs[job.ID]), nil
}
func (r remote) Download(_ context.Context, _ uploader.Result, w io.WriteSeeker) (int64, error) {
	n, err := io.WriteString(w, "result")
	return int64(n), err
}
func (r remote) Discard(context.Context, uploader.Upload) error { return nil }

func (a *api) submitted() (total int, by map[string]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	by = map[string]int{}
	for src, n := range a.submits {
		total += n
		by[src] = n
	}
	return total, by
}

// testWorkflow is a workflow on a new folder of n inputs, writing format.
func testWorkflow(t *testing.T, name string, n int, format string) Workflow {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("%s%d.jpg", name, i)), []byte("image"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := uploader.ParseRecipe([]byte(`{"steps":[{"op":"remove-background"}],"outputs":["`+format+`"]}`), "r.json")
	if err == nil {
		err = r.Normalize(dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	fp, err := r.Fingerprint()
	if err != nil {
		t.Fatal(err)
	}
	return Workflow{Name: name, Priority: DefaultPriority, In: in, Out: out, State: pipeline.StateDir(out),
		Recipe: r, Fingerprint: fp, Workers: 1, OnSuccess: pipeline.Move, OnFailure: pipeline.Keep,
		Processed: filepath.Join(dir, "processed"), Failed: filepath.Join(dir, "failed")}
}

func newTestRunner(a *api, stop <-chan struct{}) *Runner {
	set := ratelimit.New(ratelimit.Profile{ratelimit.RemoveBackgroundPost: {N: 50, Window: time.Second}}, ratelimit.Options{})
	return NewRunner(Env{
		Scheduler: ratelimit.NewScheduler(set, ratelimit.SchedulerOptions{}),
		Interval:  set.Interval,
		NewRemote: func(_ context.Context, _ Workflow, lim uploader.Limiter) (pipeline.Remote, func(), error) {
			return remote{a, lim}, func() {}, nil
		},
		NewSource: func(w Workflow) (pipeline.Source, error) { return dirSource{w.In}, nil },
		Stop:      stop,
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

func count(dir, pattern string) int {
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	return len(m)
}

// TestRunnerReload: a reload while every workflow has a job in flight.
// The removed workflow finishes its job and takes nothing new; the
// changed one finishes its job with the old recipe and gives the new one
// to the rest; the added one starts; the unchanged one is not restarted.
// Every input is submitted once.
func TestRunnerReload(t *testing.T) {
	a := &api{gate: make(chan struct{}), submits: map[string]int{}, jobs: map[string]int{}}
	keep, change, remove := testWorkflow(t, "k", 2, "png"), testWorkflow(t, "x", 3, "png"), testWorkflow(t, "r", 5, "png")
	stop := make(chan struct{})
	r := newTestRunner(a, stop)
	type ran struct {
		sum pipeline.Summary
		err error
	}
	done := make(chan ran, 1)
	go func() {
		sum, err := r.Run(t.Context(), []Workflow{keep, change, remove})
		done <- ran{sum, err}
	}()
	waitFor(t, "a job in flight in each workflow", func() bool { n, _ := a.submitted(); return n == 3 })

	changed := change
	changed.Recipe, changed.Fingerprint = testWorkflow(t, "x", 0, "jpeg").Recipe, testWorkflow(t, "x", 0, "jpeg").Fingerprint
	added := testWorkflow(t, "a", 2, "png")
	r.Reload([]Workflow{keep, changed, added})
	waitFor(t, "the removed workflow's and the changed one's runs to stop taking files", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.runs["r"] != nil && isClosed(r.runs["r"].retire) && len(r.pending) == 1
	})
	close(a.gate)
	waitFor(t, "the work", func() bool {
		return count(keep.Out, "*.png") == 2 && count(added.Out, "*.png") == 2 && count(change.Out, "*.png")+count(change.Out, "*.jpg") == 3
	})
	close(stop)
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	total, by := a.submitted()
	for src, n := range by {
		if n != 1 {
			t.Errorf("%s submitted %d times", src, n)
		}
	}
	if png, jpg := count(change.Out, "*.png"), count(change.Out, "*.jpg"); png != 1 || jpg != 2 {
		t.Errorf("changed workflow: %d png (old recipe), %d jpeg (new); want the job in flight finished as it was, 2 with the new recipe", png, jpg)
	}
	if done, left := count(remove.Out, "*.png"), count(remove.In, "*.jpg"); done != 1 || left != 4 {
		t.Errorf("removed workflow: %d done, %d left; want its job in flight done and nothing new taken", done, left)
	}
	if total != 2+3+1+2 || res.sum.Done != int64(total) {
		t.Errorf("%d submitted, %d done; want 8 of each", total, res.sum.Done)
	}
	parts := r.Parts()
	if len(parts) != 4 || parts[0].Name != "a" || parts[3].Name != "x" || parts[3].Stats.Done != 3 || parts[2].Running {
		t.Errorf("parts %+v", parts)
	}
}

// TestRunnerFatal: a workflow that cannot start stops the others, and Run
// says which.
func TestRunnerFatal(t *testing.T) {
	a := &api{gate: make(chan struct{}), submits: map[string]int{}, jobs: map[string]int{}}
	close(a.gate)
	good, bad := testWorkflow(t, "g", 1, "png"), testWorkflow(t, "b", 1, "png")
	bad.State = good.State // locked by good's pipeline
	r := newTestRunner(a, nil)
	_, err := r.Run(t.Context(), []Workflow{good, bad})
	if err == nil || !strings.Contains(err.Error(), "workflow b:") {
		t.Errorf("Run: %v, want an error naming workflow b", err)
	}
}

// The process's totals add up the workflows', the quota they spent and
// saved included (a summary with -config says POSTs as one folder does).
func TestAddStatsSumsTheQuota(t *testing.T) {
	a := pipeline.Stats{Found: 3, Done: 3, Copies: 1, Posts: 2, PostsSaved: 1, PerFile: time.Second}
	b := pipeline.Stats{Found: 5, Done: 4, Failed: 1, Posts: 5}
	got := addStats(a, b)
	if got.Found != 8 || got.Done != 7 || got.Failed != 1 || got.Copies != 1 || got.Posts != 7 || got.PostsSaved != 1 {
		t.Errorf("sum %+v", got)
	}
	if got.PerFile != 0 {
		t.Errorf("PerFile %v: the workflows share one quota, their paces do not add", got.PerFile)
	}
}
