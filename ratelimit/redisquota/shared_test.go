package redisquota

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"hotfolder/ratelimit"
	"hotfolder/ratelimit/redisquota/redistest"
)

// TestSharedWindow: k processes (separate Limiters, one group) hammering
// one bucket never put more than N grants into a window of W, however
// many they are. The configurations run at once (each in a group of its
// own): the test is all waiting.
func TestSharedWindow(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	type config struct {
		lim ratelimit.Limit
		k   int
	}
	var configs []config
	for _, lim := range []ratelimit.Limit{{N: 4, Window: time.Second}, {N: 2, Window: time.Second}} {
		for _, k := range []int{1, 2, 3, 5} {
			configs = append(configs, config{lim, k})
		}
	}
	const run = 3500 * time.Millisecond
	b := ratelimit.RemoveBackgroundPost
	results := make([]*grants, len(configs))
	intervals := make([]time.Duration, len(configs))
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	var waits []func()
	for c, cf := range configs {
		group := fmt.Sprintf("%s/%v/k=%d", t.Name(), cf.lim, cf.k)
		prime(t, srv, group, b)
		g := newGrants()
		results[c] = g
		for i := range cf.k {
			l := openT(t, srv, group, ratelimit.Profile{b: cf.lim}, func(c *Config) { c.Margin = 0.02 })
			intervals[c] = l.Interval(b)
			waits = append(waits, hammer(ctx, l, b, 2, i, g))
		}
	}
	for _, w := range waits {
		w()
	}
	for c, cf := range configs {
		t.Run(fmt.Sprintf("%v/k=%d", cf.lim, cf.k), func(t *testing.T) {
			g := results[c]
			if len(g.errs) > 0 {
				t.Fatalf("Wait failed: %v", g.errs)
			}
			ts := g.times()
			checkWindow(t, cf.lim, ts)
			// And the limit is used: at least 85% of the slots came.
			want := int(0.85 * run.Seconds() / intervals[c].Seconds())
			if len(ts) < want {
				t.Errorf("%d grants in %v, want at least %d", len(ts), run, want)
			}
			t.Logf("%d grants; shortest span of %d: %v", len(ts), cf.lim.N+1, must(shortestSpan(cf.lim.N, ts)))
		})
	}
}

func must[T any](v T, _ bool) T { return v }

// TestShared429: a 429 reported by one process pauses the bucket for all
// (no grant inside the pause, slots already held are dropped), slows the
// shared rate, which then recovers for all.
func TestShared429(t *testing.T) {
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
	waitFor(t, 5*time.Second, "grants before the 429", func() bool { return g.count() >= 6 })

	const ra = 700 * time.Millisecond
	t0 := time.Now()
	ls[0].Throttled(b, ra)
	t1 := time.Now()
	pauseEnd := t0.Add(ra) // the pause ends no sooner on the local clock

	// Everyone hears of the pause and the lower rate.
	for i, l := range ls {
		waitFor(t, 2*time.Second, fmt.Sprintf("limiter %d to see the pause", i), func() bool {
			st := l.Stats()[b]
			return !st.PausedUntil.IsZero() && st.Rate < 0.75
		})
	}
	// The rate recovers, for all: 6 quiet windows from the pause's end.
	for i, l := range ls {
		waitFor(t, 10*time.Second, fmt.Sprintf("limiter %d to recover", i), func() bool {
			return l.Stats()[b].Rate >= 0.999
		})
	}
	cancel()
	wait()
	if len(g.errs) > 0 {
		t.Fatalf("Wait failed: %v", g.errs)
	}
	ts := g.times()
	checkWindow(t, lim, ts)

	// Nothing inside the pause, from whichever process, once the pause
	// was known (a slot fired before it was heard of is as a request
	// already in flight).
	heard := t1.Add(30 * time.Millisecond)
	var after []time.Time
	for _, at := range ts {
		if at.After(heard) && at.Before(pauseEnd) {
			t.Errorf("grant at +%v inside the pause [+%v, +%v)", at.Sub(t0), heard.Sub(t0), ra)
		}
		if !at.Before(pauseEnd) {
			after = append(after, at)
		}
	}
	// Slowed to 0.7 after the pause: grants at least T/0.7 apart in the
	// first window (less the timers' noise).
	slow := time.Duration(math.Ceil(float64(T) / 0.7))
	for i := 1; i < len(after) && after[i].Sub(after[0]) < lim.Window; i++ {
		if gap := after[i].Sub(after[i-1]); gap < slow-15*time.Millisecond {
			t.Errorf("grants %v apart right after the pause, want about %v (slowed)", gap, slow)
		}
	}
	if len(after) < 8 {
		t.Errorf("only %d grants after the pause", len(after))
	}
	for i := range ls {
		if len(g.of(i)) == 0 {
			t.Errorf("limiter %d got nothing", i)
		}
	}
	if th := ls[0].Stats()[b].Throttles; th != 1 {
		t.Errorf("Throttles = %d, want 1", th)
	}
}

