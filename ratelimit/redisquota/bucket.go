package redisquota

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"hotfolder/ratelimit"
)

// bucket is one quota as this process sees it: its callers' FIFO queue and
// the goroutine (run) that holds the process's one reservation for them.
type bucket struct {
	l        *Limiter
	name     ratelimit.Bucket
	limit    ratelimit.Limit
	post     bool
	interval time.Duration
	margin   time.Duration
	keyList  []string // st, pend, log, day, wl
	// Script arguments, in µs of the Redis clock.
	tUS, wUS, mUS, hUS int64
	// lateBudget is how late a slot may fire, measured from the earliest
	// it can be on the local clock (request sent + wait): half the margin,
	// the other half being left for the way to Adobe. A slot later than
	// that is not used: it could crowd the grants after it into a window.
	lateBudget time.Duration

	wake chan struct{} // queue changed or a pause heard of; capacity 1

	throttles atomic.Int64
	reserves  atomic.Int64 // reserve calls, for tests
	lateDrops atomic.Int64 // slots not used for being late, for tests

	// Of run's goroutine only: slots dropped for being late in a row, and
	// when that was last warned of.
	lateStreak int
	lateWarned time.Time

	mu     sync.Mutex
	queue  []*waiter
	closed bool
	held   *held     // the reservation being slept on, nil if none
	pause  pauseInfo // the latest pause heard of
	// before is the latest local end of a pause heard of from another
	// server than pause's: a Redis that lost its state forgets pauses, the
	// processes that heard of them do not.
	before  time.Time
	factor  float64 // the group's rate factor as last heard of
	waited  time.Duration
	own     []time.Time // this process's last N grants, a ring: the local guard
	ownNext int
	warned  bool // the local guard's warning was logged
}

// waiter is one caller blocked in Wait.
type waiter struct {
	began time.Time
	done  chan error // the answer; capacity 1
	at    time.Time  // when granted
}

// held is a reservation the bucket sleeps on.
type held struct {
	req     int64
	srv     string    // run_id of the server that booked it
	slot    int64     // µs on that server's clock
	fireAt  time.Time // local: reply received + (slot − now)
	early   time.Time // local: request sent + (slot − now), the earliest the slot can be
	token   uint64    // subscription epoch when the request was sent
	dropped bool      // a pause covers it
}

// pauseInfo is a pause of the group's bucket.
type pauseInfo struct {
	srv   string
	until int64     // µs on srv's clock
	local time.Time // the same moment on the local clock, as late as it can be
}

// covers reports whether the pause may cover h's slot: exactly when one
// server's clock stamps both, else by the local clock (no later than the
// pause's latest local end).
func (p pauseInfo) covers(h *held) bool {
	switch {
	case p.srv == "":
		return false
	case p.srv == h.srv:
		return h.slot < p.until
	default:
		return h.fireAt.Before(p.local)
	}
}

