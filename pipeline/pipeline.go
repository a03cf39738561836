package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"hotfolder/pipeline/journal"
	"hotfolder/ratelimit"
	"hotfolder/uploader"
	"hotfolder/watcher"
)

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
// true somewhere in their chain (uploader.IsFatal); any other error fails
// only the one file. Errors may carry a Hint() string method
// (uploader.Hint), which is logged.
type Remote interface {
	// Check validates the input locally for step (type, size,
	// dimensions); it sends no request.
	Check(ctx context.Context, step uploader.Step, path string) error
	// Upload stores a file where the API can fetch it.
	Upload(ctx context.Context, path string) (uploader.Upload, error)
	// Submit starts step's job on the input at URL src: an upload's, or
	// the hosted result of the step before.
	Submit(ctx context.Context, step uploader.Step, src string) (uploader.Job, error)
	// Wait polls the job until it has succeeded (returning its results,
	// one per output of the step, in order) or failed.
	Wait(ctx context.Context, job uploader.Job) ([]uploader.Result, error)
	// Download writes the result to w from offset 0 and returns its size.
	// Before a retry it seeks w back to 0 and writes the result again; the
	// result is taken to end where the last write ended, and that must equal
	// the size returned.
	Download(ctx context.Context, res uploader.Result, w io.WriteSeeker) (int64, error)
	// Discard deletes the uploaded input. Deleting a missing one is not an
	// error.
	Discard(ctx context.Context, up uploader.Upload) error
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
	// RestoreSpent tells it how many POSTs were spent on day (UTC) by
	// earlier runs, for a daily cap.
	RestoreSpent(day time.Time, n int64)
	// OnGrant calls fn with each slot granted, before the request goes
	// out; nil stops it.
	OnGrant(fn func(b ratelimit.Bucket, at time.Time))
}

// JobTimes is the status polling's memory of how long jobs take, as far as
// the journal keeps it across runs (implemented by *uploader.JobTimes):
// [New] seeds it with what earlier runs learned, and the run journals what
// it learns.
type JobTimes interface {
	// Seed adds durations learned earlier for key (an API and an
	// operation).
	Seed(key string, ds []time.Duration)
	// OnLearn calls fn with every duration learned; nil stops it.
	OnLearn(fn func(key string, d time.Duration))
}

// Observer hears what a run does as it happens, e.g. to make the review
// page's thumbnails as outputs land rather than in a second pass. Its
// methods are called from the workers and must return quickly (hand the
// work to a goroutine of its own); they cannot fail a file.
type Observer interface {
	// Ended is called with an input's record once it is journaled done or
	// failed, before the input is moved (Config.OnSuccess, OnFailure).
	Ended(r journal.Record)
	// Granted is called with each POST slot granted on quota bucket b.
	Granted(b string, at time.Time)
}

// Config configures a [Pipeline].
type Config struct {
	In, Out string // absolute input root and output root
	State   string // state folder, holding the journal and claims file; default Out/.hotfolder
	// Recipe is what every input goes through (uploader.Recipe, normalized):
	// its steps in order, the last one's renditions the outputs.
	// Fingerprint is its uploader.Recipe.Fingerprint: a done input whose
	// record has another is new work.
	Recipe      uploader.Recipe
	Fingerprint string
	Workers     int             // files processed at once (>= 1)
	Stop        <-chan struct{} // closed to stop taking new files and let taken ones finish; nil = never

	RetryFailed bool // take inputs that failed in an earlier run again; by default they are skipped
	// Dedupe gives inputs of the same content (and Fingerprint) one job:
	// the others get copies of its outputs (see dedupe.go).
	Dedupe bool
	// PerFile is how long one more file takes at the run's limits (its
	// busiest POST bucket's share), for the projection of what is
	// pending; 0 makes none.
	PerFile     time.Duration
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
	// JobTimes, when set, is seeded from the journal and journals what it
	// learns (see [JobTimes]).
	JobTimes JobTimes

	// Observer, when set, hears of every input that ends and every POST
	// slot granted (the review page's thumbnails and chart).
	Observer Observer

	Logger *slog.Logger     // nil = discard
	Now    func() time.Time // nil = time.Now
}

