package workflow

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"hotfolder/pipeline"
	"hotfolder/ratelimit"
	"hotfolder/uploader"
)

// Env is what a [Runner] makes each workflow's pipeline of, besides the
// workflow itself: the process's API, folders watcher and shared quota.
type Env struct {
	// Scheduler shares the process's quota among the workflows.
	Scheduler *ratelimit.Scheduler
	// Interval is the shared limiter's, for sizing a workflow's pool.
	Interval func(ratelimit.Bucket) time.Duration
	// NewRemote returns the API client of workflow w, pacing its requests
	// with lim, and a function releasing it once w's pipeline is done.
	NewRemote func(ctx context.Context, w Workflow, lim uploader.Limiter) (pipeline.Remote, func(), error)
	// NewSource returns what finds w's input files (a watcher of w.In).
	NewSource func(w Workflow) (pipeline.Source, error)
	// Stop, closed, makes every workflow take no new files and finish
	// those it took; nil = never.
	Stop   <-chan struct{}
	Logger *slog.Logger
	// Dedupe and KeepUploads are the pipelines' (pipeline.Config).
	Dedupe, KeepUploads bool
	// Observer, when set, hears every workflow's pipeline (pipeline.Config).
	Observer pipeline.Observer
}

// learner is a remote whose polling learns job durations
// (*uploader.Client with Config.JobTimes): its pipeline journals them.
type learner interface {
	JobTimes() *uploader.JobTimes
}

// A Runner runs one pipeline per workflow in one process, and reloads
// them: see [Runner.Run] and [Runner.Reload].
type Runner struct {
	env    Env
	reload chan []Workflow

	mu      sync.Mutex
	runs    map[string]*run             // the pipeline of each workflow, running or retiring
	pending []Workflow                  // to start once no run they collide with is left (see collides)
	ended   map[string]pipeline.Summary // the summaries of runs that ended, by workflow
	known   map[string]Workflow         // the latest of each workflow started
}

// run is one workflow's pipeline.
type run struct {
	w        Workflow
	p        *pipeline.Pipeline
	retire   chan struct{} // closed by a reload: take no new files
	stopOnce sync.Once
}

func (r *run) stop() { r.stopOnce.Do(func() { close(r.retire) }) }

// result is a run that ended.
type result struct {
	r   *run
	sum pipeline.Summary
	err error
}

// NewRunner returns a Runner in env.
func NewRunner(env Env) *Runner {
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{env: env, reload: make(chan []Workflow, 1), runs: map[string]*run{},
		ended: map[string]pipeline.Summary{}, known: map[string]Workflow{}}
}

// Run starts every workflow of ws and returns when all have ended: in
// watch mode once Env.Stop is closed (or ctx is done), with -once when
// each has finished its folder. A workflow that cannot start, or a fatal
// error in one (bad credentials), stops them all and is returned. The
// summary adds up every workflow's.
func (r *Runner) Run(ctx context.Context, ws []Workflow) (pipeline.Summary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan result)
	var wg sync.WaitGroup
	defer wg.Wait()
	var fatal error
	for _, w := range ws {
		if err := r.start(ctx, w, results, &wg); err != nil {
			fatal = fmt.Errorf("workflow %s: %w", w.Name, err)
			break
		}
	}
	if fatal != nil {
		r.stopAll()
	}
	for r.active() > 0 {
		select {
		case ws := <-r.reload:
			if fatal == nil {
				r.apply(ctx, ws, results, &wg)
			}
		case res := <-results:
			if err := r.ended1(ctx, res, results, &wg); err != nil && fatal == nil {
				fatal = err
				r.stopAll()
				if uploader.IsFatal(err) {
					cancel()
				}
			}
		}
	}
	return r.Summary(), fatal
}

// active is the number of runs not ended.
func (r *Runner) active() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runs)
}

func (r *Runner) stopAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = nil
	for _, x := range r.runs {
		x.stop()
	}
}

