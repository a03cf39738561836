package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"hotfolder/pipeline/journal"
	"hotfolder/ratelimit"
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
	Upload(ctx context.Context, path string) (uploader.Upload, error)
	// Submit starts a job on an uploaded input.
	Submit(ctx context.Context, src uploader.Upload) (uploader.Job, error)
	// Wait polls the job until it has succeeded (returning its result) or
	// failed.
	Wait(ctx context.Context, job uploader.Job) (uploader.Result, error)
	// Download writes the result to w from offset 0 and returns its size.
	// Before a retry it seeks w back to 0 and writes the result again; the
	// result is taken to end where the last write ended, and that must equal
	// the size returned.
	Download(ctx context.Context, out uploader.Result, w io.WriteSeeker) (int64, error)
	// Discard deletes the uploaded input. Deleting a missing one is not an
	// error.
	Discard(ctx context.Context, src uploader.Upload) error
}

// Quota is the rate limiter as far as the journal keeps its pacing across
// runs (implemented by *ratelimit.Set). The slots it grants on the POST
// buckets are journaled as they are granted, before the request is sent,
// and [New] hands the last run's back to it: a run started right after a
// killed one then does not crowd the killed run's last window (Adobe
// would answer 429, and the run would slow itself down).
type Quota interface {
	// Restore tells bucket b about requests an earlier run sent.
	Restore(b ratelimit.Bucket, grants []time.Time)
	// OnGrant calls fn with each slot granted, before the request goes
	// out; nil stops it.
	OnGrant(fn func(b ratelimit.Bucket, at time.Time))
}

