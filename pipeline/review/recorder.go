package review

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"hotfolder/pipeline"
	"hotfolder/pipeline/journal"
	"hotfolder/ratelimit"
)

// Dir is the review folder's name in the state folder.
const Dir = "review"

// nightFile keeps a run's [Night] in the review folder.
const nightFile = "night.json"

// Options configure a [Recorder].
type Options struct {
	State                      string // state folder; the review is STATE/review
	In, Out, Processed, Failed string // the run's folders (absolute)

	// Records reads the journal the run holds, for the live page
	// (*pipeline.Pipeline.Records); Stats and Quota are its counters.
	// All are called while the page is read, from any goroutine. Records
	// and Stats may be given later, with Attach, once the pipeline exists.
	Records func(fn func(journal.Record) error) error
	Stats   func() pipeline.Stats
	Quota   func() ratelimit.Stats

	Queue  int          // thumbnails waiting at most; default 4096 (more are made by Build)
	Logger *slog.Logger // nil = discard
	Now    func() time.Time
}

// Recorder is a run's side of the review: the pipeline's Observer, it
// thumbnails inputs and outputs as they end, on a goroutine of its own,
// counts POSTs over time, and serves the live page ([Recorder.Handler]).
// Create it with [NewRecorder] and [Recorder.Close] it after the run.
type Recorder struct {
	opt   Options
	th    thumbs
	queue chan journal.Record
	done  chan struct{}

	mu       sync.Mutex
	closed   bool
	night    Night
	unhashed map[string]string // Rel → input thumbnail, for inputs without a hash in the journal
	// throttlesBefore are the 429s of the night's earlier runs.
	throttlesBefore int64

	version atomic.Int64 // changes as records end and thumbnails land
	dropped atomic.Int64

	cacheMu sync.Mutex
	cacheV  int64
	cacheAt time.Time
	cache   []byte
}

// NewRecorder makes the review folder and a Recorder for one run, which
// thumbnails what ends until ctx ends or Close.
func NewRecorder(ctx context.Context, opt Options) (*Recorder, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Queue <= 0 {
		opt.Queue = 4096
	}
	dir := filepath.Join(opt.State, Dir)
	if err := os.MkdirAll(filepath.Join(dir, "thumbs"), 0o777); err != nil {
		return nil, fmt.Errorf("review folder: %w", err)
	}
	r := &Recorder{opt: opt, th: newThumbs(filepath.Join(dir, "thumbs")), queue: make(chan journal.Record, opt.Queue), done: make(chan struct{}),
		unhashed: map[string]string{}}
	r.night = Night{In: opt.In, Out: opt.Out, Processed: opt.Processed, Failed: opt.Failed,
		Started: opt.Now(), Posts: map[string]map[int64]int{}}
	// A run restarted (after a crash, say) goes on with the same night.
	if last := readNight(opt.State); !last.Started.IsZero() && r.night.Started.Sub(last.Updated) < sameNight {
		r.night.Started, r.night.Throttles = last.Started, last.Throttles
		if last.Posts != nil {
			r.night.Posts = last.Posts
		}
	}
	r.throttlesBefore = r.night.Throttles
	if err := r.save(r.snapshotWith(false)); err != nil { // the folders, for Build, even if the run dies
		return nil, err
	}
	go r.work(ctx)
	return r, nil
}

// sameNight is how soon after the last run's latest save a run goes on
// with its night rather than starting another.
const sameNight = 12 * time.Hour

// saveEvery is how often the night is saved while the run goes, so that
// a run killed keeps most of its chart.
const saveEvery = time.Minute

// work makes the queued thumbnails, and saves the night now and then,
// until Close or ctx ends.
func (r *Recorder) work(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(saveEvery)
	defer t.Stop()
	for {
		select {
		case rec, ok := <-r.queue:
			if !ok {
				return
			}
			start := time.Now()
			r.thumbnail(rec)
			if !r.rest(ctx, time.Since(start)) {
				return
			}
		case <-t.C:
			if err := r.save(r.snapshot()); err != nil {
				r.opt.Logger.Debug("could not save the review's night", "error", err)
			}
		case <-ctx.Done():
			return
		}
	}
}

// Attach gives the Recorder the run's journal and counters, once the
// pipeline that is its Observer exists (see Options.Records, Stats).
func (r *Recorder) Attach(records func(fn func(journal.Record) error) error, stats func() pipeline.Stats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opt.Records, r.opt.Stats = records, stats
}

