package redisquota

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"hotfolder/ratelimit"
	"hotfolder/ratelimit/redisquota/redistest"
)

const warnLine = "Redis cannot be reached"

// TestRedisRestarted: Redis goes away mid-run and comes back, empty (no
// persistence) or with its data (run_id changes all the same), after a
// while or at once: no window holds more than N across the restart, the
// bucket is fenced, and the processes resume. While it is down, Health says
// so, each process warns once, and says once when Redis is back.
func TestRedisRestarted(t *testing.T) {
	for _, tc := range []struct {
		name       string
		down, keep bool
	}{
		{"down-then-empty", true, false},
		{"quick-empty", false, false},
		{"quick-with-data", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t)
			b := ratelimit.Post
			lim := ratelimit.Limit{N: 4, Window: 500 * time.Millisecond}
			group := t.Name()
			prime(t, srv, group, b)
			const k = 2
			ls := make([]*Limiter, k)
			logs := make([]*syncBuffer, k)
			for i := range ls {
				logs[i] = &syncBuffer{}
				ls[i] = openT(t, srv, group, ratelimit.Profile{b: lim}, func(c *Config) { c.Logger = logs[i].logger() })
			}
			g := newGrants()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var waits []func()
			for i, l := range ls {
				waits = append(waits, hammer(ctx, l, b, 2, i, g))
			}
			waitFor(t, 5*time.Second, "grants before the restart", func() bool { return g.count() >= 6 })

			if tc.down {
				srv.Kill()
				for i, l := range ls {
					waitFor(t, 10*time.Second, fmt.Sprintf("limiter %d to report Redis down", i), func() bool { return !healthy(l) })
					if _, reason, since := l.Health(); !strings.Contains(reason, "cannot be reached") || since.IsZero() {
						t.Errorf("Health: reason %q, since %v", reason, since)
					}
				}
				srv.Revive()
			} else {
				srv.Restart(tc.keep)
			}
			restarted := time.Now()
			if tc.down {
				for i, l := range ls {
					waitFor(t, 10*time.Second, fmt.Sprintf("limiter %d to report Redis back", i), func() bool { return healthy(l) })
				}
			}
			waitFor(t, 10*time.Second, "grants after the restart", func() bool { return g.since(restarted) >= 6 })
			cancel()
			for _, w := range waits {
				w()
			}
			if len(g.errs) > 0 {
				t.Fatalf("Wait failed: %v", g.errs)
			}
			checkWindow(t, lim, g.times())
			if tc.down {
				for i, lb := range logs {
					if n := lb.count(warnLine); n != 1 {
						t.Errorf("limiter %d warned %d times, want once:\n%s", i, n, lb)
					}
					if n := lb.count("Redis answers again"); n != 1 {
						t.Errorf("limiter %d said %d times that Redis is back, want once", i, n)
					}
				}
			}
			fenced := 0
			for _, lb := range logs {
				fenced += lb.count("holding it back")
			}
			if fenced == 0 {
				t.Errorf("no bucket was fenced after the restart")
			}
		})
	}
}

// TestRedisDownFailsClosed: while Redis is down no Wait returns a grant;
// cancelling ends a Wait; once Redis is back the waits are granted.
func TestRedisDownFailsClosed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	b := ratelimit.Get
	lim := ratelimit.Limit{N: 4, Window: 200 * time.Millisecond}
	prime(t, srv, t.Name(), b)
	l := openT(t, srv, t.Name(), ratelimit.Profile{b: lim})
	if err := l.Wait(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	var mu sync.Mutex
	var granted []time.Time
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := l.Wait(context.Background(), b); err != nil {
				t.Errorf("Wait: %v", err)
				return
			}
			mu.Lock()
			granted = append(granted, time.Now())
			mu.Unlock()
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() { cancelled <- l.Wait(ctx, b) }()
	waitFor(t, 10*time.Second, "Health to report Redis down", func() bool { return !healthy(l) })
	waitFor(t, 5*time.Second, "the callers to queue", func() bool { return l.Stats()[b].Waiting == 4 })
	cancel()
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Wait returned %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a cancelled Wait did not return while Redis was down")
	}
	revived := time.Now()
	srv.Revive()
	wg.Wait()
	for _, at := range granted {
		if at.Before(revived) {
			t.Errorf("granted %v before Redis came back", revived.Sub(at))
		}
	}
	if len(granted) != 3 {
		t.Errorf("%d grants after Redis came back, want 3", len(granted))
	}
}

