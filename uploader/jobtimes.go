package uploader

import (
	"math"
	"slices"
	"sync"
	"time"
)

// JobTimes learns how long the jobs of each API and operation take, and
// plans when to ask for a job's status: the first GET near the job's
// expected end, then GETs close together while jobs of its kind usually
// end, then backing off. Until it has learned enough (minSamples jobs), a
// job is polled as Config.Poll says: Adobe's guidance, a first GET after
// 2 s, then ×1.5, at most 30 s.
//
// It learns from the status answer's createdTime and modifiedTime, which
// give the job's own duration at Adobe whatever the polling; an answer
// without them teaches the middle of the last two GETs' times, when the
// earlier GET saw the job still running. Safe for concurrent use; the zero
// value is not usable: make it with [NewJobTimes].
type JobTimes struct {
	mu      sync.Mutex
	byKey   map[string][]time.Duration // the latest maxJobSamples, oldest first
	onLearn func(key string, d time.Duration)
}

// NewJobTimes returns a JobTimes that knows nothing yet.
func NewJobTimes() *JobTimes { return &JobTimes{byKey: map[string][]time.Duration{}} }

const (
	// maxJobSamples is how many of the latest durations of a key are kept:
	// enough for its quantiles, few enough to follow a change of pace.
	maxJobSamples = 64
	// minSamples is how many durations a key needs before its plan is
	// learned rather than the default.
	minSamples = 5
	// fineRatio spaces the GETs around a job's expected end: each at
	// fineRatio times the previous one's time, so a job ending between
	// two is seen at most fineRatio-1 (12 %) of its duration late.
	fineRatio = 1.12
	// minPollWait is the least wait between two GETs of one job.
	minPollWait = 50 * time.Millisecond
)

// Seed adds durations learned earlier (by an earlier run) to key's.
func (t *JobTimes) Seed(key string, ds []time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.add(key, ds...)
}

// OnLearn calls fn with every duration learned from now on, e.g. to keep
// it for the next run; nil stops it.
func (t *JobTimes) OnLearn(fn func(key string, d time.Duration)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.onLearn = fn
}

// learn notes that a job of key took d.
func (t *JobTimes) learn(key string, d time.Duration) {
	if d <= 0 || d > 24*time.Hour {
		return // a clock gone wrong, not a job
	}
	t.mu.Lock()
	t.add(key, d)
	fn := t.onLearn
	t.mu.Unlock()
	if fn != nil {
		fn(key, d)
	}
}

func (t *JobTimes) add(key string, ds ...time.Duration) {
	all := append(t.byKey[key], ds...)
	if len(all) > maxJobSamples {
		all = slices.Clone(all[len(all)-maxJobSamples:])
	}
	t.byKey[key] = all
}

// plan is when to poll a job of key, the default policy def until enough
// is known.
func (t *JobTimes) plan(key string, def PollPolicy) pollPlan {
	fallback := pollPlan{first: def.Initial, factor: def.Factor, max: def.Max}
	if t == nil {
		return fallback
	}
	t.mu.Lock()
	ds := slices.Clone(t.byKey[key])
	t.mu.Unlock()
	if len(ds) < minSamples {
		return fallback
	}
	slices.Sort(ds)
	q05, q50, q95 := quantile(ds, 0.05), quantile(ds, 0.5), quantile(ds, 0.95)
	// The first GET late enough that most jobs need at most two (half of
	// them are done by about the median), early enough that the quickest
	// are not kept waiting long; then close together until nearly every
	// job of the kind has ended.
	first := max(time.Duration(float64(q05)*fineRatio), time.Duration(float64(q50)/math.Sqrt(fineRatio)))
	return pollPlan{first: first, ratio: fineRatio, until: time.Duration(float64(q95) * fineRatio),
		factor: def.Factor, max: def.Max}
}

// quantile is the q-quantile of sorted ds, interpolated.
func quantile(ds []time.Duration, q float64) time.Duration {
	pos := q * float64(len(ds)-1)
	i := int(pos)
	if i+1 >= len(ds) {
		return ds[len(ds)-1]
	}
	frac := pos - float64(i)
	return ds[i] + time.Duration(frac*float64(ds[i+1]-ds[i]))
}

// pollPlan is when a job's status is asked for: the first GET first after
// the job was submitted; then, while before until, each GET at ratio times
// the previous one's time since submission; then each wait factor times
// the one before, at most max.
type pollPlan struct {
	first  time.Duration
	ratio  float64 // 0: no close GETs
	until  time.Duration
	factor float64
	max    time.Duration
}

// next returns the wait after a GET made at since the job's submission,
// the wait before it having been last. A job polled by the default plan
// until something was learned (it was submitted before any job of its
// kind had ended) switches to the learned one here.
func (p pollPlan) next(since, last time.Duration) time.Duration {
	switch {
	case p.ratio > 1 && since < p.first:
		return max(p.first-since, minPollWait)
	case p.ratio > 1 && since < p.until:
		return max(time.Duration(float64(since)*(p.ratio-1)), minPollWait)
	}
	return min(max(time.Duration(float64(last)*p.factor), minPollWait), p.max)
}
