package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Options tune a [Set]. The zero value means the defaults.
type Options struct {
	// Margin is the fraction of each window added as a safety margin:
	// requests are spaced (Window+margin)/N apart. Default 0.02. The
	// margin is never zero: it absorbs network jitter.
	Margin float64
	// MinMargin is the least margin whatever the window, since network
	// jitter is absolute, not a fraction of the window. Default 20ms.
	MinMargin time.Duration
	// MaxPause caps every pause after a 429, Retry-After included.
	// Default 60s.
	MaxPause time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// NewTimer returns a channel that receives once d has passed and a
	// function that stops the timer, like time.NewTimer. Tests pass a fake
	// clock here together with Now.
	NewTimer func(d time.Duration) (<-chan time.Time, func() bool)
	// Rand returns a number in [0,1) to jitter back-off pauses. It must be
	// safe for concurrent use. Default math/rand/v2's Float64.
	Rand func() float64

	// Slowdown multiplies a bucket's rate after each 429 that is not part
	// of a pause already under way: a 429 while hotfolder keeps under the
	// limit means someone else (another client of the organization) uses
	// the quota too. Default 0.7; 1 keeps the rate.
	Slowdown float64
	// MinRate is the fraction of the limit below which the rate is never
	// lowered. Default 0.1.
	MinRate float64
	// Recovery is the fraction of the limit a slowed bucket regains per
	// window without a 429, once its pause has ended: from 0.7 back to
	// the full rate takes 6 windows at the default 0.05.
	Recovery float64

	// MaxPosts, when positive, caps the requests granted on the POST
	// buckets (Post and RemoveBackgroundPost together) over the Set's
	// life: the cost guard of one run. Wait then fails with
	// ErrPostBudgetSpent instead of granting more.
	MaxPosts int64

	// DailyPosts, when positive, caps the requests granted on the POST
	// buckets per UTC day (by Now), counting those [Set.RestoreSpent]
	// reports from earlier runs. Wait then fails with ErrDailyCapReached.
	DailyPosts int64
}

// ErrPostBudgetSpent is Wait's error once Options.MaxPosts POSTs were
// granted.
var ErrPostBudgetSpent = errors.New("ratelimit: the POST budget of this run (-max-posts) is spent")

// ErrDailyCapReached is Wait's error once Options.DailyPosts POSTs were
// granted on the current UTC day.
var ErrDailyCapReached = errors.New("ratelimit: the daily POST cap (-daily-posts) is reached")

// A Set paces requests against a [Profile]: one limiter per bucket, shared
// by every worker of a run, since Adobe counts requests per organization.
//
// Each bucket is a [rate.Limiter] with burst 1 and rate N/(Window+margin),
// margin = max(MinMargin, Margin×Window). Grants therefore come at least
// [Set.Interval] apart and any N+1 of them span Window+margin: no window of
// length Window ever holds more than N requests, even when requests reach
// the server later than granted by amounts that differ by less than margin,
// while the bucket still runs at Window/(Window+margin) of its limit (98% by
// default). A burst of N would admit 2N requests in one window.
//
// A 429 reported with [Set.Throttled] pauses its bucket for every caller
// of [Set.Wait], not only the one that got it; other buckets go on. It also
// lowers the bucket's rate, which recovers gradually (see [Options]).
//
// Most callers want Wait before each request and Throttled on each 429.
// [Set.Stats] reports who is waiting, for a progress display.
//
// Adobe's windows do not restart with the process: a run started right
// after a killed one would add up to N requests to the window the killed run
// was still filling. To resume its pacing, journal each grant [Set.OnGrant]
// reports and hand the recent ones to [Set.Restore] in the next process.
//
// The zero value has no buckets: Wait reports every bucket unknown. Use
// [New]. A Set is safe for concurrent use by multiple goroutines.
type Set struct {
	buckets  map[Bucket]*bucket
	maxPause time.Duration
	slowdown float64
	minRate  float64
	recovery float64
	maxPosts int64
	posts    atomic.Int64 // POSTs granted or being waited for, against maxPosts
	daily    dailyCount   // POSTs of the UTC day, against Options.DailyPosts
	now      func() time.Time
	newTimer func(d time.Duration) (<-chan time.Time, func() bool)
	rand     func() float64

	onGrant atomic.Pointer[func(Bucket, time.Time)] // see OnGrant; nil if none
}