// covers reports whether a pause heard of may cover h. bk.mu must be held.
func (bk *bucket) covers(h *held) bool {
	return bk.pause.covers(h) || h.fireAt.Before(bk.before)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func newBucket(l *Limiter, b ratelimit.Bucket, lim ratelimit.Limit) *bucket {
	margin := max(l.cfg.MinMargin, time.Duration(l.cfg.Margin*float64(lim.Window)))
	// Round up as ratelimit.Set does: a grant a nanosecond early could put
	// N+1 in a window.
	interval := (lim.Window + margin + time.Duration(lim.N) - 1) / time.Duration(lim.N)
	horizon := l.cfg.Horizon
	if horizon <= 0 {
		horizon = 2 * (lim.Window + margin)
	}
	k := l.keys
	return &bucket{
		l:          l,
		name:       b,
		limit:      lim,
		post:       b == ratelimit.Post || b == ratelimit.RemoveBackgroundPost,
		interval:   interval,
		margin:     margin,
		keyList:    []string{k.st(b), k.pend(b), k.log(b), k.day(), k.wl(b)},
		tUS:        ceilMicros(interval),
		wUS:        ceilMicros(lim.Window),
		mUS:        ceilMicros(margin),
		hUS:        ceilMicros(horizon),
		lateBudget: margin / 2,
		wake:       make(chan struct{}, 1),
		factor:     1,
		own:        make([]time.Time, 0, lim.N),
	}
}

func ceilMicros(d time.Duration) int64 { return int64((d + time.Microsecond - 1) / time.Microsecond) }

func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

func (bk *bucket) signal() {
	select {
	case bk.wake <- struct{}{}:
	default:
	}
}

func (bk *bucket) enqueue(w *waiter) error {
	bk.mu.Lock()
	defer bk.mu.Unlock()
	if bk.closed {
		return errClosed
	}
	bk.queue = append(bk.queue, w)
	bk.signal()
	return nil
}

// remove takes w out of the queue; false if it was answered already.
func (bk *bucket) remove(w *waiter) bool {
	bk.mu.Lock()
	defer bk.mu.Unlock()
	for i, q := range bk.queue {
		if q == w {
			bk.queue = append(bk.queue[:i], bk.queue[i+1:]...)
			bk.signal()
			return true
		}
	}
	return false
}

func (bk *bucket) account(w *waiter) {
	bk.mu.Lock()
	defer bk.mu.Unlock()
	bk.waited += time.Since(w.began)
}

// failAll answers every queued caller with err; closing, also those to come.
func (bk *bucket) failAll(err error, closing bool) {
	bk.mu.Lock()
	defer bk.mu.Unlock()
	for _, w := range bk.queue {
		w.done <- err
	}
	bk.queue = nil
	bk.closed = bk.closed || closing
}

func (bk *bucket) demand() bool {
	bk.mu.Lock()
	defer bk.mu.Unlock()
	return len(bk.queue) > 0
}

// learn takes in a pause and rate heard of (from the channel, a 429 of
// this process, a confirmation) and drops the held slot if the pause
// covers it.
func (bk *bucket) learn(p pauseInfo, factor float64) {
	bk.mu.Lock()
	defer bk.mu.Unlock()
	bk.factor = factor
	switch {
	case p.srv != bk.pause.srv:
		if bk.pause.local.After(bk.before) {
			bk.before = bk.pause.local
		}
		bk.pause = p
	case p.until > bk.pause.until:
		bk.pause = p
	}
	if h := bk.held; h != nil && !h.dropped && bk.covers(h) {
		h.dropped = true
		bk.signal()
	}
}

func (bk *bucket) stats(now time.Time) ratelimit.BucketStats {
	bk.mu.Lock()
	defer bk.mu.Unlock()
	bs := ratelimit.BucketStats{
		Limit:     bk.limit,
		Interval:  bk.interval,
		Waiting:   len(bk.queue),
		Throttles: bk.throttles.Load(),
		Rate:      bk.factor,
		Waited:    bk.waited,
	}
	if until := later(bk.pause.local, bk.before); until.After(now) {
		bs.PausedUntil = until
	}
	for _, w := range bk.queue {
		bs.LongestWait = max(bs.LongestWait, now.Sub(w.began))
	}
	return bs
}

// outcome is how a held reservation ended.
type outcome int

const (
	fired     outcome = iota // granted to the caller at the head
	dropped                  // not used: a pause covers it, it came late, or it could not be confirmed
	abandoned                // no caller wants it any more
	closing                  // the Limiter closes
)

// run serves the bucket's callers until Close: while any wait, it holds one
// reservation at a time in Redis and grants it to the head of the queue
// when it comes. Every failure to reach Redis means no grant: it backs off
// and tries again.
func (bk *bucket) run() {
	l := bk.l
	defer l.wg.Done()
	// unfired is the first of this process's requests since its last grant
	// (0: none): none of their slots, booked or not, was fired. Each
	// request names it, so the script gives back what they booked, even
	// when a reply was lost.
	var unfired int64
	mark := func(req int64) {
		if unfired == 0 {
			unfired = req
		}
	}
	// listed: on the wait list since the last refusal for want of room.
	listed := false
	leave := func() {
		if (unfired != 0 || listed) && bk.giveBack(unfired) {
			unfired, listed = 0, false
		}
	}
	fails := 0
	for {
		if !bk.awaitDemand() {
			leave()
			return
		}
		req := l.reqSeq.Add(1)
		token := l.sub.token()
		sent := time.Now()
		rep, err := bk.reserve(req, unfired)
		recv := time.Now()
		if err != nil || rep.code == codeGranted {
			mark(req) // until it fires
		}
		if l.ctx.Err() != nil {
			leave()
			return
		}
		if err != nil {
			l.health.fail(err)
			fails++
			if !sleepCtx(l.ctx, backoff(fails)) {
				leave()
				return
			}
			continue
		}
		fails = 0
		l.health.ok()
		// The script gave back what the earlier requests booked.
		unfired, listed = 0, rep.code == codeAhead
		if rep.code == codeGranted {
			unfired = req
		}
		bk.note(rep, recv)
		switch rep.code {
		case codeGranted:
			h := &held{
				req: req, srv: rep.srv, slot: rep.slot, token: token,
				fireAt: recv.Add(micros(rep.wait)), early: sent.Add(micros(rep.wait)),
			}
			switch bk.hold(h) {
			case fired:
				unfired = 0
			case dropped:
			case abandoned:
				leave()
			case closing:
				leave()
				return
			}
		case codeAhead, codeHold:
			switch bk.awaitRoom(micros(rep.wait)) {
			case roomClosing:
				leave()
				return
			case roomUnwanted:
				leave()
			}
		case codeDaily:
			bk.failAll(ratelimit.ErrDailyCapReached, false)
		case codeStale:
			// A retry of an older request, overtaken: the next one is newer.
		default:
			l.log.Warn("redisquota: unexpected reply from the reserve script", "bucket", bk.name, "code", rep.code)
			if !sleepCtx(l.ctx, maxBackoff) {
				return
			}
		}
	}
}

// awaitDemand blocks until a caller waits (true) or the Limiter closes.
func (bk *bucket) awaitDemand() bool {
	for {
		if bk.demand() {
			return true
		}
		select {
		case <-bk.wake:
		case <-bk.l.ctx.Done():
			return false
		}
	}
}

// Outcomes of awaitRoom.
const (
	roomAsk      = iota // time to ask again
	roomUnwanted        // no caller wants a slot any more
	roomClosing         // the Limiter closes
)

// awaitRoom waits d to ask again for a slot, or until no caller wants one.
func (bk *bucket) awaitRoom(d time.Duration) int {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return roomAsk
		case <-bk.wake:
			if !bk.demand() {
				return roomUnwanted
			}
		case <-bk.l.ctx.Done():
			return roomClosing
		}
	}
}