// TestReserveIdempotent: the reserve script called twice for one request
// (as go-redis does after a timeout) returns the same slot and books one
// grant; a second live reservation is refused; a slot given back as never
// fired returns to the sequence; an older request is ignored.
func TestReserveIdempotent(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	b := ratelimit.Post
	lim := ratelimit.Limit{N: 2, Window: time.Second}
	group := t.Name()
	prime(t, srv, group, b)
	l := openT(t, srv, group, ratelimit.Profile{b: lim}, func(c *Config) { c.DailyPosts = 100 })
	bk := l.buckets[b]
	k := groupKeys(group)
	count := func(args ...string) int {
		t.Helper()
		v, err := srv.Do(args...)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(v)
		return n
	}
	reserve := func(req, prev int64) reply {
		t.Helper()
		r, err := bk.reserve(req, prev)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	r1 := reserve(1, 0)
	again := reserve(1, 0)
	if r1.code != codeGranted || again.code != codeGranted || again.slot != r1.slot {
		t.Fatalf("same request twice: %+v then %+v, want one slot", r1, again)
	}
	if n := count("ZCARD", k.log(b)); n != 1 {
		t.Errorf("%d grants logged, want 1", n)
	}
	if n := count("HGET", k.day(), "n"); n != 1 {
		t.Errorf("%d POSTs counted, want 1", n)
	}
	tat := count("HGET", k.st(b), "tat")
	if want := r1.slot + bk.tUS; int64(tat) != want {
		t.Errorf("tat %d, want slot+T = %d", tat, want)
	}

	// Request 2: the next slot, one interval later, in the future.
	r2 := reserve(2, 0)
	if r2.code != codeGranted || r2.slot != r1.slot+bk.tUS {
		t.Fatalf("second request: %+v, want slot %d", r2, r1.slot+bk.tUS)
	}
	// Request 3 while 2 is live and not given up: refused.
	if r := reserve(3, 0); r.code != codeHold {
		t.Errorf("a second live reservation: code %d, want %d (hold)", r.code, codeHold)
	}
	// An older request arriving late: ignored.
	if r := reserve(1, 0); r.code != codeStale {
		t.Errorf("an older request: code %d, want %d (stale)", r.code, codeStale)
	}
	// Request 4 giving 2 back: 2 was the tail, so 4 gets its slot.
	r4 := reserve(4, 2)
	if r4.code != codeGranted || r4.slot != r2.slot {
		t.Errorf("after giving the tail back: %+v, want slot %d", r4, r2.slot)
	}
	if n := count("ZCARD", k.log(b)); n != 2 {
		t.Errorf("%d grants logged, want 2", n)
	}
	if n := count("HGET", k.day(), "n"); n != 2 {
		t.Errorf("%d POSTs counted, want 2", n)
	}
}

// TestKilledLimiter: a process that dies holding a reservation costs the
// others at most that one slot.
func TestKilledLimiter(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	b := ratelimit.Post
	lim := ratelimit.Limit{N: 4, Window: 500 * time.Millisecond}
	const k = 3
	ls := openGroup(t, srv, t.Name(), b, lim, k)
	T := ls[0].Interval(b)
	g := newGrants()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := hammerAll(ctx, ls, b, 2, g)
	waitFor(t, 5*time.Second, "grants", func() bool { return g.count() >= 6 })
	victim := ls[k-1]
	holds := func() bool {
		bk := victim.buckets[b]
		bk.mu.Lock()
		defer bk.mu.Unlock()
		return bk.held != nil && time.Until(bk.held.fireAt) > T/2
	}
	waitFor(t, 5*time.Second, "the victim to hold a reservation", holds)
	killed := time.Now()
	victim.kill()
	waitFor(t, 5*time.Second, "grants after the kill", func() bool { return g.since(killed) >= 8 })
	cancel()
	wait()
	checkWindow(t, lim, g.times())
	var after []time.Time
	for _, at := range g.times() {
		if at.After(killed) {
			after = append(after, at)
		}
	}
	for i := 1; i < len(after); i++ {
		if gap := after[i].Sub(after[i-1]); gap > 2*T+60*time.Millisecond {
			t.Errorf("a gap of %v after the kill: more than the one slot (%v) the dead process held", gap, T)
		}
	}
	if n := len(g.of(k - 1)); n == 0 {
		t.Errorf("the victim had no grant before it died")
	}
}

// TestDailyCap: the group's N POSTs of the day, then ErrDailyCapReached for
// every process; GETs go on.
func TestDailyCap(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	p := ratelimit.Profile{
		ratelimit.Post:                 {N: 10, Window: 200 * time.Millisecond},
		ratelimit.RemoveBackgroundPost: {N: 10, Window: 200 * time.Millisecond},
		ratelimit.Get:                  {N: 10, Window: 200 * time.Millisecond},
	}
	group := t.Name()
	prime(t, srv, group, ratelimit.Post, ratelimit.RemoveBackgroundPost, ratelimit.Get)
	const cap = 5
	ls := []*Limiter{
		openT(t, srv, group, p, func(c *Config) { c.DailyPosts = cap }),
		openT(t, srv, group, p, func(c *Config) { c.DailyPosts = cap }),
	}
	ctx := context.Background()
	granted, capped := 0, map[int]bool{}
	for i := 0; len(capped) < len(ls) && i < 20; i++ {
		who := i % len(ls)
		bucket := ratelimit.Post
		if i%3 == 2 {
			bucket = ratelimit.RemoveBackgroundPost // counted with post
		}
		switch err := ls[who].Wait(ctx, bucket); {
		case err == nil:
			granted++
		case errors.Is(err, ratelimit.ErrDailyCapReached):
			capped[who] = true
		default:
			t.Fatalf("Wait: %v", err)
		}
	}
	if granted != cap {
		t.Errorf("%d POSTs granted, want %d", granted, cap)
	}
	for i, l := range ls {
		for _, bucket := range []ratelimit.Bucket{ratelimit.Post, ratelimit.RemoveBackgroundPost} {
			if err := l.Wait(ctx, bucket); !errors.Is(err, ratelimit.ErrDailyCapReached) {
				t.Errorf("limiter %d, %s: %v, want ErrDailyCapReached", i, bucket, err)
			}
		}
		if err := l.Wait(ctx, ratelimit.Get); err != nil {
			t.Errorf("limiter %d, get: %v", i, err)
		}
	}
	st, err := ReadStatus(ctx, Config{URL: srv.URL, Group: group})
	if err != nil {
		t.Fatal(err)
	}
	if st.PostsToday != cap || st.DailyCap != cap {
		t.Errorf("status: %d POSTs today, cap %d; want %d, %d", st.PostsToday, st.DailyCap, cap, cap)
	}
}

// TestMaxPosts: this process's own budget, counted locally.
func TestMaxPosts(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	p := ratelimit.Profile{ratelimit.Post: {N: 10, Window: 100 * time.Millisecond}}
	prime(t, srv, t.Name(), ratelimit.Post)
	l := openT(t, srv, t.Name(), p, func(c *Config) { c.MaxPosts = 2 })
	ctx := context.Background()
	for range 2 {
		if err := l.Wait(ctx, ratelimit.Post); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Wait(ctx, ratelimit.Post); !errors.Is(err, ratelimit.ErrPostBudgetSpent) {
		t.Errorf("third POST: %v, want ErrPostBudgetSpent", err)
	}
}

// TestMissedPauseConfirmed: a pause published while the process did not
// hear the channel is caught by asking Redis before the slot fires.
func TestMissedPauseConfirmed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	b := ratelimit.Post
	lim := ratelimit.Limit{N: 1, Window: time.Second}
	group := t.Name()
	prime(t, srv, group, b)
	l := openT(t, srv, group, ratelimit.Profile{b: lim})
	if err := l.Wait(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	done := make(chan time.Time, 1)
	go func() {
		if err := l.Wait(context.Background(), b); err != nil {
			t.Errorf("Wait: %v", err)
		}
		done <- time.Now()
	}()
	bk := l.buckets[b]
	waitFor(t, 5*time.Second, "a reservation a while ahead", func() bool {
		bk.mu.Lock()
		defer bk.mu.Unlock()
		return bk.held != nil && time.Until(bk.held.fireAt) > 300*time.Millisecond
	})
	l.sub.down() // as if the channel's connection had dropped
	// A pause another process set, its message lost.
	tm, err := srv.Do("TIME")
	if err != nil {
		t.Fatal(err)
	}
	sec, usec, _ := strings.Cut(tm, "\n")
	s, _ := strconv.ParseInt(sec, 10, 64)
	us, _ := strconv.ParseInt(usec, 10, 64)
	const pause = 2 * time.Second
	paused := time.Now()
	until := s*1_000_000 + us + pause.Microseconds()
	if _, err := srv.Do("HSET", groupKeys(group).st(b), "pause", strconv.FormatInt(until, 10)); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-done:
		if at.Before(paused.Add(pause)) {
			t.Errorf("granted %v into a pause of %v", at.Sub(paused), pause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no grant after the pause")
	}
}