// bucket is one quota's limiter and 429 state.
type bucket struct {
	limit    Limit
	span     time.Duration // Window+margin: the least time any N+1 grants span
	interval time.Duration
	full     rate.Limit // the rate when not slowed: one per interval

	mu          sync.Mutex
	lim         *rate.Limiter // replaced by reset
	pausedUntil time.Time
	paused      chan struct{} // closed (and replaced) when queued slots are taken back
	lastGrant   time.Time     // the latest slot a caller got through with, or restored request
	resumeAt    time.Time     // no grant before this, for the restored requests' window
	streak      int           // consecutive 429s, for the back-off
	throttles   int64
	waited      time.Duration
	waiters     map[uint64]*waiter // callers in Wait, by id
	nextID      uint64

	// The rate is lowered after a 429 and recovers in steps: at time t it
	// is full × min(1, slowTo + recovery × ⌊(t−slowFrom)/Window⌋).
	slowTo   float64   // fraction of full right after the last slowdown; 1 = not slowed
	slowFrom time.Time // when recovery starts: the end of that 429's pause
	factor   float64   // the fraction lim is set to now
}

// waiter is one caller blocked in Wait.
type waiter struct {
	began time.Time
	r     *rate.Reservation // its queued slot; nil once a pause took it back
	at    time.Time         // when that slot is
}

// New returns a Set with one limiter for each bucket of p. It panics if a
// limit in p is not positive; [ParseLimit] never returns such a limit.
func New(p Profile, opt Options) *Set {
	if opt.Margin <= 0 {
		opt.Margin = 0.02
	}
	if opt.MinMargin <= 0 {
		opt.MinMargin = 20 * time.Millisecond
	}
	if opt.Slowdown <= 0 || opt.Slowdown > 1 {
		opt.Slowdown = 0.7
	}
	if opt.MinRate <= 0 || opt.MinRate > 1 {
		opt.MinRate = 0.1
	}
	if opt.Recovery <= 0 {
		opt.Recovery = 0.05
	}
	s := &Set{
		buckets:  make(map[Bucket]*bucket, len(p)),
		maxPause: opt.MaxPause,
		slowdown: opt.Slowdown,
		maxPosts: opt.MaxPosts,
		daily:    dailyCount{cap: opt.DailyPosts},
		minRate:  opt.MinRate,
		recovery: opt.Recovery,
		now:      opt.Now,
		newTimer: opt.NewTimer,
		rand:     opt.Rand,
	}
	if s.maxPause <= 0 {
		s.maxPause = 60 * time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newTimer == nil {
		s.newTimer = func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		}
	}
	if s.rand == nil {
		s.rand = rand.Float64
	}
	for b, l := range p {
		if l.N <= 0 || l.Window <= 0 {
			panic(fmt.Sprintf("ratelimit: bucket %q: limit %v is not positive", b, l))
		}
		margin := max(opt.MinMargin, time.Duration(opt.Margin*float64(l.Window)))
		// Round up: a grant a nanosecond early could put N+1 in a window.
		interval := (l.Window + margin + time.Duration(l.N) - 1) / time.Duration(l.N)
		s.buckets[b] = &bucket{
			limit:    l,
			span:     l.Window + margin,
			interval: interval,
			lim:      rate.NewLimiter(rate.Every(interval), 1),
			full:     rate.Every(interval),
			slowTo:   1,
			factor:   1,
			paused:   make(chan struct{}),
			waiters:  make(map[uint64]*waiter),
		}
	}
	return s
}

// Limit returns the limit of bucket b, and whether s has b.
func (s *Set) Limit(b Bucket) (Limit, bool) {
	bk := s.buckets[b]
	if bk == nil {
		return Limit{}, false
	}
	return bk.limit, true
}