// hold sleeps until h's slot and grants it to the caller then at the head.
func (bk *bucket) hold(h *held) outcome {
	l := bk.l
	bk.mu.Lock()
	h.dropped = bk.covers(h) // a pause heard of before the reply
	bk.held = h
	bk.mu.Unlock()
	defer func() {
		bk.mu.Lock()
		bk.held = nil
		bk.mu.Unlock()
	}()
	for {
		bk.mu.Lock()
		isDropped, empty := h.dropped, len(bk.queue) == 0
		bk.mu.Unlock()
		switch {
		case isDropped:
			return dropped
		case empty:
			return abandoned
		}
		d := time.Until(h.fireAt)
		if d <= 0 {
			break
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-bk.wake:
		case <-l.ctx.Done():
			t.Stop()
			return closing
		}
		t.Stop()
	}
	// A pause published while the channel was not heard would have been
	// missed: ask Redis instead.
	if !l.sub.trusted(h.token) && !bk.confirm(h) {
		return dropped
	}
	now := time.Now()
	late := now.Sub(h.early)
	if late > bk.lateBudget {
		bk.lateDrops.Add(1)
		bk.lateStreak++
		if bk.lateStreak >= 3 && (bk.lateWarned.IsZero() || now.Sub(bk.lateWarned) >= warnEvery) {
			bk.lateWarned = now
			l.log.Warn("redisquota: Redis answers too slowly for the margin: slots come later than half of it and are not used; raise the margin or use a Redis closer to this host",
				"bucket", bk.name, "late", late.Round(time.Millisecond), "margin", bk.margin)
		} else {
			l.log.Debug("redisquota: a slot came too late to use; reserving again", "bucket", bk.name, "late", late)
		}
		return dropped
	}
	bk.lateStreak = 0
	bk.mu.Lock()
	switch {
	case h.dropped:
		bk.mu.Unlock()
		return dropped
	case len(bk.queue) == 0:
		bk.mu.Unlock()
		return abandoned
	case !bk.ownAllows(now):
		// Never expected: the sequence spaces grants; only a Redis clock
		// stepping forward could break it. Better a lost slot.
		warn := !bk.warned
		bk.warned = true
		bk.mu.Unlock()
		if warn {
			l.log.Warn("redisquota: Redis granted this process more than its limit in one window (did the Redis host's clock step?); skipping slots", "bucket", bk.name)
		}
		return dropped
	}
	w := bk.queue[0]
	bk.queue = bk.queue[1:]
	w.at = now
	bk.ownAdd(now)
	w.done <- nil
	bk.mu.Unlock()
	if fn := l.cfg.onFire; fn != nil {
		fn(bk.name, late)
	}
	return fired
}

