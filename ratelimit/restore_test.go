package ratelimit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// grantLog collects what OnGrant reports.
type grantLog struct {
	mu     sync.Mutex
	grants map[Bucket][]time.Time
}

func logGrants(s *Set) *grantLog {
	g := &grantLog{grants: map[Bucket][]time.Time{}}
	s.OnGrant(g.add)
	return g
}

func (g *grantLog) add(b Bucket, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.grants[b] = append(g.grants[b], at)
}

// sorted returns b's reported grants, oldest first.
func (g *grantLog) sorted(b Bucket) []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.SortedFunc(slices.Values(g.grants[b]), time.Time.Compare)
}

func (g *grantLog) has(b Bucket, at time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.ContainsFunc(g.grants[b], at.Equal)
}

// run is one process of hotfolder on a fake clock: a Set with limit l on
// Post, restored with restore (if not nil) at start, and callers asking for
// Post until end, each again after a random [0, think) once served (at once
// if think is 0). It returns the slots OnGrant reported, sorted; a caller
// still queued at end is killed with the process and sends nothing.
func run(t *testing.T, l Limit, start, end time.Time, restore []time.Time, callers int, think time.Duration, seed uint64) []time.Time {
	var grants []time.Time
	synctest.Test(t, func(t *testing.T) {
		clock := &fakeClock{now: start}
		s := New(Profile{Post: l}, clock.options())
		log := logGrants(s)
		if restore != nil {
			s.Restore(Post, restore)
		}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for c := range callers {
			rng := rand.New(rand.NewPCG(seed, uint64(c)))
			wg.Go(func() {
				for ctx.Err() == nil {
					if think > 0 {
						ch, stop := clock.NewTimer(time.Duration(rng.Int64N(int64(think))))
						select {
						case <-ch:
						case <-ctx.Done():
							stop()
							return
						}
					}
					s.Wait(ctx, Post)
				}
			})
		}
		clock.runUntil(end)
		cancel()
		wg.Wait()
		grants = log.sorted(Post)
	})
	return grants
}

// crowding measures the windows that hold at least one of later (all after
// earlier, both sorted): the most requests any window of length w holds,
// and the shortest time any N+1 consecutive requests span (0 if no N+1).
func crowding(n int, w time.Duration, earlier, later []time.Time) (most int, tightest time.Duration) {
	all := slices.Concat(earlier, later)
	from := 0
	for i := len(earlier); i < len(all); i++ {
		for !all[from].After(all[i].Add(-w)) {
			from++
		}
		most = max(most, i-from+1)
		if i >= n {
			if span := all[i].Sub(all[i-n]); tightest == 0 || span < tightest {
				tightest = span
			}
		}
	}
	return most, tightest
}

// refused counts the requests of later that a server enforcing l with an
// exact sliding window (the emulator's [Window]) would refuse with 429,
// having seen earlier first (all sorted, later after earlier).
func refused(l Limit, earlier, later []time.Time) int {
	w := NewWindow(l)
	for _, t := range earlier {
		w.Allow(t)
	}
	n := 0
	for _, t := range later {
		if ok, _ := w.Allow(t); !ok {
			n++
		}
	}
	return n
}