// start makes w's pipeline and runs it; its result comes on results.
func (r *Runner) start(ctx context.Context, w Workflow, results chan<- result, wg *sync.WaitGroup) error {
	h := r.env.Scheduler.For(w.Name, w.Priority)
	remote, release, err := r.env.NewRemote(ctx, w, h)
	if err != nil {
		return err
	}
	src, err := r.env.NewSource(w)
	if err != nil {
		release()
		return err
	}
	x := &run{w: w, retire: make(chan struct{})}
	log := r.env.Logger.With("workflow", w.Name)
	pcfg := pipeline.Config{
		In: w.In, Out: w.Out, State: w.State, Recipe: w.Recipe, Fingerprint: w.Fingerprint,
		Workers: r.workers(w), Stop: x.retire, Logger: log, Quota: h,
		RetryFailed: w.RetryFailed, OnSuccess: w.OnSuccess, OnFailure: w.OnFailure,
		ProcessedDir: w.Processed, FailedDir: w.Failed,
		Dedupe: r.env.Dedupe, KeepUploads: r.env.KeepUploads, PerFile: r.perFile(w), Observer: r.env.Observer,
	}
	if l, ok := remote.(learner); ok && l.JobTimes() != nil {
		pcfg.JobTimes = l.JobTimes()
	}
	x.p, err = pipeline.New(pcfg, src, remote)
	if err != nil {
		release()
		return err
	}
	r.mu.Lock()
	r.runs[w.Name] = x
	r.known[w.Name] = w
	r.mu.Unlock()
	log.Info("workflow started", "in", w.In, "out", w.Out, "priority", w.Priority, "steps", len(w.Recipe.Steps))
	wg.Go(func() {
		done := make(chan struct{})
		go func() {
			select {
			case <-r.env.Stop:
				x.stop()
			case <-done:
			}
		}()
		sum, err := x.p.Run(ctx)
		close(done)
		if cerr := x.p.Close(); err == nil && cerr != nil {
			err = cerr
		}
		release()
		results <- result{x, sum, err}
	})
	return nil
}

// workers is w's pool: its own, else enough that the busiest POST bucket
// of its recipe, not the pool, sets its pace.
func (r *Runner) workers(w Workflow) int {
	if w.Workers > 0 {
		return w.Workers
	}
	return pipeline.WorkersFor(r.perFile(w) / time.Duration(len(w.Recipe.Steps)))
}

// perFile is the least time between two of w's files on its recipe's
// busiest bucket, at the shared limits.
func (r *Runner) perFile(w Workflow) time.Duration {
	var d time.Duration
	for b, n := range uploader.Posts(w.Recipe.Steps) {
		d = max(d, time.Duration(n)*r.env.Interval(b))
	}
	return d
}

// ended1 records a run that ended and starts the workflows that waited
// for it (a changed workflow's new version). A run's error is returned.
func (r *Runner) ended1(ctx context.Context, res result, results chan<- result, wg *sync.WaitGroup) error {
	w := res.r.w
	r.mu.Lock()
	if r.runs[w.Name] == res.r {
		delete(r.runs, w.Name)
	}
	total := res.sum
	if earlier, ok := r.ended[w.Name]; ok {
		total = Add(earlier, res.sum)
	}
	r.ended[w.Name] = total
	r.mu.Unlock()
	if res.err != nil {
		return fmt.Errorf("workflow %s: %w", w.Name, res.err)
	}
	r.env.Logger.Info("workflow ended", "workflow", w.Name, "done", res.sum.Done, "failed", res.sum.Failed, "pending", res.sum.Pending)
	r.startPending(ctx, results, wg)
	return nil
}

// Reload replaces the running workflows with ws (a config read again):
// a workflow not in ws finishes the files it took and takes no new ones;
// a changed one does the same, then starts again as ws has it, so its new
// recipe applies to the files found after the reload; a new one starts.
// Unchanged workflows go on untouched. It returns at once; Run does the
// work. A Reload before Run, or after it returned, does nothing.
func (r *Runner) Reload(ws []Workflow) {
	select {
	case <-r.reload: // a newer config replaces one not applied yet
	default:
	}
	r.reload <- ws
}

// ReloadFile reads the config file at path again and reloads its
// workflows; a file with mistakes is logged, with their lines, and changes
// nothing. The global settings are those of started, the file the process
// started with: a change to them is logged, and waits for a restart.
func (r *Runner) ReloadFile(path string, started File) {
	c, err := Load(path)
	if err != nil {
		r.env.Logger.Error("reload: the config file has mistakes; the workflows go on as they were", "error", err)
		return
	}
	now := c.File
	now.Workflows, started.Workflows = nil, nil
	if !reflect.DeepEqual(now, started) {
		r.env.Logger.Warn("reload: the global settings changed; they take effect when hotfolder is restarted")
	}
	r.Reload(c.Workflows)
}

// apply carries out a reload.
func (r *Runner) apply(ctx context.Context, ws []Workflow, results chan<- result, wg *sync.WaitGroup) {
	if isClosed(r.env.Stop) {
		r.env.Logger.Warn("reload ignored: the run is stopping")
		return
	}
	var added, changed, removed, same []string
	want := map[string]Workflow{}
	for _, w := range ws {
		want[w.Name] = w
	}
	r.mu.Lock()
	r.pending = nil // what an earlier reload left waiting is this one's to say
	for _, name := range slices.Sorted(maps.Keys(r.runs)) {
		x := r.runs[name]
		w, keep := want[name]
		switch {
		case !keep:
			removed = append(removed, name)
			x.stop()
		case w.Same(x.w) && !isClosed(x.retire):
			same = append(same, name)
		default:
			changed = append(changed, name)
			x.stop()
			r.pending = append(r.pending, w) // once x has ended
		}
	}
	for _, w := range ws {
		if _, running := r.runs[w.Name]; !running {
			added = append(added, w.Name)
			r.pending = append(r.pending, w)
		}
	}
	r.mu.Unlock()
	r.env.Logger.Info("config reloaded", "added", strings.Join(added, ","), "changed", strings.Join(changed, ","),
		"removed", strings.Join(removed, ","), "unchanged", strings.Join(same, ","))
	r.startPending(ctx, results, wg)
}