// ownAllows reports whether a grant at now keeps this process's own grants
// within the limit: the local guard. bk.mu must be held.
func (bk *bucket) ownAllows(now time.Time) bool {
	return len(bk.own) < bk.limit.N || now.Sub(bk.own[bk.ownNext]) >= bk.limit.Window
}

func (bk *bucket) ownAdd(now time.Time) {
	if len(bk.own) < bk.limit.N {
		bk.own = append(bk.own, now)
		return
	}
	bk.own[bk.ownNext] = now
	bk.ownNext = (bk.ownNext + 1) % bk.limit.N
}

// reply is reserveScript's answer.
type reply struct {
	code   int64
	wait   int64 // µs from now to the slot (or to ask again)
	slot   int64
	now    int64
	pause  int64
	factor float64
	srv    string
	fenced bool
}

// reserve runs reserveScript for request req; unfired is the first of the
// process's requests since its last grant (see run).
func (bk *bucket) reserve(req, unfired int64) (reply, error) {
	l := bk.l
	bk.reserves.Add(1)
	ctx, cancel := context.WithTimeout(l.ctx, callTimeout)
	defer cancel()
	post := "0"
	if bk.post {
		post = "1"
	}
	vals, err := reserveScript.Run(ctx, l.rdb, bk.keyList,
		l.id, req, unfired, bk.tUS, bk.wUS, bk.mUS, bk.hUS, post, l.cfg.DailyPosts,
		strconv.FormatFloat(recovery, 'f', -1, 64), waitGrace.Microseconds()).Slice()
	if err != nil {
		return reply{}, fmt.Errorf("reserve a slot on %s: %w", bk.name, err)
	}
	if len(vals) != 8 {
		return reply{}, fmt.Errorf("reserve a slot on %s: %d values in the reply, want 8", bk.name, len(vals))
	}
	var r reply
	r.code, r.wait, r.slot, r.now, r.pause = toInt(vals[0]), toInt(vals[1]), toInt(vals[2]), toInt(vals[3]), toInt(vals[4])
	r.factor = toFloat(vals[5])
	r.srv, _ = vals[6].(string)
	r.fenced = toInt(vals[7]) == 1
	return r, nil
}