// Config configures a [Pipeline].
type Config struct {
	In, Out string          // absolute input root and output root
	State   string          // state folder, holding the journal and claims file; default Out/.hotfolder
	Ext     string          // output extension without the dot: png, jpg, webp, psd
	Workers int             // files processed at once (>= 1)
	Stop    <-chan struct{} // closed to stop taking new files and let taken ones finish; nil = never

	RetryFailed bool // take inputs that failed in an earlier run again; by default they are skipped
	KeepUploads bool // leave uploaded inputs in storage once their job is over; by default they are deleted

	// OnSuccess and OnFailure say what becomes of an input once its
	// outcome is journaled: Keep (the zero value means Keep too), Move
	// into ProcessedDir or FailedDir (keeping its path below In), or, on
	// success only, Delete.
	OnSuccess, OnFailure    Action
	ProcessedDir, FailedDir string

	// Quota, when set, has its POST pacing journaled and restored (see
	// [Quota]).
	Quota Quota

	Logger *slog.Logger     // nil = discard
	Now    func() time.Time // nil = time.Now
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
	j      *journal.Journal
	report *failureReport
	ran    atomic.Bool
	// adopt: the journal was moved aside, so outputs it no longer knows
	// of may be taken as done (see movedAside).
	adopt bool

	// takeMu makes taking a file and claiming its output name one step, so
	// names are claimed in the order the source found the files.
	takeMu sync.Mutex

	started, lastDone, lastSuccess       atomic.Pointer[time.Time]
	found, skipped, active, done, failed atomic.Int64
	uploaded, downloaded                 atomic.Int64
	resumed, failedEarlier               atomic.Int64
	saves                                atomic.Int64 // journal writes, for the status snapshot
	searched                             atomic.Bool  // the source handed on everything it had to find
	grantWarned                          atomic.Bool

	failMu   sync.Mutex
	failures []Failure

	// busy holds the inputs a worker has taken, so a file found again while
	// it is being processed (it changed) waits for that worker instead of
	// racing it to the same output; wake tells the queue one was released.
	// stop is closed to take no new files: on Config.Stop, or when the
	// POST budget is spent.
	stop       chan struct{}
	haltOnce   sync.Once
	budgetOnce sync.Once

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
	if err := claimOutputFolder(cfg.Out, cfg.State, false, cfg.Logger); err != nil {
		outs.close()
		return nil, err
	}
	jpath := filepath.Join(cfg.State, JournalFile)
	adopt := movedAside(jpath, outs)
	// A generous lock timeout: a hotfolder status reading the journal
	// holds it for a moment.
	j, err := journal.Open(jpath, journal.Options{Now: cfg.Now, Timeout: 2 * time.Second})
	if err != nil {
		outs.close()
		return nil, err
	}
	if adopt {
		cfg.Logger.Info("a new journal beside earlier output claims (the journal was moved aside): " +
			"outputs that are complete images newer than their inputs are taken as done")
	}
	report, err := openFailureReport(filepath.Join(cfg.State, FailureReportFile))
	if err != nil {
		j.Close()
		outs.close()
		return nil, stateError(err)
	}
	removeStale(cfg.Out, cfg.State, cfg.Logger)
	p := &Pipeline{
		cfg: cfg, src: src, remote: remote, log: cfg.Logger, outs: outs, j: j, report: report, adopt: adopt,
		busy: make(map[string]bool), wake: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	p.restoreQuota()
	return p, nil
}

// restoreQuota hands the last run's POST grants to the Quota and journals
// this run's from now on.
func (p *Pipeline) restoreQuota() {
	if p.cfg.Quota == nil {
		return
	}
	grants, err := p.j.Grants()
	if err != nil {
		p.log.Warn("could not read the last run's request times from the journal; the first requests may draw a 429", "error", err)
	}
	for b, ts := range grants {
		p.cfg.Quota.Restore(ratelimit.Bucket(b), ts)
	}
	p.cfg.Quota.OnGrant(p.journalGrant)
}

// journalGrant records a POST slot before its request is sent. Failing to
// only costs the next run its pacing: it is logged once.
func (p *Pipeline) journalGrant(b ratelimit.Bucket, at time.Time) {
	if b != ratelimit.Post && b != ratelimit.RemoveBackgroundPost {
		return // GET limits are far above what polling spends
	}
	if err := p.j.AddGrant(string(b), at); err != nil && p.grantWarned.CompareAndSwap(false, true) {
		p.log.Warn("could not journal a request time; a restart right after a stop may draw a 429", "error", err)
	}
}

// JournalFile is the journal's name inside the state folder.
const JournalFile = "journal.db"

// Close releases the state folder. Call it after Run has returned.
func (p *Pipeline) Close() error {
	if p.cfg.Quota != nil {
		p.cfg.Quota.OnGrant(nil)
	}
	return errors.Join(p.j.Close(), p.outs.close(), p.report.close())
}

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

		Resumed:       p.resumed.Load(),
		FailedEarlier: p.failedEarlier.Load(),
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
	if t := p.lastSuccess.Load(); t != nil {
		s.LastSuccess = *t
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
	s.Searched = p.searched.Load()
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

	// Stop is watched for the whole run, also after the source is done
	// (-once): it keeps the workers from taking what is still queued.
	runDone := make(chan struct{})
	defer close(runDone)
	go func() {
		select {
		case <-p.cfg.Stop:
			p.halt()
		case <-runDone:
		}
	}()
	g.Go(func() error {
		select {
		case <-p.stop:
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
			p.searched.Store(true)
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

	statusDone := make(chan struct{})
	statusWritten := make(chan struct{})
	go func() { p.keepStatus(statusDone); close(statusWritten) }()
	err := g.Wait()
	close(statusDone)
	<-statusWritten
	sum := p.summary()
	if err != nil && !isFatal(err) && ctx.Err() != nil {
		err = ctx.Err()
	}
	return sum, err
}

// stopped reports whether Stop has been closed.
func (p *Pipeline) stopped() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// halt stops taking new files, as Config.Stop does; the POST budget
// running out calls it too.
func (p *Pipeline) halt() { p.haltOnce.Do(func() { close(p.stop) }) }

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
		stop    = p.stop
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
			err = p.settle(ctx, &task{f: t.f}, 0, claimStage(t.err), t.err)
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
	case <-p.stop:
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
// wait, download and write, and settles its outcome. What the journal says
// of the input decides where it starts: an input done or failed in an
// earlier run is skipped, a job submitted by a run that was killed is
// polled again instead of being paid for twice.
func (p *Pipeline) handle(ctx context.Context, f watcher.File, out string) error {
	t := &task{f: f, out: out}
	rec, known, err := p.j.Get(f.Rel)
	if err != nil {
		return p.settle(ctx, t, 0, "write", err)
	}
	v := p.decide(f, out, rec, known)
	if known && v == process && rec.UploadKey != "" {
		// New content (its old job, if any, is abandoned), or an upload
		// never submitted whose URL may have expired: of no more use.
		p.discard(ctx, t, rec.UploadKey)
		rec.UploadKey = ""
	}
	t.rec = rec
	if !current(rec, known, f, out) {
		t.rec = journal.Record{Rel: f.Rel, Size: f.Size, ModTime: f.ModTime, Output: out, State: journal.Queued}
	}
	switch v {
	case trustOutput:
		t.rec.State = journal.Done
		if err := p.save(t.rec); err != nil {
			return p.settle(ctx, t, 0, "write", err)
		}
		p.skip(f, out, "output is newer than input")
		p.settleInput(f, true)
		return nil
	case doneBefore:
		p.skip(f, out, "done in an earlier run")
		p.settleInput(f, true) // an earlier run may have been stopped before it could
		return nil
	case failedBefore:
		p.failedEarlier.Add(1)
		args := []any{"file", f.Rel}
		if rec.Failure != nil {
			args = append(args, "stage", rec.Failure.Stage, "error", rec.Failure.Message)
		}
		p.log.Info("skipped: failed in an earlier run (-retry-failed takes it again)", args...)
		p.skip(f, out, "")
		p.settleInput(f, false)
		return nil
	case resumeJob:
		n, stage, err := p.resume(ctx, t)
		return p.settle(ctx, t, n, stage, err)
	}
	if t.rec.State == journal.Done {
		p.log.Info("output of a file done earlier is missing; processing it again", "file", f.Rel, "output", out)
	}
	n, stage, err := p.process(ctx, t)
	if errors.Is(err, ratelimit.ErrPostBudgetSpent) {
		// Not the file's fault: it stays pending, its upload journaled
		// for the next run, and no new file is taken.
		p.active.Add(-1)
		p.budgetOnce.Do(func() {
			p.log.Warn("the POST budget (-max-posts) is spent: taking no new files; the rest are left for the next run")
		})
		p.halt()
		return nil
	}
	if errors.Is(err, errChangedWhileUploading) {
		// Not a failure: its new version is on its way (see queue).
		p.log.Info("changed while uploading; nothing was submitted, the new version will be", "file", f.Rel)
		p.skip(f, out, "")
		return nil
	}
	return p.settle(ctx, t, n, stage, err)
}

// verdict is what the journal and the output folder say to do with an
// input, before any request.
type verdict int

const (
	process      verdict = iota // new work, or work to start over
	trustOutput                 // no record, but an output newer than the input: take it as done
	doneBefore                  // done in an earlier run, and its output is there
	failedBefore                // failed in an earlier run: skipped unless RetryFailed
	resumeJob                   // submitted by an earlier run: poll that job
)

// decide reads what is known of input f, whose output is out: its journal
// record rec, if known. A record of other content (size, time) or of
// another output name is new work.
func (p *Pipeline) decide(f watcher.File, out string, rec journal.Record, known bool) verdict {
	switch {
	case !known && p.adopt && p.outs.upToDate(out, f) && p.outs.adoptable(out):
		// No record at all, in a journal that replaced one moved aside:
		// an output newer than its input, complete, of the right format,
		// is one the old journal knew. (With a record of other content,
		// the content changed, whatever the times say: cp -p can bring
		// an older mtime.) Without a journal moved aside, a file under an
		// output's name is not taken for one: it may be anything.
		return trustOutput
	case !current(rec, known, f, out):
		return process
	case rec.State == journal.Done && p.outs.exists(out):
		return doneBefore
	case rec.State == journal.Failed && !p.cfg.RetryFailed && !unreadableBefore(rec):
		return failedBefore
	case rec.State == journal.Submitted:
		return resumeJob
	}
	return process
}

// current reports whether rec, if known, is about input f as it is now,
// with output out: otherwise the input is new work.
func current(rec journal.Record, known bool, f watcher.File, out string) bool {
	return known && !rec.Changed(f.Size, f.ModTime) && rec.Output == out
}

// skip counts f as skipped; reason, when given, is logged at debug level.
func (p *Pipeline) skip(f watcher.File, out, reason string) {
	p.active.Add(-1)
	p.skipped.Add(1)
	if reason != "" {
		p.log.Debug("skipped", "file", f.Rel, "output", out, "reason", reason)
	}
}

// settle counts a taken file's end, done, failed, or (when ctx ended)
// neither, and records a failure in the journal. It returns the error that
// ends the worker: ctx's, or a fatal one.
func (p *Pipeline) settle(ctx context.Context, t *task, n int64, stage string, err error) error {
	p.active.Add(-1)
	if err != nil && ctx.Err() != nil {
		return ctx.Err() // aborted: the file stays pending, its journal record as it was
	}
	now := p.cfg.Now()
	f := t.f
	if err == nil {
		p.done.Add(1)
		p.lastDone.Store(&now)
		p.lastSuccess.Store(&now)
		p.log.Debug("done", "file", f.Rel, "output", t.out, "bytes", n)
		p.settleInput(f, true)
		return nil
	}
	if isFatal(err) {
		// Not the file's fault: it stays pending, its record as it was, so
		// the next run takes it up again, and the summary agrees with the
		// journal. The error stops the run and is reported by the caller.
		return fmt.Errorf("%s: %s: %w", DisplayName(f.Rel), stage, err)
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
	if t.rec.Rel == "" {
		return nil // it could not even be named: nothing to record
	}
	t.rec.State = journal.Failed
	t.rec.Failure = failureOf(stage, err, now)
	if stage == "check" && (errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, errOutputPath)) {
		// Fixed by a chmod, putting it back or mending -out, which leaves
		// the input's size and time alone: the next sighting must try
		// again, not skip it.
		t.rec.Failure.Permanent = false
	}
	if jerr := p.save(t.rec); jerr != nil {
		return fmt.Errorf("%s: recording its failure: %w", f.Rel, jerr)
	}
	if rerr := p.report.add(t.rec); rerr != nil {
		p.log.Warn("could not write the failure report", "file", p.report.name, "error", rerr)
	}
	p.settleInput(f, false)
	return nil
}

// process runs the remote stages for t's file and writes the result. It
// returns the result's size, or the stage that failed and why.
func (p *Pipeline) process(ctx context.Context, t *task) (int64, string, error) {
	if err := p.remote.Check(ctx, t.f.Path); err != nil {
		return 0, "check", err
	}
	if err := p.outs.checkPath(t.out); err != nil {
		return 0, "check", err
	}
	if err := p.put(t, journal.Queued); err != nil {
		return 0, "write", err
	}
	return p.submit(ctx, t)
}

// submit uploads the input, starts its job, and sees it through. The
// upload is recorded before the job is started, and the job before it is
// polled, so a killed run leaves a record of both.
func (p *Pipeline) submit(ctx context.Context, t *task) (int64, string, error) {
	src, err := p.remote.Upload(ctx, t.f.Path)
	if err != nil {
		return 0, "upload", err
	}
	p.uploaded.Add(src.Size)
	t.rec.UploadKey, t.rec.SHA256 = src.Key, src.SHA256
	// The last moment to save the POST: an input deleted or rewritten
	// while it was uploading is not what the person wants processed.
	if err := stillThere(t.f); err != nil {
		p.discardUpload(ctx, t)
		return 0, "upload", err
	}
	if err := p.put(t, journal.Uploaded); err != nil {
		return 0, "write", err
	}
	job, err := p.remote.Submit(ctx, src)
	if err != nil {
		p.discardUpload(ctx, t)
		return 0, "submit", err
	}
	t.rec.JobID, t.rec.StatusURL, t.rec.Op, t.rec.Submitted, t.rec.API = job.ID, job.StatusURL, job.Op, job.Submitted, job.API
	if err := p.put(t, journal.Submitted); err != nil {
		return 0, "write", err
	}
	return p.complete(ctx, t, job)
}

// resume picks up a job a killed run submitted: it is polled, not paid for
// again.
func (p *Pipeline) resume(ctx context.Context, t *task) (int64, string, error) {
	p.resumed.Add(1)
	r := t.rec
	p.log.Info("resuming a job submitted by an earlier run", "file", t.f.Rel, "job", r.JobID, "submitted", r.Submitted.Format(time.RFC3339))
	if size, sum, ok := p.writtenSince(t.out, r.Submitted); ok {
		// The earlier run wrote the output but was killed before noting it.
		t.rec.OutputSHA256 = sum
		p.discardUpload(ctx, t)
		return size, "write", p.put(t, journal.Done)
	}
	// A fresh deadline: the job may have been submitted long ago.
	job := uploader.Job{ID: r.JobID, StatusURL: r.StatusURL, Op: r.Op, Submitted: p.cfg.Now(), API: r.API}
	return p.complete(ctx, t, job)
}

// complete waits for t's job, downloads its result and records it done.
// If the API no longer knows the job or its result has expired (after a
// long stop, say), the input is submitted again, once per content, and the
// log says so.
func (p *Pipeline) complete(ctx context.Context, t *task, job uploader.Job) (int64, string, error) {
	res, err := p.remote.Wait(ctx, job)
	if err != nil {
		if errors.Is(err, uploader.ErrJobGone) {
			return p.resubmit(ctx, t, err)
		}
		p.endUpload(ctx, t, err)
		return 0, "process", err
	}
	n, stage, err := p.fetch(ctx, t, res)
	if errors.Is(err, uploader.ErrResultGone) {
		return p.resubmit(ctx, t, err)
	}
	p.endUpload(ctx, t, err)
	if err != nil {
		return 0, stage, err
	}
	return n, "write", p.put(t, journal.Done)
}

// resubmit submits t's input again after its job or result went missing,
// unless that was done for this content already.
func (p *Pipeline) resubmit(ctx context.Context, t *task, why error) (int64, string, error) {
	if t.rec.Resubmits >= maxResubmits {
		p.discardUpload(ctx, t)
		return 0, "process", fmt.Errorf("job %s: %w; it was submitted again once already and is not submitted a third time", t.rec.JobID, why)
	}
	t.rec.Resubmits++
	p.log.Warn("the API no longer knows the job or its result; submitting the file again, once", "file", t.f.Rel, "job", t.rec.JobID, "reason", why)
	p.discardUpload(ctx, t) // its URL may have expired too: upload afresh
	return p.submit(ctx, t)
}

// maxResubmits is how many times one content is submitted again because
// its job or result went missing.
const maxResubmits = 1

// put records t's state durably, before the next step that depends on it.
func (p *Pipeline) put(t *task, st journal.State) error {
	t.rec.State = st
	return p.save(t.rec)
}

// endUpload discards t's upload once the file has reached an end, unless
// the run is being aborted while its job is in flight: the next run polls
// that job, and the API may still fetch the input.
func (p *Pipeline) endUpload(ctx context.Context, t *task, err error) {
	if err != nil && ctx.Err() != nil {
		return
	}
	p.discardUpload(ctx, t)
}

// discardUpload deletes t's uploaded input, unless uploads are kept.
func (p *Pipeline) discardUpload(ctx context.Context, t *task) {
	if t.rec.UploadKey == "" || p.cfg.KeepUploads {
		return
	}
	if p.discard(ctx, t, t.rec.UploadKey) {
		t.rec.UploadKey = ""
	}
}

// fetch downloads the result into a temporary file beside the output and
// moves it into place. The output name never holds a partial result.
func (p *Pipeline) fetch(ctx context.Context, t *task, res uploader.Result) (int64, string, error) {
	f := t.f
	final := osRel(t.out)
	if err := p.outs.dir.MkdirAll(filepath.Dir(final), 0o777); err != nil {
		return 0, "write", outputError(fmt.Errorf("create output folder: %w", err))
	}
	tmp, err := createTemp(p.outs.dir, final)
	if err != nil {
		return 0, "write", outputError(fmt.Errorf("create temporary file: %w", err))
	}
	defer tmp.remove()
	n, err := p.remote.Download(ctx, res, tmp)
	if tmp.werr != nil {
		// The download failed because our disk did; that is the error to report.
		return 0, "write", outputError(fmt.Errorf("write temporary file: %w", tmp.werr))
	}
	if err != nil {
		return 0, "download", err
	}
	size, err := tmp.size()
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
	if t.rec.OutputSHA256, err = tmp.hash(size); err != nil {
		return 0, "write", outputError(fmt.Errorf("read temporary file: %w", err))
	}
	if err := tmp.commit(size, p.log); err != nil {
		return 0, "write", outputError(fmt.Errorf("write output: %w", err))
	}
	// The skip rule trusts an output newer than its input. If the input
	// changed while it was being processed, this result is of the old
	// content: date it back so the new content is not skipped.
	if fi, err := os.Stat(f.Path); err == nil && (!fi.ModTime().Equal(f.ModTime) || fi.Size() != f.Size) {
		if err := p.outs.dir.Chtimes(final, f.ModTime, f.ModTime); err != nil {
			p.log.Warn("could not date back output of changed input", "file", f.Rel, "error", err)
		}
		p.log.Info("input changed while being processed; it will be processed again", "file", f.Rel)
	}
	return size, "", nil
}

// writtenSince reports whether output out exists as a regular file written
// after since, with its size and hash.
func (p *Pipeline) writtenSince(out string, since time.Time) (int64, string, bool) {
	fl, err := p.outs.dir.Open(osRel(out))
	if err != nil {
		return 0, "", false
	}
	defer fl.Close()
	fi, err := fl.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.ModTime().Before(since) {
		return 0, "", false
	}
	sum, err := sha256Hex(fl)
	if err != nil {
		return 0, "", false
	}
	return fi.Size(), sum, true
}

// discard deletes an uploaded input, best effort: it runs even while the
// run is being aborted (with a short deadline), and a failure is only
// logged. It reports whether the input is gone.
func (p *Pipeline) discard(ctx context.Context, t *task, key string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discardTimeout)
	defer cancel()
	if err := p.remote.Discard(ctx, uploader.Upload{Key: key}); err != nil {
		p.log.Warn("could not delete uploaded input", "file", t.f.Rel, "key", key, "error", err)
		return false
	}
	return true
}

// task is one input on its way through a worker, with its journal record.
type task struct {
	f   watcher.File
	out string
	rec journal.Record
}

// errChangedWhileUploading ends a file that was rewritten while it was
// being uploaded: the watcher hands on the new version, which is processed
// in its turn.
var errChangedWhileUploading = errors.New("the file changed while it was being uploaded")

// stillThere checks, before a job is paid for, that f is still the file
// that was uploaded.
func stillThere(f watcher.File) error {
	fi, err := os.Stat(f.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &hintedError{err: errors.New("the file was deleted while it was being uploaded; nothing was submitted"),
			hint: "nothing to do if that was meant; otherwise put it back"}
	case err != nil:
		return err
	case fi.Size() != f.Size || !fi.ModTime().Equal(f.ModTime):
		return errChangedWhileUploading
	}
	return nil
}

// hintedError is a per-file error with a hint for the person.
type hintedError struct {
	err  error
	hint string
}

func (e *hintedError) Error() string { return e.err.Error() }
func (e *hintedError) Unwrap() error { return e.err }
func (e *hintedError) Hint() string  { return e.hint }

// unreadableBefore reports whether r failed only because its file could not
// be read: that is retried whenever the file turns up again.
func unreadableBefore(r journal.Record) bool {
	return r.Failure != nil && r.Failure.Stage == "check" && !r.Failure.Permanent
}

// failureOf is err as the journal keeps it.
func failureOf(stage string, err error, now time.Time) *journal.Failure {
	fl := &journal.Failure{Stage: stage, Message: err.Error(), Hint: Hint(err), Time: now}
	var (
		ae  *uploader.APIError
		jf  *uploader.JobFailedError
		rej *uploader.RejectedError
	)
	switch {
	case errors.As(err, &rej):
		fl.Permanent = true
	case errors.As(err, &jf):
		fl.Code, fl.Permanent = jf.Code, true
	case errors.As(err, &ae):
		fl.HTTPStatus, fl.Code = ae.StatusCode, ae.Code
		fl.Permanent = ae.StatusCode >= 400 && ae.StatusCode < 500 && ae.StatusCode != 429
	}
	return fl
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