// startPending starts the pending workflows that no run collides with
// any more.
func (r *Runner) startPending(ctx context.Context, results chan<- result, wg *sync.WaitGroup) {
	if isClosed(r.env.Stop) {
		return
	}
	r.mu.Lock()
	var ready []Workflow
	r.pending = slices.DeleteFunc(r.pending, func(w Workflow) bool {
		for _, x := range r.runs {
			if collides(w, x.w) {
				return false
			}
		}
		ready = append(ready, w)
		return true
	})
	r.mu.Unlock()
	for _, w := range ready {
		if err := r.start(ctx, w, results, wg); err != nil {
			r.env.Logger.Error("reload: the workflow cannot start; it stays stopped", "workflow", w.Name, "error", err)
		}
	}
}

// collides reports whether w cannot run beside a: the same name, state
// folder (its lock) or hot folder. A changed or renamed workflow waits
// until its earlier version has finished what it took.
func collides(w, a Workflow) bool {
	return w.Name == a.Name || w.State == a.State || w.In == a.In || within(w.In, a.In) || within(a.In, w.In)
}

// Stats adds up every workflow's counters: those running and those that
// ended.
func (r *Runner) Stats() pipeline.Stats {
	var total pipeline.Stats
	for _, st := range r.StatsBy() {
		total = addStats(total, st)
	}
	return total
}

// StatsBy is each workflow's counters, its earlier runs (before a reload
// changed it) included.
func (r *Runner) StatsBy() map[string]pipeline.Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]pipeline.Stats{}
	for name, sum := range r.ended {
		out[name] = sum.Stats
	}
	for name, x := range r.runs {
		out[name] = addStats(out[name], x.p.Stats())
	}
	return out
}

// Part is one workflow's share of the run.
type Part struct {
	Name     string
	Priority int
	Running  bool // false once removed by a reload, or done (-once)
	Stats    pipeline.Stats
}

// Parts is every workflow started so far, by name: running or not, its
// counters with those of its earlier runs (before a reload changed it).
func (r *Runner) Parts() []Part {
	by := r.StatsBy()
	r.mu.Lock()
	defer r.mu.Unlock()
	var parts []Part
	for _, name := range slices.Sorted(maps.Keys(r.known)) {
		_, running := r.runs[name]
		parts = append(parts, Part{Name: name, Priority: r.known[name].Priority, Running: running, Stats: by[name]})
	}
	return parts
}

// Summary adds up the summaries of the runs that ended.
func (r *Runner) Summary() pipeline.Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	total := pipeline.Summary{Searched: true}
	for _, name := range slices.Sorted(maps.Keys(r.ended)) {
		total = Add(total, r.ended[name])
	}
	return total
}

// SummaryBy is each workflow's summary, of the runs that ended.
func (r *Runner) SummaryBy() map[string]pipeline.Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.ended)
}

// Add adds two summaries: counters summed, failures listed one after the
// other, Searched only if both searched everything.
func Add(a, b pipeline.Summary) pipeline.Summary {
	return pipeline.Summary{
		Stats:    addStats(a.Stats, b.Stats),
		Failures: append(slices.Clip(a.Failures), b.Failures...),
		Pending:  a.Pending + b.Pending,
		Searched: a.Searched && b.Searched,
	}
}

func addStats(a, b pipeline.Stats) pipeline.Stats {
	first := func(x, y time.Time) time.Time {
		if x.IsZero() || (!y.IsZero() && y.Before(x)) {
			return y
		}
		return x
	}
	last := func(x, y time.Time) time.Time {
		if y.After(x) {
			return y
		}
		return x
	}
	return pipeline.Stats{
		Started: first(a.Started, b.Started),
		Found:   a.Found + b.Found, Skipped: a.Skipped + b.Skipped, Active: a.Active + b.Active,
		Done: a.Done + b.Done, Failed: a.Failed + b.Failed,
		Uploaded: a.Uploaded + b.Uploaded, Downloaded: a.Downloaded + b.Downloaded,
		Resumed: a.Resumed + b.Resumed, FailedEarlier: a.FailedEarlier + b.FailedEarlier,
		Copies: a.Copies + b.Copies, Posts: a.Posts + b.Posts, PostsSaved: a.PostsSaved + b.PostsSaved,
		// PerFile is left out: the workflows share one quota, so their
		// paces do not add up.
		LastDone: last(a.LastDone, b.LastDone), LastSuccess: last(a.LastSuccess, b.LastSuccess),
		Halted: cmp.Or(a.Halted, b.Halted),
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
