package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"hotfolder/uploader"
	"hotfolder/watcher"
)

// discardTimeout bounds the best-effort deletion of an uploaded input, which
// also runs when the run is being aborted.
const discardTimeout = 10 * time.Second

// Source finds input files: it sends complete files on out until it is done
// or ctx ends; it never closes out. Every send must sit in a select with
// ctx.Done(). Run returns nil when it is done, ctx.Err() when ctx ended.
// *watcher.Watcher is the real one.
type Source interface {
	Run(ctx context.Context, out chan<- watcher.File) error
}

// Remote is the asynchronous image API as the pipeline drives it, one call
// per stage (implemented by *uploader.Client). Errors that must stop the
// whole run (bad credentials, say) have a Fatal() bool method returning
// true somewhere in their chain; any other error fails only the one file.
// Errors may carry a Hint() string method, which is logged.
type Remote interface {
	// Check validates the input locally (type, size, dimensions); it sends
	// no request.
	Check(ctx context.Context, path string) error
	// Upload stores the input where the API can fetch it.
	Upload(ctx context.Context, path string) (uploader.Source, error)
	// Submit starts a job on an uploaded input.
	Submit(ctx context.Context, src uploader.Source) (uploader.Job, error)
	// Wait polls the job until it has succeeded (returning its result) or
	// failed.
	Wait(ctx context.Context, job uploader.Job) (uploader.Output, error)
	// Download writes the result to w from offset 0 and returns its size.
	// Before a retry it seeks w back to 0 and writes the result again; the
	// result is taken to end where the last write ended, and that must equal
	// the size returned.
	Download(ctx context.Context, out uploader.Output, w io.WriteSeeker) (int64, error)
	// Discard deletes the uploaded input. Deleting a missing one is not an
	// error.
	Discard(ctx context.Context, src uploader.Source) error
}

// Config configures a [Pipeline].
type Config struct {
	In, Out string           // absolute input root and output root
	State   string           // state folder, holding the claims file; default Out/.hotfolder
	Ext     string           // output extension without the dot: png, jpg, webp, psd
	Workers int              // files processed at once (>= 1)
	Stop    <-chan struct{}  // closed to stop taking new files and let taken ones finish; nil = never
	Logger  *slog.Logger     // nil = discard
	Now     func() time.Time // nil = time.Now
}

// Pipeline turns input files into output files through a [Remote], with a
// fixed pool of workers. Create it with [New], call [Pipeline.Run] once,
// then [Pipeline.Close]. [Pipeline.Stats] may be called from any goroutine
// at any time. The zero value is not usable.
type Pipeline struct {
	cfg    Config
	src    Source
	remote Remote
	log    *slog.Logger
	outs   *outputs
	ran    atomic.Bool

	// takeMu makes taking a file and claiming its output name one step, so
	// names are claimed in the order the source found the files.
	takeMu sync.Mutex

	started                              atomic.Pointer[time.Time]
	lastDone                             atomic.Pointer[time.Time]
	found, skipped, active, done, failed atomic.Int64
	uploaded, downloaded                 atomic.Int64

	failMu   sync.Mutex
	failures []Failure

	// busy holds the inputs a worker has taken, so a file found again while
	// it is being processed (it changed) waits for that worker instead of
	// racing it to the same output; wake tells the queue one was released.
	busyMu sync.Mutex
	busy   map[string]bool
	wake   chan struct{}
}