// TestFairShares: busy processes take turns; an idle one reserves nothing.
func TestFairShares(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	b := ratelimit.Post
	lim := ratelimit.Limit{N: 4, Window: time.Second}
	const k = 3
	ls := openGroup(t, srv, t.Name(), b, lim, k)
	idle := openT(t, srv, t.Name(), ratelimit.Profile{b: lim})
	g := newGrants()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var waits []func()
	for i, l := range ls {
		// Uneven numbers of callers: shares go by process, not by caller.
		waits = append(waits, hammer(ctx, l, b, 1+2*i, i, g))
	}
	for _, w := range waits {
		w()
	}
	total := g.count()
	checkWindow(t, lim, g.times())
	for i := range ls {
		n := len(g.of(i))
		t.Logf("limiter %d: %d of %d", i, n, total)
		if float64(n) < 0.8/k*float64(total) {
			t.Errorf("limiter %d got %d of %d grants, want at least %.1f", i, n, total, 0.8/k*float64(total))
		}
	}
	if n := idle.buckets[b].reserves.Load(); n != 0 {
		t.Errorf("the idle limiter reserved %d times", n)
	}
}

// TestLoneBusyFullRate: with others idle, one busy process gets the whole
// rate.
func TestLoneBusyFullRate(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	b := ratelimit.Post
	lim := ratelimit.Limit{N: 4, Window: time.Second}
	group := t.Name()
	prime(t, srv, group, b)
	busy := openT(t, srv, group, ratelimit.Profile{b: lim})
	idle := openT(t, srv, group, ratelimit.Profile{b: lim})
	g := newGrants()
	ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
	defer cancel()
	hammer(ctx, busy, b, 3, 0, g)()
	ts := g.times()
	checkWindow(t, lim, ts)
	span := ts[len(ts)-1].Sub(ts[0])
	rate := float64(len(ts)-1) / span.Seconds()
	util := rate / (float64(lim.N) / lim.Window.Seconds())
	t.Logf("%d grants in %v: %.3f of the limit", len(ts), span, util)
	if util < 0.95 {
		t.Errorf("a lone busy process ran at %.3f of the limit, want ≥ 0.95", util)
	}
	if n := idle.buckets[b].reserves.Load(); n != 0 {
		t.Errorf("the idle limiter reserved %d times", n)
	}
}

// TestFenceFirstUse: a bucket without state in Redis (here: never used)
// is held back H+W+margin before its first grant.
func TestFenceFirstUse(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	b := ratelimit.Get
	lim := ratelimit.Limit{N: 4, Window: 100 * time.Millisecond}
	l := openT(t, srv, t.Name(), ratelimit.Profile{b: lim})
	// margin 20ms (the minimum), H = 2×120ms: 360ms in all.
	fence := 3 * (lim.Window + 20*time.Millisecond)
	began := time.Now()
	if err := l.Wait(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < fence-5*time.Millisecond {
		t.Errorf("first grant after %v, want the fence of %v", took, fence)
	}
	began = time.Now()
	if err := l.Wait(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > fence/2 {
		t.Errorf("second grant after %v: fenced again?", took)
	}
}

// TestFairBeyondHorizon: more busy processes than slots fit within the
// horizon. Those refused for want of room wait in line and are served
// before the ones that just had a slot, so none starves.
func TestFairBeyondHorizon(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	b := ratelimit.RemoveBackgroundPost
	lim := ratelimit.Limit{N: 2, Window: 500 * time.Millisecond}
	const k = 7 // the horizon (2×520ms) holds 5 slots of 260ms
	ls := openGroup(t, srv, t.Name(), b, lim, k)
	g := newGrants()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	hammerAll(ctx, ls, b, 2, g)()
	if len(g.errs) > 0 {
		t.Fatalf("Wait failed: %v", g.errs)
	}
	total := g.count()
	checkWindow(t, lim, g.times())
	if want := int(0.85 * 6 / ls[0].Interval(b).Seconds()); total < want {
		t.Errorf("%d grants, want at least %d", total, want)
	}
	var shares []int
	for i := range ls {
		shares = append(shares, len(g.of(i)))
	}
	t.Logf("%d grants: %v", total, shares)
	for i, n := range shares {
		// One slot either way of an even share, over so few grants.
		if n < total/k-1 {
			t.Errorf("limiter %d got %d of %d grants", i, n, total)
		}
	}
}