// Interval returns the spacing of grants on b, (Window+margin)/N rounded up
// to a nanosecond (x/time/rate may grant a nanosecond sooner, converting
// through float64 seconds); 0 if s has no bucket b.
func (s *Set) Interval(b Bucket) time.Duration {
	if bk := s.buckets[b]; bk != nil {
		return bk.interval
	}
	return 0
}

// Wait blocks until one request may be sent on b, or ctx is done. It first
// waits out any pause on b, then for b's next free slot. If a pause begins
// meanwhile, the slot is taken back and the caller queues again once the
// pause ends, so callers resume evenly spaced rather than all at once. If ctx
// is done first, Wait gives its slot back, which may let others go sooner,
// and returns ctx.Err().
func (s *Set) Wait(ctx context.Context, b Bucket) error {
	bk := s.buckets[b]
	if bk == nil {
		return fmt.Errorf("ratelimit: unknown bucket %q", b)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	giveBack, err := s.charge(b)
	if err != nil {
		return err
	}
	w, id := bk.enter(s.now())
	at, err := s.wait(ctx, bk, w)
	bk.leave(id, s.now())
	if err != nil {
		giveBack() // not granted: it does not count
		return err
	}
	// Outside the lock: the callback may write to disk, and the bucket's
	// other callers must not queue behind it.
	if fn := s.onGrant.Load(); fn != nil {
		(*fn)(b, at)
	}
	return nil
}

// charge counts a request on b against the POST budget and the daily cap
// before it waits, so that callers waiting at once cannot overshoot them
// together; giveBack undoes it for a request that is not granted.
func (s *Set) charge(b Bucket) (giveBack func(), err error) {
	if b != Post && b != RemoveBackgroundPost {
		return func() {}, nil
	}
	budget := s.maxPosts > 0
	if budget && s.posts.Add(1) > s.maxPosts {
		s.posts.Add(-1)
		return nil, ErrPostBudgetSpent
	}
	day, ok := s.daily.take(s.now())
	if !ok {
		if budget {
			s.posts.Add(-1)
		}
		return nil, ErrDailyCapReached
	}
	return func() {
		if budget {
			s.posts.Add(-1)
		}
		s.daily.give(day)
	}, nil
}

// RestoreSpent tells the Set that n POSTs were spent on day's UTC date
// before it started (by earlier runs), against Options.DailyPosts. A day
// that is not today's changes nothing.
func (s *Set) RestoreSpent(day time.Time, n int64) { s.daily.restore(s.now(), day, n) }

// dailyCount counts the POSTs of the current UTC day against a cap.
type dailyCount struct {
	cap   int64 // 0: no cap, nothing counted
	mu    sync.Mutex
	day   string // the UTC date counted, YYYY-MM-DD
	count int64  // POSTs granted or being waited for on day
}

func utcDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// take counts one POST at now, unless the cap is reached; it returns the
// day it was counted on.
func (d *dailyCount) take(now time.Time) (string, bool) {
	if d.cap <= 0 {
		return "", true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if today := utcDay(now); today != d.day {
		d.day, d.count = today, 0
	}
	if d.count >= d.cap {
		return "", false
	}
	d.count++
	return d.day, true
}

// give takes back a POST counted on day by take.
func (d *dailyCount) give(day string) {
	if d.cap <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.day == day && d.count > 0 {
		d.count--
	}
}

// restore adds n POSTs spent on day, if day is today at now.
func (d *dailyCount) restore(now, day time.Time, n int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	today := utcDay(now)
	if utcDay(day) != today {
		return
	}
	if d.day != today {
		d.day, d.count = today, 0
	}
	d.count += n
}

// wait queues w on bk until its slot comes and returns the slot's time.
func (s *Set) wait(ctx context.Context, bk *bucket, w *waiter) (time.Time, error) {
	for {
		// Check for a pause and queue under one lock, so that a pause
		// beginning now either is seen here or takes the slot back.
		bk.mu.Lock()
		now := s.now()
		// Restore's hold is waited out like a pause rather than set in
		// lim: x/time/rate takes a reservation dated after now as made
		// now, so it cannot keep the next slot further off than one
		// interval. Unlike a pause, the hold is no 429: Stats and the
		// back-off streak ignore it.
		if until := later(bk.pausedUntil, bk.resumeAt); now.Before(until) {
			bk.mu.Unlock()
			// Wait it out, then look again: the pause may have grown.
			if err := s.sleep(ctx, until.Sub(now), nil); err != nil {
				return time.Time{}, err
			}
			continue
		}
		s.recover(bk, now)
		r := bk.lim.ReserveN(now, 1)
		delay := r.DelayFrom(now)
		w.r, w.at = r, now.Add(delay)
		paused := bk.paused
		bk.mu.Unlock()

		err := s.sleep(ctx, delay, paused)
		bk.mu.Lock()
		kept := w.r != nil // else a pause began and took the slot back
		w.r = nil
		switch {
		case kept && err == nil:
			bk.lastGrant = later(bk.lastGrant, w.at)
		case kept && w.at.After(s.now()):
			// Give the slot back, which lets the others go sooner.
			bk.reset()
		}
		bk.mu.Unlock()
		if err != nil {
			return time.Time{}, err
		}
		if kept {
			return w.at, nil
		}
	}
}

// OnGrant makes fn be called once for each successful [Set.Wait], with the
// bucket and the time of the slot granted, before Wait returns: a caller
// that journals grants for [Set.Restore] can make each durable before the
// request goes out. fn replaces any earlier callback; nil removes it.
//
// fn runs in the goroutine of the Wait it reports, outside every lock, so
// it may call the Set, and a slow fn (an fsync) delays that one request, not
// the others on its bucket. It must be safe for concurrent use: Waits call
// it from their own goroutines, not necessarily in the order of their
// slots. A Wait that fails (ctx done, POST budget spent) reports nothing.
// [Set.Stats] no longer counts a caller as waiting once its fn is called.
//
// The slot's time precedes the request's departure by fn's own time and
// the timer's lateness; the margin absorbs such small gaps, as it does
// network jitter.
func (s *Set) OnGrant(fn func(b Bucket, at time.Time)) {
	if fn == nil {
		s.onGrant.Store(nil)
		return
	}
	s.onGrant.Store(&fn)
}

// Restore tells b about requests an earlier process sent on it, at the
// times in grants: any order, and an equal time counts once (b never grants
// two slots at one instant, so it is one request journaled twice). b's next
// grant then comes no sooner than one interval (slowed, if b is) after the
// latest of them, nor sooner than keeps every window of length
// Window+margin at N requests or fewer, theirs and b's together: with N or
// more restored, no sooner than the Nth-latest + Window + margin. Requests
// older than that change nothing; nor does a bucket s does not have.
//
// The window bound looks past the Nth-latest too: b's next grants may come
// one full interval apart, so if the earlier run sent its last requests
// closer together than that (it ran with looser limits), a later one may
// bind instead, for b's second grant or its third.
//
// If the latest request lies ahead of the clock (the clock stepped back
// since the earlier run), all of them are moved back together until it is
// now, as if that run had just stopped: b then waits at most Window+margin.
//
// Restore is meant for the start of a run, before the first Wait on b: it
// counts the restored requests against the window, but not b's own grants.
// It is safe at any time, though: callers already queued give their slots
// back and queue again behind it. Restored requests do not count against
// Options.MaxPosts, which caps this run's own.
func (s *Set) Restore(b Bucket, grants []time.Time) {
	bk := s.buckets[b]
	if bk == nil || len(grants) == 0 {
		return
	}
	recent := latest(grants, bk.limit.N)
	bk.mu.Lock()
	defer bk.mu.Unlock()
	now := s.now()
	if skew := recent[len(recent)-1].Sub(now); skew > 0 {
		for i := range recent {
			recent[i] = recent[i].Add(-skew)
		}
	}
	last, resume := recent[len(recent)-1], bk.resumeAfter(recent)
	moved := last.After(bk.lastGrant)
	held := resume.After(later(bk.resumeAt, now))
	bk.lastGrant = later(bk.lastGrant, last)
	bk.resumeAt = later(bk.resumeAt, resume)
	if moved || held {
		// Take back the queued slots, which may lie inside the hold or
		// within an interval of the restored request: their callers queue
		// again behind both.
		bk.reset()
	}
}

// latest returns the n latest distinct times of ts, oldest first, in a new
// slice.
func latest(ts []time.Time, n int) []time.Time {
	ts = slices.SortedFunc(slices.Values(ts), time.Time.Compare)
	ts = slices.CompactFunc(ts, time.Time.Equal)
	return ts[max(0, len(ts)-n):]
}

// resumeAfter returns the earliest time b's first grant may come after the
// requests in recent (at most N of them, oldest first) so that no N+1 of
// them and b's grants span less than Window+margin. b's i-th grant (from 1)
// must come Window+margin after the request N before it, restored for
// i ≤ N, and comes at least i−1 full intervals after its first: b never
// spaces grants closer, whatever its rate does meanwhile.
func (bk *bucket) resumeAfter(recent []time.Time) time.Time {
	var at time.Time
	for j, r := range recent {
		i := j + bk.limit.N - len(recent) + 1
		at = later(at, r.Add(bk.span-time.Duration(i-1)*bk.interval))
	}
	return at
}

// sleep blocks for d or until wake is closed (a nil wake never is), or
// until ctx is done, when it returns ctx.Err().
func (s *Set) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	if d <= 0 {
		return nil
	}
	ch, stop := s.newTimer(d)
	defer stop()
	select {
	case <-ch:
		return nil
	case <-wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Throttled reports a 429 on b. Every caller of [Set.Wait] on b pauses until
// now+pause: retryAfter when positive (the server's Retry-After), else an
// exponential back-off starting at max(2×Window/N, 1s), doubling with each
// consecutive 429 on b and jittered by ×[1, 1.25). Both are capped at
// Options.MaxPause.
//
// Concurrent 429s do not stack: a pause only ever grows to the latest end
// asked for, and a 429 that arrives while b is paused (a request sent before
// the pause began) does not count towards the streak. The streak ends once b
// has run for a full window since its last pause without a 429.
// Throttled on a bucket s does not have does nothing.
func (s *Set) Throttled(b Bucket, retryAfter time.Duration) {
	bk := s.buckets[b]
	if bk == nil {
		return
	}
	now := s.now()
	bk.mu.Lock()
	defer bk.mu.Unlock()
	bk.throttles++
	if !now.Before(bk.pausedUntil.Add(bk.limit.Window)) {
		bk.streak = 0
	}
	// A 429 during a pause answers a request sent before it began.
	counted := !now.Before(bk.pausedUntil)
	if counted {
		bk.streak++
	}
	pause := min(retryAfter, s.maxPause)
	if retryAfter <= 0 {
		pause = s.backoff(bk.limit, bk.streak)
	}
	changed := false
	if until := now.Add(pause); until.After(bk.pausedUntil) {
		bk.pausedUntil = until
		changed = true
	}
	if counted && s.slowdown < 1 {
		// Slow down from the rate in force now, recovery included.
		s.recover(bk, now)
		bk.slowTo = max(s.minRate, bk.factor*s.slowdown)
		bk.slowFrom = bk.pausedUntil
		bk.factor = bk.slowTo
		changed = true
	}
	if changed {
		bk.reset()
	}
}

// recover raises a slowed bucket's rate towards the full rate, one step
// of Options.Recovery per window from the end of the pause that slowed it.
// bk.mu must be held.
func (s *Set) recover(bk *bucket, now time.Time) {
	if bk.slowTo >= 1 {
		return
	}
	f := bk.slowTo
	if now.After(bk.slowFrom) {
		f += s.recovery * float64(now.Sub(bk.slowFrom)/bk.limit.Window)
	}
	if f >= 1 {
		bk.slowTo, f = 1, 1
	}
	if f != bk.factor {
		// Slots queued at the slower rate are taken back: a faster rate
		// would otherwise grant new slots among them, closer than an
		// interval to a queued one. Steps come at most once a window.
		bk.factor = f
		bk.reset()
	}
}

// reset takes back every queued slot and starts the limiter afresh at
// factor × the full rate, as if the last slot granted were its only one:
// the next grant comes one (slowed) interval after it, and then every
// waiter queues again once any pause has ended, evenly spaced, instead of
// all at once when the pause ends. Rebuilding is exact where x/time/rate's
// CancelAt is not: it returns a slot's token only when the slot after it
// was cancelled at exactly the time it computes back, which float rounding
// of queued slots' times breaks, losing the rest of the queue's tokens (the
// bucket then stalls for as long as the queue was). bk.mu must be held.
func (bk *bucket) reset() {
	for _, w := range bk.waiters {
		w.r = nil
	}
	bk.lim = rate.NewLimiter(bk.full*rate.Limit(bk.factor), 1)
	if !bk.lastGrant.IsZero() {
		bk.lim.ReserveN(bk.lastGrant, 1)
	}
	close(bk.paused) // wake the waiters whose slots were taken back
	bk.paused = make(chan struct{})
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// backoff returns the pause after the streak-th consecutive 429 without
// Retry-After on a bucket limited by l.
func (s *Set) backoff(l Limit, streak int) time.Duration {
	d := max(2*l.Window/time.Duration(l.N), time.Second)
	for i := 1; i < streak && d < s.maxPause; i++ {
		d *= 2
	}
	d = time.Duration(float64(d) * (1 + 0.25*s.rand()))
	return min(d, s.maxPause)
}

func (bk *bucket) enter(now time.Time) (*waiter, uint64) {
	bk.mu.Lock()
	defer bk.mu.Unlock()
	bk.nextID++
	w := &waiter{began: now}
	bk.waiters[bk.nextID] = w
	return w, bk.nextID
}

func (bk *bucket) leave(id uint64, now time.Time) {
	bk.mu.Lock()
	defer bk.mu.Unlock()
	bk.waited += now.Sub(bk.waiters[id].began)
	delete(bk.waiters, id)
}

// Stats is a snapshot of a [Set], by bucket.
type Stats map[Bucket]BucketStats

// BucketStats describes one bucket of a [Set] at one moment.
type BucketStats struct {
	Limit       Limit
	Interval    time.Duration // see [Set.Interval]
	Waiting     int           // callers blocked in Wait now
	LongestWait time.Duration // how long the longest-blocked of them has waited so far
	PausedUntil time.Time     // end of the current 429 pause; zero if not paused
	Throttles   int64         // 429s reported with Throttled
	Rate        float64       // fraction of the limit allowed now: below 1 while slowed after a 429
	Waited      time.Duration // total time callers spent in Wait, over the calls that returned
}

// WaitingOnQuota reports whether a caller is held up by the quota rather
// than by ordinary pacing: it waits on a 429 pause, or has waited longer
// than one interval (so others are queued ahead of it).
func (bs BucketStats) WaitingOnQuota() bool {
	return bs.Waiting > 0 && (!bs.PausedUntil.IsZero() || bs.LongestWait > bs.Interval)
}

// WaitingOnQuota reports whether any bucket is [BucketStats.WaitingOnQuota].
func (st Stats) WaitingOnQuota() bool {
	for _, bs := range st {
		if bs.WaitingOnQuota() {
			return true
		}
	}
	return false
}

// Stats returns a snapshot of every bucket.
func (s *Set) Stats() Stats {
	if len(s.buckets) == 0 {
		return Stats{}
	}
	now := s.now()
	st := make(Stats, len(s.buckets))
	for b, bk := range s.buckets {
		bk.mu.Lock()
		bs := BucketStats{
			Limit:     bk.limit,
			Interval:  bk.interval,
			Waiting:   len(bk.waiters),
			Throttles: bk.throttles,
			Waited:    bk.waited,
			Rate:      bk.factor,
		}
		if bk.slowTo < 1 && now.After(bk.slowFrom) {
			// What Wait would set now; Stats itself changes nothing.
			bs.Rate = min(1, bk.slowTo+s.recovery*float64(now.Sub(bk.slowFrom)/bk.limit.Window))
		}
		if now.Before(bk.pausedUntil) {
			bs.PausedUntil = bk.pausedUntil
		}
		for _, w := range bk.waiters {
			bs.LongestWait = max(bs.LongestWait, now.Sub(w.began))
		}
		bk.mu.Unlock()
		st[b] = bs
	}
	return st
}