// New checks cfg, creates the output and state folders, makes sure the
// output folder can be written, loads and locks the claims file, and removes
// temporary files a killed run left in the output folder. Errors about
// folders that cannot be written have a Fatal() method and a Hint().
func New(cfg Config, src Source, remote Remote) (*Pipeline, error) {
	switch {
	case src == nil || remote == nil:
		return nil, errors.New("pipeline: source and remote are required")
	case !filepath.IsAbs(cfg.In) || !filepath.IsAbs(cfg.Out):
		return nil, fmt.Errorf("pipeline: input and output folders must be absolute paths (got %q, %q)", cfg.In, cfg.Out)
	case cfg.Ext == "" || strings.ContainsAny(cfg.Ext, `./\`):
		return nil, fmt.Errorf("pipeline: bad output extension %q", cfg.Ext)
	case cfg.Workers < 1:
		return nil, fmt.Errorf("pipeline: workers must be at least 1, got %d", cfg.Workers)
	}
	cfg.In, cfg.Out = filepath.Clean(cfg.In), filepath.Clean(cfg.Out)
	// Out may sit inside In (the watcher is told to exclude it), but not be
	// In itself: results would be taken for new inputs, at a price.
	if cfg.Out == cfg.In {
		return nil, fmt.Errorf("pipeline: output folder %s must not be the input folder itself", cfg.Out)
	}
	if cfg.State == "" {
		cfg.State = filepath.Join(cfg.Out, ".hotfolder")
	}
	state, err := filepath.Abs(cfg.State)
	if err != nil {
		return nil, fmt.Errorf("pipeline: state folder: %w", err)
	}
	cfg.State = state
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}

	if err := os.MkdirAll(cfg.Out, 0o777); err != nil {
		return nil, &fatalError{err: fmt.Errorf("create output folder: %w", err), hint: outHint}
	}
	if err := checkWritable(cfg.Out); err != nil {
		return nil, &fatalError{err: fmt.Errorf("output folder is not writable: %w", err), hint: outHint}
	}
	if err := os.MkdirAll(cfg.State, 0o777); err != nil {
		return nil, stateError(fmt.Errorf("create state folder: %w", err))
	}
	outs, err := openOutputs(cfg.Out, cfg.State, cfg.Ext, cfg.Logger)
	if err != nil {
		return nil, err
	}
	removeStale(cfg.Out, cfg.State, cfg.Logger)
	return &Pipeline{
		cfg: cfg, src: src, remote: remote, log: cfg.Logger, outs: outs,
		busy: make(map[string]bool), wake: make(chan struct{}, 1),
	}, nil
}

// Close releases the state folder. Call it after Run has returned.
func (p *Pipeline) Close() error { return p.outs.close() }

// Stats returns the counters now. Each field is read atomically, but not
// all at one instant: while files move on, Found may briefly exceed the
// sum of the others, never the reverse.
func (p *Pipeline) Stats() Stats {
	s := Stats{
		Skipped:    p.skipped.Load(),
		Done:       p.done.Load(),
		Failed:     p.failed.Load(),
		Uploaded:   p.uploaded.Load(),
		Downloaded: p.downloaded.Load(),
	}
	// Read in the reverse order of the updates (found, then active, then an
	// end state), so a file is never counted twice.
	s.Active = p.active.Load()
	s.Found = p.found.Load()
	if t := p.started.Load(); t != nil {
		s.Started = *t
	}
	if t := p.lastDone.Load(); t != nil {
		s.LastDone = *t
	}
	return s
}

// summary is the outcome so far; call it when no worker is running.
func (p *Pipeline) summary() Summary {
	s := Summary{Stats: p.Stats()}
	p.failMu.Lock()
	s.Failures = append([]Failure(nil), p.failures...)
	p.failMu.Unlock()
	s.Pending = max(0, s.Found-s.Finished()-s.Active)
	return s
}

// Run processes files from the source until the source is done and every
// file found has been handled, Stop is closed and the files already taken
// are finished, ctx ends, or a fatal error occurs.
//
// It returns nil when the run ended normally, even if some files failed
// (see Summary.Failures) or Stop left some unstarted (Summary.Pending). It
// returns the fatal error (errors.As finds its Fatal method) when one
// stopped the run, or ctx.Err() when ctx ended; files in flight then are
// counted as pending, neither done nor failed. An error from the source
// ends the run as well and is returned. The summary is valid in every case.
// Run may be called only once.
func (p *Pipeline) Run(ctx context.Context) (Summary, error) {
	if p.ran.Swap(true) {
		return Summary{}, errors.New("pipeline: Run called twice")
	}
	now := p.cfg.Now()
	p.started.Store(&now)

	g, gctx := errgroup.WithContext(ctx)
	// The source also stops when Stop is closed; the workers do not.
	srcCtx, cancelSrc := context.WithCancel(gctx)
	defer cancelSrc()
	files := make(chan watcher.File)
	tasks := make(chan watcher.File)

	g.Go(func() error {
		select {
		case <-p.cfg.Stop:
			cancelSrc()
		case <-srcCtx.Done():
		}
		return nil
	})
	g.Go(func() error {
		defer cancelSrc()
		defer close(files)
		err := p.src.Run(srcCtx, files)
		switch {
		case err == nil:
			return nil
		case gctx.Err() != nil:
			return gctx.Err() // aborted, or another goroutine failed first
		case srcCtx.Err() != nil:
			return nil // stopped
		default:
			return fmt.Errorf("finding input files: %w", err)
		}
	})
	g.Go(func() error { return p.queue(gctx, files, tasks) })
	for range p.cfg.Workers {
		g.Go(func() error { return p.work(gctx, tasks) })
	}

	err := g.Wait()
	sum := p.summary()
	if err != nil && !isFatal(err) && ctx.Err() != nil {
		err = ctx.Err()
	}
	return sum, err
}

// stopped reports whether Stop has been closed.
func (p *Pipeline) stopped() bool {
	select {
	case <-p.cfg.Stop:
		return true
	default:
		return false
	}
}

// queue takes every file from the source as soon as it is found, so Found
// shows the whole backlog, and hands them to the workers in the order they
// were found. A file found again while still queued is queued once, with its
// latest details; one found again while a worker holds it is handed out
// only once that worker is done with it. After Stop, queue keeps receiving
// (and counting) until the source has ended, but hands out nothing more. It
// closes tasks when it returns.
func (p *Pipeline) queue(ctx context.Context, files <-chan watcher.File, tasks chan<- watcher.File) error {
	defer close(tasks)
	var (
		fifo    []*watcher.File
		queued  = make(map[string]*watcher.File)
		stop    = p.cfg.Stop
		stopped bool
	)
	for files != nil || (len(fifo) > 0 && !stopped) {
		var (
			out  chan<- watcher.File
			next watcher.File
			at   = -1
		)
		if !stopped {
			at = p.firstIdle(fifo)
		}
		if at >= 0 {
			// Marked before it is offered: the worker that takes it may
			// release it before this goroutine runs again.
			out, next = tasks, *fifo[at]
			p.hold(next.Rel)
		}
		sent := false
		select {
		case f, ok := <-files:
			switch q, queuedAlready := queued[f.Rel]; {
			case !ok:
				files = nil
			case queuedAlready:
				*q = f // queued once, with its latest details
			default:
				q := &f
				queued[f.Rel] = q
				fifo = append(fifo, q)
				p.found.Add(1)
			}
		case out <- next:
			sent = true
			delete(queued, next.Rel)
			fifo = slices.Delete(fifo, at, at+1)
		case <-p.wake:
			// A worker released a file: one waiting for it may go now.
		case <-stop:
			stop, stopped = nil, true
		case <-ctx.Done():
			return ctx.Err()
		}
		if at >= 0 && !sent {
			p.unhold(next.Rel)
		}
	}
	return nil
}

// firstIdle returns the index of the first queued file no worker holds, or -1.
func (p *Pipeline) firstIdle(fifo []*watcher.File) int {
	p.busyMu.Lock()
	defer p.busyMu.Unlock()
	for i, f := range fifo {
		if !p.busy[f.Rel] {
			return i
		}
	}
	return -1
}

// hold marks rel as taken by a worker; release undoes it and wakes the queue.
func (p *Pipeline) hold(rel string) {
	p.busyMu.Lock()
	p.busy[rel] = true
	p.busyMu.Unlock()
}

// unhold takes back a mark for a file that was offered but not taken.
func (p *Pipeline) unhold(rel string) {
	p.busyMu.Lock()
	delete(p.busy, rel)
	p.busyMu.Unlock()
}

func (p *Pipeline) release(rel string) {
	p.unhold(rel)
	select {
	case p.wake <- struct{}{}:
	default: // the queue has a wake-up pending already
	}
}

// work is one worker: it takes files one at a time until there are none
// left, Stop is closed, ctx ends, or a file fails fatally.
func (p *Pipeline) work(ctx context.Context, tasks <-chan watcher.File) error {
	for {
		t, ok, err := p.take(ctx, tasks)
		if !ok {
			return err
		}
		if t.err != nil {
			err = p.settle(ctx, t.f, "", 0, claimStage(t.err), t.err)
		} else {
			err = p.handle(ctx, t.f, t.out)
		}
		p.release(t.f.Rel)
		if err != nil {
			return err
		}
	}
}

// taken is a file a worker has taken, with its claimed output name or the
// reason it could not get one.
type taken struct {
	f   watcher.File
	out string
	err error
}

// claimStage names the stage of a failure to claim an output name: a state
// folder that cannot be written, or an input that cannot be named.
func claimStage(err error) string {
	if isFatal(err) {
		return "write"
	}
	return "check"
}

// take receives the next file and claims its output name, as one step so
// that claims follow the order of the queue. ok is false when the worker
// should end, with err set if ctx ended. A file taken is counted Active;
// the caller must settle it.
func (p *Pipeline) take(ctx context.Context, tasks <-chan watcher.File) (t taken, ok bool, err error) {
	p.takeMu.Lock()
	defer p.takeMu.Unlock()
	select {
	case <-ctx.Done():
		return t, false, ctx.Err()
	case <-p.cfg.Stop:
		return t, false, nil
	case t.f, ok = <-tasks:
		// A file handed over just as Stop closed stays pending.
		if !ok || p.stopped() {
			return t, false, nil
		}
	}
	p.active.Add(1)
	t.out, t.err = p.outs.claim(t.f.Rel)
	return t, true, nil
}

// handle takes one claimed file through skip-check, check, upload, submit,
// wait, download and write, and settles its outcome.
func (p *Pipeline) handle(ctx context.Context, f watcher.File, out string) error {
	if p.outs.upToDate(out, f) {
		p.active.Add(-1)
		p.skipped.Add(1)
		p.log.Debug("skipped", "file", f.Rel, "output", out, "reason", "output is newer than input")
		return nil
	}
	n, stage, err := p.process(ctx, f, out)
	return p.settle(ctx, f, out, n, stage, err)
}

// settle counts a taken file's end: done, failed, or (when ctx ended)
// neither. It returns the error that ends the worker: ctx's, or a fatal one.
func (p *Pipeline) settle(ctx context.Context, f watcher.File, out string, n int64, stage string, err error) error {
	p.active.Add(-1)
	if err != nil && ctx.Err() != nil {
		return ctx.Err() // aborted: the file stays pending
	}
	now := p.cfg.Now()
	if err == nil {
		p.done.Add(1)
		p.lastDone.Store(&now)
		p.log.Debug("done", "file", f.Rel, "output", out, "bytes", n)
		return nil
	}
	p.failMu.Lock()
	p.failures = append(p.failures, Failure{Rel: f.Rel, Stage: stage, Err: err})
	p.failMu.Unlock()
	p.failed.Add(1)
	p.lastDone.Store(&now)
	args := []any{"file", f.Rel, "stage", stage, "error", err}
	if h := Hint(err); h != "" {
		args = append(args, "hint", h)
	}
	p.log.Info("failed", args...)
	if isFatal(err) {
		return fmt.Errorf("%s: %s: %w", f.Rel, stage, err)
	}
	return nil
}

// process runs the remote stages for f and writes the result to out. It
// returns the result's size, or the stage that failed and why.
func (p *Pipeline) process(ctx context.Context, f watcher.File, out string) (int64, string, error) {
	if err := p.remote.Check(ctx, f.Path); err != nil {
		return 0, "check", err
	}
	src, err := p.remote.Upload(ctx, f.Path)
	if err != nil {
		return 0, "upload", err
	}
	p.uploaded.Add(src.Size)
	defer p.discard(ctx, f, src)
	job, err := p.remote.Submit(ctx, src)
	if err != nil {
		return 0, "submit", err
	}
	res, err := p.remote.Wait(ctx, job)
	if err != nil {
		return 0, "process", err
	}
	return p.fetch(ctx, f, res, out)
}

// fetch downloads the result into a temporary file beside the output and
// moves it into place. The output name never holds a partial result.
func (p *Pipeline) fetch(ctx context.Context, f watcher.File, res uploader.Output, out string) (int64, string, error) {
	final := p.outs.abs(out)
	if err := os.MkdirAll(filepath.Dir(final), 0o777); err != nil {
		return 0, "write", outputError(fmt.Errorf("create output folder: %w", err))
	}
	t, err := createTemp(final)
	if err != nil {
		return 0, "write", outputError(fmt.Errorf("create temporary file: %w", err))
	}
	defer t.remove()
	n, err := p.remote.Download(ctx, res, t)
	if t.werr != nil {
		// The download failed because our disk did; that is the error to report.
		return 0, "write", outputError(fmt.Errorf("write temporary file: %w", t.werr))
	}
	if err != nil {
		return 0, "download", err
	}
	size, err := t.size()
	if err != nil {
		return 0, "write", outputError(err)
	}
	switch {
	case size == 0:
		return 0, "download", errors.New("download: empty result")
	case n != size:
		return 0, "download", fmt.Errorf("download: result is %d bytes but %d were written", n, size)
	}
	p.downloaded.Add(size)
	if err := t.commit(size, p.log); err != nil {
		return 0, "write", outputError(fmt.Errorf("write output: %w", err))
	}
	// The skip rule trusts an output newer than its input. If the input
	// changed while it was being processed, this result is of the old
	// content: date it back so the new content is not skipped.
	if fi, err := os.Stat(f.Path); err == nil && (!fi.ModTime().Equal(f.ModTime) || fi.Size() != f.Size) {
		if err := os.Chtimes(final, f.ModTime, f.ModTime); err != nil {
			p.log.Warn("could not date back output of changed input", "file", f.Rel, "error", err)
		}
		p.log.Info("input changed while being processed; it will be processed again", "file", f.Rel)
	}
	return size, "", nil
}

// discard deletes the uploaded input, best effort: it runs even while the
// run is being aborted (with a short deadline), and a failure is only
// logged.
func (p *Pipeline) discard(ctx context.Context, f watcher.File, src uploader.Source) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discardTimeout)
	defer cancel()
	if err := p.remote.Discard(ctx, src); err != nil {
		p.log.Warn("could not delete uploaded input", "file", f.Rel, "key", src.Key, "error", err)
	}
}

// WorkersFor sizes the pool for a POST limit granting one request per
// interval, so that the limit, not the pool, is the bottleneck: enough
// workers to keep 30 s of submissions in flight (upload, a job of up to
// ~20 s, polling lag, download), at least 4 and at most 256.
func WorkersFor(interval time.Duration) int {
	if interval <= 0 {
		return 256
	}
	n := int((30*time.Second + interval - 1) / interval)
	return min(max(n, 4), 256)
}