// TestRestoreAcrossRestart is the property Restore exists for: a run killed
// while busy and started again shortly after, restored with the grants the
// first reported through OnGrant, never puts more than N requests (both
// runs' together) in any window, and keeps the margin between any N+1 of
// them, whatever limits the first run used. Without Restore, the same
// restart breaks the limit.
func TestRestoreAcrossRestart(t *testing.T) {
	type tc struct {
		name          string
		before, after Limit
	}
	var cases []tc
	for _, c := range propertyCases() {
		// The POST buckets (the ones journaled: 15/3s, 2/3s, 16/3s,
		// 3/3s) and the small overrides.
		if c.l.N <= 16 {
			cases = append(cases, tc{c.name, c.l, c.l})
		}
	}
	// The first run had looser limits: its last requests are closer
	// together than the new interval.
	for _, p := range [][2]string{{"6/3s", "2/3s"}, {"16/3s", "15/3s"}, {"8/1s", "4/1s"}, {"7/3s", "3/3s"}, {"15/3s", "4/3s"}} {
		b, _ := ParseLimit(p[0])
		a, _ := ParseLimit(p[1])
		cases = append(cases, tc{"looser/" + p[0] + "-then-" + p[1], b, a})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := c.after
			iv := New(Profile{Post: l}, Options{}).Interval(Post)
			span := l.Window + defaultMargin(l)
			worst, worstWithout, most429 := 0, 0, 0
			tightest, tightestWithout := time.Duration(1<<62), time.Duration(1<<62)
			// The first run busy (every caller asking again at once), then
			// with callers idling at random: bursts after gaps.
			for p, think := range []time.Duration{0, c.before.Window, 2 * c.before.Window} {
				for seed := range uint64(3) {
					end := t0.Add(2*c.before.Window + time.Duration(seed)*c.before.Window/3)
					old := run(t, c.before, t0, end, nil, c.before.N+2, think, seed)
					if len(old) == 0 {
						t.Fatal("the first run granted nothing")
					}
					kill := old[len(old)-1]
					for _, off := range []time.Duration{0, iv / 5, iv / 2, iv - iv/10, iv, 3 * iv / 2, 2 * iv} {
						start := kill.Add(off)
						stop := start.Add(2*span + iv)
						grants := run(t, l, start, stop, old, l.N+2, 0, seed)
						if len(grants) < l.N {
							t.Fatalf("restart %v after the last grant: only %d grants", off, len(grants))
						}
						most, tight := crowding(l.N, l.Window, old, grants)
						// Windows ending at an old grant come first; the
						// first run may have broken l itself (looser limits).
						v := Violations(l, slices.Concat(old, grants)) - Violations(l, old)
						if v != 0 || most > l.N || tight < l.Window {
							t.Errorf("first run %d/%d, restart %v after its last grant: %d violations, a window holds %d > %d (N+1 span %v)",
								p, seed, off, v, most, l.N, tight)
						}
						if n := refused(l, old, grants); n != 0 {
							t.Errorf("first run %d/%d, restart %v after its last grant: the server refuses %d", p, seed, off, n)
						}
						// Keeping the margin too, give or take the nanosecond
						// x/time/rate may grant early.
						if tight < span-time.Duration(l.N) {
							t.Errorf("first run %d/%d, restart %v after its last grant: N+1 requests span %v, want ≥ Window+margin = %v",
								p, seed, off, tight, span)
						}
						if first := grants[0]; first.After(start.Add(span)) {
							t.Errorf("restart %v after the last grant: first grant %v after the restart, want ≤ %v", off, first.Sub(start), span)
						}
						worst, tightest = max(worst, most), min(tightest, tight)

						without := run(t, l, start, stop, nil, l.N+2, 0, seed)
						most, tight = crowding(l.N, l.Window, old, without)
						worstWithout, tightestWithout = max(worstWithout, most), min(tightestWithout, tight)
						most429 = max(most429, refused(l, old, without))
						if p == 0 && off == 0 && most <= l.N && c.before == c.after {
							t.Errorf("no Restore, restart right after a busy run: at most %d in a window; the test shows nothing", most)
						}
					}
				}
			}
			t.Logf("%v then %v: with Restore at most %d in a window of %v, N+1 span ≥ %v, no 429; without, %d, %v and up to %d 429s",
				c.before, l, worst, l.Window, tightest, worstWithout, tightestWithout, most429)
			if worstWithout <= l.N {
				t.Errorf("no Restore: never more than %d in a window; the test shows nothing", l.N)
			}
		})
	}
}

// TestRestoreFirstGrant checks when the first grant comes after a Restore,
// case by case, against the rule: one interval after the latest restored
// request, and late enough that no window of Window+margin holds more than
// N with the grants that follow one interval apart.
func TestRestoreFirstGrant(t *testing.T) {
	l2 := Limit{2, 3 * time.Second} // interval 1.53s, span 3.06s
	l3 := Limit{3, 3 * time.Second} // interval 1.02s, span 3.06s
	ms := func(d int) time.Time { return t0.Add(time.Duration(d) * time.Millisecond) }
	tests := []struct {
		name    string
		l       Limit
		restore []time.Time
		want    time.Time
	}{
		{"nothing restored", l2, nil, t0},
		{"empty", l2, []time.Time{}, t0},
		{"older than a span", l2, []time.Time{ms(-10000), ms(-3060)}, t0},
		{"zero times", l2, []time.Time{{}, {}, {}}, t0},
		{"one recent", l2, []time.Time{ms(-300)}, ms(1230)},
		{"an interval ago", l2, []time.Time{ms(-1530)}, t0},
		{"the killed run's two", l2, []time.Time{ms(-1500), ms(0)}, ms(1560)},
		// The 429 that started it all: POSTs at t-1.5s and t, restart at
		// t+300ms; without Restore the first grant would come at once.
		{"restart 300ms after a kill", l2, []time.Time{ms(-1800), ms(-300)}, ms(1260)},
		{"any order, duplicates", l2, []time.Time{ms(0), ms(-1500), ms(0), ms(-20000), ms(-1500)}, ms(1560)},
		{"the Nth-latest binds", l2, []time.Time{ms(-3000), ms(-2900), ms(-2000)}, ms(160)},
		// The second-latest binds, not the third: the next two grants come
		// an interval apart and must each be a span after the one N before.
		{"looser run: sparse then close", l3, []time.Time{ms(-3000), ms(-100), ms(0)}, ms(1940)},
		{"looser run: close", l3, []time.Time{ms(-200), ms(-100), ms(0)}, ms(2860)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := newFakeClock()
				s := New(Profile{Post: tc.l}, clock.options())
				log := logGrants(s)
				s.Restore(Post, tc.restore)
				ctx, cancel := context.WithCancel(t.Context())
				var wg sync.WaitGroup
				saturate(ctx, &wg, s, Post, tc.l.N+1, &recorder{clock: clock})
				clock.runUntil(t0.Add(5 * tc.l.Window))
				cancel()
				wg.Wait()
				grants := log.sorted(Post)
				if len(grants) == 0 || !equalTimes(grants[:1], []time.Time{tc.want}) {
					t.Fatalf("first grants at %v, want the first at %v", offsets(grants), tc.want.Sub(t0))
				}
				var restored []time.Time
				for _, r := range tc.restore {
					if !r.IsZero() && !slices.ContainsFunc(restored, r.Equal) {
						restored = append(restored, r)
					}
				}
				slices.SortFunc(restored, time.Time.Compare)
				if most, _ := crowding(tc.l.N, tc.l.Window, restored, grants); most > tc.l.N {
					t.Errorf("grants at %v after %v: a window holds %d", offsets(grants), offsets(restored), most)
				}
			})
		})
	}
}