// note takes in what a reply tells of the group's bucket.
func (bk *bucket) note(r reply, recv time.Time) {
	if r.fenced {
		bk.l.log.Info("redisquota: Redis had no state for this bucket, or another server wrote it (first use, restart or failover): holding it back until every grant it may have lost is out of the window",
			"bucket", bk.name, "for", micros(bk.hUS+bk.wUS+bk.mUS).Round(time.Millisecond))
	}
	bk.learn(pauseInfo{srv: r.srv, until: r.pause, local: recv.Add(micros(r.pause - r.now))}, r.factor)
}

// giveBack cancels the reservation of a request from unfired on (0: none)
// and leaves the wait list, reporting whether Redis did. Best effort: if
// Redis cannot be reached, the next request names them (see run), and a
// slot never given back is only a gap.
func (bk *bucket) giveBack(unfired int64) bool {
	l := bk.l
	if l.abrupt.Load() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	post := "0"
	if bk.post {
		post = "1"
	}
	if err := cancelScript.Run(ctx, l.rdb, bk.keyList, l.id, unfired, post).Err(); err != nil {
		l.log.Debug("redisquota: could not give a reservation back", "bucket", bk.name, "error", err)
		return false
	}
	return true
}

// penalize runs penalizeScript for a 429 on the bucket.
func (bk *bucket) penalize(ctx context.Context, retryAfter time.Duration) error {
	l := bk.l
	vals, err := penalizeScript.Run(ctx, l.rdb, bk.keyList[:1],
		bk.wUS, bk.limit.N, ceilMicros(max(retryAfter, 0)), ceilMicros(l.maxPause), rand.Float64(),
		slowdown, minRate, strconv.FormatFloat(recovery, 'f', -1, 64), l.keys.channel(), string(bk.name)).Slice()
	recv := time.Now()
	if err != nil {
		return fmt.Errorf("report a 429 on %s: %w", bk.name, err)
	}
	if len(vals) != 4 {
		return fmt.Errorf("report a 429 on %s: %d values in the reply, want 4", bk.name, len(vals))
	}
	pause, now := toInt(vals[0]), toInt(vals[1])
	srv, _ := vals[3].(string)
	bk.learn(pauseInfo{srv: srv, until: pause, local: recv.Add(micros(pause - now))}, toFloat(vals[2]))
	return nil
}

// peek reads the bucket's pause.
func (bk *bucket) peek(ctx context.Context) (pauseInfo, error) {
	vals, err := peekScript.Run(ctx, bk.l.rdb, bk.keyList[:1]).Slice()
	recv := time.Now()
	if err != nil {
		return pauseInfo{}, err
	}
	if len(vals) != 3 {
		return pauseInfo{}, fmt.Errorf("%d values in the reply, want 3", len(vals))
	}
	now, pause := toInt(vals[0]), toInt(vals[1])
	srv, _ := vals[2].(string)
	return pauseInfo{srv: srv, until: pause, local: recv.Add(micros(pause - now))}, nil
}

// confirm asks Redis whether a pause covers h's slot; false also when it
// cannot be asked (no grant without Redis).
func (bk *bucket) confirm(h *held) bool {
	ctx, cancel := context.WithTimeout(bk.l.ctx, callTimeout)
	defer cancel()
	p, err := bk.peek(ctx)
	if err != nil {
		if bk.l.ctx.Err() == nil {
			bk.l.health.fail(err)
		}
		return false
	}
	bk.mu.Lock()
	factor := bk.factor
	bk.mu.Unlock()
	bk.learn(p, factor)
	bk.mu.Lock()
	defer bk.mu.Unlock()
	return !h.dropped && !bk.covers(h)
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	case float64:
		return int64(x)
	}
	return 0
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}