// Pipeline turns input files into output files through a [Remote], with a
// fixed pool of workers. Create it with [New], call [Pipeline.Run] once,
// then [Pipeline.Close]. [Pipeline.Stats] may be called from any goroutine
// at any time. The zero value is not usable.
type Pipeline struct {
	cfg     Config
	src     Source
	remote  Remote
	log     *slog.Logger
	outs    *outputs
	j       *journal.Journal
	report  *failureReport
	keptDir *os.Root // the folder of kept intermediate results (stepsDir)
	ran     atomic.Bool
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
	saves                                atomic.Int64           // journal writes, for the status snapshot
	searched                             atomic.Bool            // the source handed on everything it had to find
	halted                               atomic.Pointer[string] // Stats.Halted
	grantWarned                          atomic.Bool

	failMu   sync.Mutex
	failures []Failure

	index         *contentIndex // content dedupe; nil when off
	copied, saved atomic.Int64  // inputs done as copies, POSTs saved so

	postsMu sync.Mutex
	posts   map[ratelimit.Bucket]int64 // POSTs granted, by bucket

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
	if src == nil || remote == nil {
		return nil, errors.New("pipeline: source and remote are required")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Out, 0o777); err != nil {
		return nil, &fatalError{err: fmt.Errorf("create output folder: %w", err), hint: outHint}
	}
	if err := checkWritable(cfg.Out); err != nil {
		return nil, &fatalError{err: fmt.Errorf("output folder is not writable: %w", err), hint: outHint}
	}
	p := &Pipeline{
		cfg: cfg, src: src, remote: remote, log: cfg.Logger,
		busy: make(map[string]bool), wake: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	if err := p.openState(); err != nil {
		return nil, err
	}
	removeStale(cfg.Out, cfg.State, cfg.Logger)
	p.restoreQuota()
	p.restoreJobTimes()
	return p, nil
}

// withDefaults checks cfg and fills in its defaults.
func (cfg Config) withDefaults() (Config, error) {
	switch {
	case !filepath.IsAbs(cfg.In) || !filepath.IsAbs(cfg.Out):
		return cfg, fmt.Errorf("pipeline: input and output folders must be absolute paths (got %q, %q)", cfg.In, cfg.Out)
	case len(cfg.Recipe.Steps) == 0:
		return cfg, errors.New("pipeline: the recipe has no step")
	case cfg.Workers < 1:
		return cfg, fmt.Errorf("pipeline: workers must be at least 1, got %d", cfg.Workers)
	}
	cfg.In, cfg.Out = filepath.Clean(cfg.In), filepath.Clean(cfg.Out)
	// Out may sit inside In (the watcher is told to exclude it), but not be
	// In itself: results would be taken for new inputs, at a price.
	if cfg.Out == cfg.In {
		return cfg, fmt.Errorf("pipeline: output folder %s must not be the input folder itself", cfg.Out)
	}
	if cfg.State == "" {
		cfg.State = StateDir(cfg.Out)
	}
	state, err := filepath.Abs(cfg.State)
	if err != nil {
		return cfg, fmt.Errorf("pipeline: state folder: %w", err)
	}
	cfg.State = state
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}

// openState opens what the pipeline keeps in the state folder, in order:
// the claims file (whose lock keeps a second hotfolder out), the owner mark
// of the output folder, the journal, the failure report and the folder of
// intermediate results. On an error, what was opened is closed again.
func (p *Pipeline) openState() (err error) {
	cfg := p.cfg
	if err := os.MkdirAll(cfg.State, 0o777); err != nil {
		return stateError(fmt.Errorf("create state folder: %w", err))
	}
	defer func() {
		if err != nil {
			p.closeState()
		}
	}()
	if p.outs, err = openOutputs(cfg.Out, cfg.State, cfg.Logger); err != nil {
		return err
	}
	if err := claimOutputFolder(cfg.Out, cfg.State, false, cfg.Logger); err != nil {
		return err
	}
	jpath := filepath.Join(cfg.State, JournalFile)
	p.adopt = movedAside(jpath, p.outs)
	// A generous lock timeout: a hotfolder status reading the journal
	// holds it for a moment.
	if p.j, err = journal.Open(jpath, journal.Options{Now: cfg.Now, Timeout: 2 * time.Second}); err != nil {
		return err
	}
	if p.adopt {
		cfg.Logger.Info("a new journal beside earlier output claims (the journal was moved aside): " +
			"outputs that are complete images newer than their inputs are taken as done")
	}
	if p.report, err = openFailureReport(filepath.Join(cfg.State, FailureReportFile)); err != nil {
		return stateError(err)
	}
	steps := filepath.Join(cfg.State, stepsDir)
	if err := os.MkdirAll(steps, 0o777); err != nil {
		return stateError(fmt.Errorf("create the folder of intermediate results: %w", err))
	}
	if p.keptDir, err = os.OpenRoot(steps); err != nil {
		return stateError(fmt.Errorf("open the folder of intermediate results: %w", err))
	}
	removeStale(steps, "", cfg.Logger)
	if cfg.Dedupe {
		if p.index, err = loadIndex(p.j); err != nil {
			return err
		}
	}
	return nil
}

// stepsDir is the folder, in the state folder, of the results of a
// recipe's steps before the last: each kept until its input is done.
const stepsDir = "steps"

// closeState closes what openState opened.
func (p *Pipeline) closeState() error {
	var errs []error
	if p.keptDir != nil {
		errs = append(errs, p.keptDir.Close())
	}
	if p.report != nil {
		errs = append(errs, p.report.close())
	}
	if p.j != nil {
		errs = append(errs, p.j.Close())
	}
	if p.outs != nil {
		errs = append(errs, p.outs.close())
	}
	return errors.Join(errs...)
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
	now := p.cfg.Now()
	if n, err := p.j.GrantsOn(now); err != nil {
		p.log.Warn("could not read today's POST count from the journal; a daily cap counts from 0", "error", err)
	} else {
		p.cfg.Quota.RestoreSpent(now, n)
	}
	p.cfg.Quota.OnGrant(p.journalGrant)
}

// journalGrant records a POST slot before its request is sent. Failing to
// only costs the next run its pacing: it is logged once.
func (p *Pipeline) journalGrant(b ratelimit.Bucket, at time.Time) {
	if b != ratelimit.Post && b != ratelimit.RemoveBackgroundPost {
		return // GET limits are far above what polling spends
	}
	p.postsMu.Lock()
	if p.posts == nil {
		p.posts = map[ratelimit.Bucket]int64{}
	}
	p.posts[b]++
	p.postsMu.Unlock()
	if p.cfg.Observer != nil {
		p.cfg.Observer.Granted(string(b), at)
	}
	if err := p.j.AddGrant(string(b), at); err != nil && p.grantWarned.CompareAndSwap(false, true) {
		p.log.Warn("could not journal a request time; a restart right after a stop may draw a 429", "error", err)
	}
}

// restoreJobTimes hands earlier runs' job durations to JobTimes and
// journals this run's from now on.
func (p *Pipeline) restoreJobTimes() {
	jt := p.cfg.JobTimes
	if jt == nil {
		return
	}
	times, err := p.j.JobTimes()
	if err != nil {
		p.log.Warn("could not read how long earlier jobs took; status polling starts from Adobe's guidance", "error", err)
	}
	for key, ds := range times {
		jt.Seed(key, ds)
	}
	jt.OnLearn(func(key string, d time.Duration) {
		if err := p.j.AddJobTime(key, d); err != nil {
			p.log.Debug("could not journal a job's duration", "error", err)
		}
	})
}

// JournalFile is the journal's name inside the state folder.
const JournalFile = "journal.db"

// StateDir is the state folder of output folder out when none is given
// (-state): OUT/.hotfolder. It is the one place that knows the name.
func StateDir(out string) string { return filepath.Join(out, ".hotfolder") }

// Close releases the state folder. Call it after Run has returned.
func (p *Pipeline) Close() error {
	if p.cfg.Quota != nil {
		p.cfg.Quota.OnGrant(nil)
	}
	if p.cfg.JobTimes != nil {
		p.cfg.JobTimes.OnLearn(nil)
	}
	return p.closeState()
}

// Records calls fn with every record of the journal, in Rel order, while
// the run holds it (another process cannot read it then): the live review
// page reads it so. It may be called from any goroutine until Close.
func (p *Pipeline) Records(fn func(journal.Record) error) error { return p.j.Each(fn) }

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
		Copies:        p.copied.Load(),
		Posts:         p.postsSpent(),
		PostsSaved:    p.saved.Load(),
		PerFile:       p.cfg.PerFile,
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
	if h := p.halted.Load(); h != nil {
		s.Halted = *h
	}
	return s
}