// TestRestoreFuture: restored requests ahead of the clock (it stepped back
// since the earlier run) hold the bucket for at most Window+margin, as if
// the earlier run had just stopped.
func TestRestoreFuture(t *testing.T) {
	for _, tc := range []struct {
		l       string
		restore []time.Duration // from t0
		want    time.Duration   // the first grant, from t0
	}{
		{"2/3s", []time.Duration{time.Hour}, 1530 * time.Millisecond},
		{"2/3s", []time.Duration{10 * time.Second, 11500 * time.Millisecond}, 1560 * time.Millisecond},
		{"2/3s", []time.Duration{-time.Second, time.Minute, time.Minute + time.Millisecond}, 3059 * time.Millisecond},
		// Fewer than N, but close together: the 13th grant after them
		// must be a span after the first, so the first waits 610ms, not
		// one interval (204ms).
		{"15/3s", []time.Duration{time.Hour, time.Hour + time.Millisecond, time.Hour + 2*time.Millisecond}, 610 * time.Millisecond},
		{"1/1s", []time.Duration{24 * time.Hour}, 1020 * time.Millisecond},
	} {
		t.Run(fmt.Sprint(tc.l, tc.restore), func(t *testing.T) {
			l, _ := ParseLimit(tc.l)
			var restore []time.Time
			for _, d := range tc.restore {
				restore = append(restore, t0.Add(d))
			}
			got := firstGrant(t, l, restore)
			if d := got - tc.want; d < -time.Nanosecond || d > time.Nanosecond {
				t.Errorf("first grant at +%v, want +%v", got, tc.want)
			}
			if span := l.Window + defaultMargin(l); got > span {
				t.Errorf("first grant at +%v, more than Window+margin = %v", got, span)
			}
		})
	}
}

// firstGrant returns when the first Wait on a fresh Set with limit l,
// restored with restore, gets through, from t0; a day if not within one.
func firstGrant(t *testing.T, l Limit, restore []time.Time) time.Duration {
	got := 24 * time.Hour
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		s := New(Profile{Post: l}, clock.options())
		s.Restore(Post, restore)
		s.OnGrant(func(_ Bucket, at time.Time) { got = at.Sub(t0) })
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			s.Wait(ctx, Post)
			close(done)
		}()
		clock.runUntil(t0.Add(24 * time.Hour))
		cancel()
		<-done
	})
	return got
}