// rest waits as long as the last thumbnail took, while the run goes, so
// thumbnails take at most half of one core from the workers (at Adobe's
// pace they need a few percent); it reports false if ctx ended.
func (r *Recorder) rest(ctx context.Context, took time.Duration) bool {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return true // Close waits for the queue: no resting
	}
	t := time.NewTimer(took)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Ended queues rec's thumbnails; see [pipeline.Observer]. A full queue
// drops it (Build makes what is missing): the workers never wait here.
func (r *Recorder) Ended(rec journal.Record) {
	r.version.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	select {
	case r.queue <- rec:
	default:
		r.dropped.Add(1)
	}
}

// Granted counts a POST in its 10 s slot; see [pipeline.Observer].
func (r *Recorder) Granted(bucket string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	per := r.night.Posts[bucket]
	if per == nil {
		per = map[int64]int{}
		r.night.Posts[bucket] = per
	}
	per[at.Truncate(postSlot).Unix()]++
}

// thumbnail makes rec's input and first output thumbnails; a failure is
// logged, never more: the file itself is done.
func (r *Recorder) thumbnail(rec journal.Record) {
	before, _, err := makeThumbs(r.th, r.snapshot(), &rec)
	if err != nil {
		r.opt.Logger.Debug("no review thumbnail", "file", rec.Rel, "error", err)
	}
	if rec.SHA256 == "" && before != "" {
		r.mu.Lock()
		r.unhashed[rec.Rel] = before
		r.mu.Unlock()
	}
	r.version.Add(1)
}

// makeThumbs makes rec's thumbnails, finding its input where the run may
// have moved it, and returns their names ("" for none). An input that
// failed before its upload has no hash in the journal: it is hashed here.
func makeThumbs(th thumbs, n Night, rec *journal.Record) (before, after string, err error) {
	var errs []error
	if before = th.find(rec.SHA256); before == "" && (rec.SHA256 != "" || rec.State == journal.Failed) {
		before, err = th.make(findInput(n, rec.Rel), rec.SHA256)
		errs = append(errs, err)
	}
	if len(rec.OutputSHA256s) > 0 && len(rec.Outputs) > 0 && n.Out != "" {
		if after = th.find(rec.OutputSHA256s[0]); after == "" {
			after, err = th.make(filepath.Join(n.Out, filepath.FromSlash(rec.Outputs[0])), rec.OutputSHA256s[0])
			errs = append(errs, err)
		}
	}
	return before, after, errors.Join(errs...)
}

// findInput is where input rel is now: in the hot folder, or moved to the
// processed or failed folder.
func findInput(n Night, rel string) string {
	var first string
	for _, dir := range []string{n.In, n.Processed, n.Failed} {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if first == "" {
			first = p
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return first
}

func (r *Recorder) snapshot() Night { return r.snapshotWith(true) }

// snapshotWith copies the night, with the run's counters when live (not
// before the pipeline exists).
func (r *Recorder) snapshotWith(live bool) Night {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.night
	n.Updated = r.opt.Now()
	n.Posts = make(map[string]map[int64]int, len(r.night.Posts))
	for b, per := range r.night.Posts {
		n.Posts[b] = make(map[int64]int, len(per))
		for m, k := range per {
			n.Posts[b][m] = k
		}
	}
	if !live {
		return n
	}
	if r.opt.Stats != nil {
		n.Skipped = r.opt.Stats().Skipped
	}
	if r.opt.Quota != nil {
		n.Throttles = r.throttlesBefore // the earlier runs' of the night
		for _, bs := range r.opt.Quota() {
			n.Throttles += bs.Throttles
		}
	}
	return n
}

// Close stops taking thumbnails, makes those queued (unless the context
// given to NewRecorder ended), and saves the night for Build.
func (r *Recorder) Close() error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
	}
	r.mu.Unlock()
	<-r.done
	if n := r.dropped.Load(); n > 0 {
		r.opt.Logger.Info("review thumbnails left for hotfolder review to make", "count", n)
	}
	r.mu.Lock()
	r.night.Ended = r.opt.Now()
	r.mu.Unlock()
	return r.save(r.snapshot())
}

// save writes n to night.json, atomically.
func (r *Recorder) save(n Night) error {
	data, err := json.Marshal(n)
	if err != nil {
		return err
	}
	name := filepath.Join(r.opt.State, Dir, nightFile)
	if err := os.WriteFile(name+".tmp", data, 0o666); err != nil {
		return fmt.Errorf("review: %w", err)
	}
	return os.Rename(name+".tmp", name)
}

// readNight reads the last run's night; none is the zero Night.
func readNight(state string) Night {
	var n Night
	data, err := os.ReadFile(filepath.Join(state, Dir, nightFile))
	if err == nil {
		json.Unmarshal(data, &n) // a damaged file costs only the chart
	}
	return n
}