// Failures returns the inputs that ended failed so far, in the order they
// failed, skipping the first from of them (a caller that has seen those
// passes their number). It is safe to call while Run runs.
func (p *Pipeline) Failures(from int) []Failure {
	p.failMu.Lock()
	defer p.failMu.Unlock()
	from = min(max(from, 0), len(p.failures))
	return append([]Failure(nil), p.failures[from:]...)
}

// Posts returns the POSTs granted this run, by quota bucket (when
// Config.Quota is set): every request sent on a POST bucket, retries
// included.
func (p *Pipeline) Posts() map[ratelimit.Bucket]int64 {
	p.postsMu.Lock()
	defer p.postsMu.Unlock()
	return maps.Clone(p.posts)
}

// postsSpent is the sum of Posts.
func (p *Pipeline) postsSpent() int64 {
	p.postsMu.Lock()
	defer p.postsMu.Unlock()
	var n int64
	for _, c := range p.posts {
		n += c
	}
	return n
}

// summary is the outcome so far; call it when no worker is running.
func (p *Pipeline) summary() Summary {
	s := Summary{Stats: p.Stats(), Failures: p.Failures(0)}
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
	p.settleLeftovers()
	close(statusDone)
	<-statusWritten
	sum := p.summary()
	if err != nil && !uploader.IsFatal(err) && ctx.Err() != nil {
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