// TestRestoreWithPauseAndSlowdown: a restored hold, a 429 pause and a
// slowed rate all apply; the latest of them wins. The restored requests
// space the next grant by the interval in force when it is granted.
func TestRestoreWithPauseAndSlowdown(t *testing.T) {
	l := Limit{2, 3 * time.Second} // interval 1.53s, span 3.06s
	for _, tc := range []struct {
		name       string
		slowdown   float64
		throttleAt time.Duration // from t0; 0: no 429
		retryAfter time.Duration
		want       time.Duration // the first grant, from t0
	}{
		// Restored at -1.5s and 0: held until +1.56s.
		{"hold only", 1, 0, 0, 1560 * time.Millisecond},
		{"short pause in the hold", 1, 500 * time.Millisecond, 200 * time.Millisecond, 1560 * time.Millisecond},
		{"pause past the hold", 1, 500 * time.Millisecond, 5 * time.Second, 5500 * time.Millisecond},
		// Slowed to 0.5 during the hold: two intervals after the restored 0.
		{"slowed in the hold", 0.5, 500 * time.Millisecond, 200 * time.Millisecond, 3060 * time.Millisecond},
		// Slowed before the Restore.
		{"slowed before", 0.5, -time.Second, 100 * time.Millisecond, 3060 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := &fakeClock{now: t0.Add(min(0, tc.throttleAt))}
				opt := clock.options()
				opt.Slowdown = tc.slowdown
				s := New(Profile{Post: l}, opt)
				log := logGrants(s)
				if tc.throttleAt < 0 {
					s.Throttled(Post, tc.retryAfter)
					clock.advanceTo(t0)
				}
				s.Restore(Post, []time.Time{t0.Add(-1500 * time.Millisecond), t0})
				var wg sync.WaitGroup
				wg.Go(func() { s.Wait(t.Context(), Post) })
				if tc.throttleAt > 0 {
					clock.runUntil(t0.Add(tc.throttleAt))
					s.Throttled(Post, tc.retryAfter)
				}
				clock.runUntil(t0.Add(time.Minute))
				wg.Wait()
				got := log.sorted(Post)
				if want := []time.Time{t0.Add(tc.want)}; !equalTimes(got, want) {
					t.Errorf("grants at %v, want %v", offsets(got), offsets(want))
				}
			})
		})
	}
}

// TestRestoreTakesBackQueuedSlots: callers already queued when Restore
// comes give up slots inside the restored hold and queue behind it.
func TestRestoreTakesBackQueuedSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		l := Limit{2, 3 * time.Second}
		s := New(Profile{Post: l}, clock.options())
		iv := s.Interval(Post)
		log := logGrants(s)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { s.Wait(t.Context(), Post) })
		}
		synctest.Wait() // one through at t0, two queued for +iv, +2iv
		clock.advanceTo(t0.Add(100 * time.Millisecond))
		restored := []time.Time{t0.Add(50 * time.Millisecond), t0.Add(100 * time.Millisecond)}
		s.Restore(Post, restored)
		clock.runUntil(t0.Add(time.Minute))
		wg.Wait()
		resume := t0.Add(50*time.Millisecond + 3060*time.Millisecond)
		want := []time.Time{t0, resume, resume.Add(iv)}
		if got := log.sorted(Post); !equalTimes(got, want) {
			t.Errorf("grants at %v, want %v", offsets(got), offsets(want))
		}
	})
}

// TestRestoreUnknownBucket: Restore on a bucket the Set lacks does nothing.
func TestRestoreUnknownBucket(t *testing.T) {
	for name, s := range map[string]*Set{"zero": {}, "partial": New(Profile{Post: {1, time.Second}}, Options{})} {
		s.Restore(Get, []time.Time{time.Now()}) // must not panic
		if _, ok := s.Stats()[Get]; ok {
			t.Errorf("%s: Restore created bucket get", name)
		}
	}
}

// TestRestoreConcurrent replays the journal of a busy bucket into it while
// callers wait, from several goroutines, under the race detector: Restore
// of the Set's own grants must neither break the limit nor slow it.
func TestRestoreConcurrent(t *testing.T) {
	for _, ls := range []string{"2/3s", "15/3s", "4/1s"} {
		t.Run(ls, func(t *testing.T) {
			l, _ := ParseLimit(ls)
			synctest.Test(t, func(t *testing.T) {
				s := New(Profile{Post: l, Get: l}, Options{}) // the bubble's clock
				iv := s.Interval(Post)
				log := logGrants(s)
				ctx, cancel := context.WithCancel(t.Context())
				var wg sync.WaitGroup
				start := time.Now()
				for range l.N + 3 {
					wg.Go(func() {
						for ctx.Err() == nil {
							s.Wait(ctx, Post)
						}
					})
				}
				for k := range 3 {
					wg.Go(func() {
						for ctx.Err() == nil {
							journal := log.sorted(Post)
							journal = append(journal, journal...) // replayed twice
							s.Restore(Post, journal)
							s.Restore(Get, []time.Time{time.Now().Add(-time.Hour)})
							time.Sleep(iv/3 + time.Duration(k)*time.Millisecond)
						}
					})
				}
				time.Sleep(20 * l.Window)
				end := time.Now()
				cancel()
				wg.Wait()
				grants := log.sorted(Post)
				// The last may race the end of the test's sleep.
				if want := int(end.Sub(start)/iv) + 1; len(grants) < want-1 || len(grants) > want {
					t.Errorf("%d grants in 20 windows, want %d (one every %v)", len(grants), want, iv)
				}
				if v := Violations(l, grants); v != 0 {
					t.Errorf("%d violations", v)
				}
				for k := 1; k < len(grants); k++ {
					if gap := grants[k].Sub(grants[k-1]); gap < iv-time.Nanosecond {
						t.Fatalf("grants %d and %d only %v apart, want ≥ %v", k-1, k, gap, iv)
					}
				}
			})
		})
	}
}
