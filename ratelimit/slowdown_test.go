package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// saturate keeps n callers asking for b until ctx is done, recording grants.
func saturate(ctx context.Context, wg *sync.WaitGroup, s *Set, b Bucket, n int, rec *recorder) {
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := s.Wait(ctx, b); err == nil {
					rec.record(nil)
				}
			}
		})
	}
}

// TestSlowdownAndRecovery: after a 429 the bucket pauses, resumes at
// Slowdown × its rate, and regains Recovery of it per window until it is
// back at the full rate; every grant stays at least one interval apart.
func TestSlowdownAndRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		opt := clock.options()
		opt.Slowdown, opt.Recovery = 0.5, 0.1
		l := Limit{N: 1, Window: time.Second}
		s := New(Profile{Post: l}, opt)
		iv := s.Interval(Post)
		ctx, cancel := context.WithCancel(t.Context())
		rec := &recorder{clock: clock}
		var wg sync.WaitGroup
		saturate(ctx, &wg, s, Post, 4, rec)

		clock.runUntil(t0.Add(3500 * time.Millisecond))
		s.Throttled(Post, 2*time.Second)
		resume := t0.Add(5500 * time.Millisecond)
		if r := s.Stats()[Post].Rate; r != 0.5 {
			t.Errorf("Rate during the pause = %v, want 0.5", r)
		}
		clock.runUntil(resume.Add(3 * time.Second))
		if r := s.Stats()[Post].Rate; r != 0.8 {
			t.Errorf("Rate 3 windows after the pause = %v, want 0.8", r)
		}
		clock.runUntil(resume.Add(10 * time.Second))
		if r := s.Stats()[Post].Rate; r != 1 {
			t.Errorf("Rate 10 windows after the pause = %v, want 1", r)
		}
		cancel()
		wg.Wait()

		grants := rec.sorted()
		var gaps []time.Duration // after the pause
		for k := 1; k < len(grants); k++ {
			gap := grants[k].Sub(grants[k-1])
			if gap < iv-time.Nanosecond {
				t.Errorf("grants %d and %d only %v apart, want ≥ %v", k-1, k, gap, iv)
			}
			if grants[k-1].After(t0.Add(3 * time.Second)) {
				gaps = append(gaps, gap)
			}
		}
		if v := Violations(l, grants); v != 0 {
			t.Errorf("%d violations", v)
		}
		if len(gaps) < 8 {
			t.Fatalf("only %d grants after the pause: %v", len(gaps), offsets(grants))
		}
		// The pause itself, then the slowed rate: 2 intervals between grants.
		if first := gaps[1]; first < 2*iv-time.Millisecond || first > 2*iv+time.Millisecond {
			t.Errorf("first gap after the pause %v, want 2×%v (half the rate)", first, iv)
		}
		for k := 2; k < len(gaps); k++ {
			if gaps[k] > gaps[k-1]+time.Millisecond {
				t.Errorf("gap %d (%v) longer than gap %d (%v): recovery must only speed up", k, gaps[k], k-1, gaps[k-1])
			}
		}
		if last := gaps[len(gaps)-1]; last < iv-time.Nanosecond || last > iv+time.Nanosecond {
			t.Errorf("last gap %v, want the full rate's %v", last, iv)
		}
	})
}

// TestSlowdownFloor: each counted 429 lowers the rate by Slowdown, never
// below MinRate; 429s answering requests sent before the pause do not.
func TestSlowdownFloor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		opt := clock.options()
		opt.Slowdown, opt.MinRate = 0.5, 0.2
		s := New(Profile{Post: {2, 3 * time.Second}}, opt)
		now := t0
		for i, want := range []float64{0.5, 0.25, 0.2, 0.2} {
			s.Throttled(Post, time.Second)
			s.Throttled(Post, time.Second) // sent before the pause: not counted
			if r := s.Stats()[Post].Rate; r != want {
				t.Errorf("after 429 %d: Rate = %v, want %v", i+1, r, want)
			}
			now = now.Add(1100 * time.Millisecond) // the pause is over, no recovery yet
			clock.advanceTo(now)
		}
		if th := s.Stats()[Post].Throttles; th != 8 {
			t.Errorf("Throttles = %d, want 8", th)
		}
	})
}

// TestSlowdownNeverExceedsLimit runs many callers on a fake clock while
// 429s arrive at random and the rate keeps dropping and recovering: no
// window may ever hold more than N grants, nor any two grants come closer
// than an interval. Raising the rate while slots are queued is where this
// could go wrong.
func TestSlowdownNeverExceedsLimit(t *testing.T) {
	for _, ls := range []string{"2/3s", "15/3s", "4/1s"} {
		t.Run(ls, func(t *testing.T) {
			l, err := ParseLimit(ls)
			if err != nil {
				t.Fatal(err)
			}
			synctest.Test(t, func(t *testing.T) {
				clock := newFakeClock()
				opt := clock.options()
				opt.Recovery = 0.2 // many steps up in a short test
				s := New(Profile{Post: l}, opt)
				iv := s.Interval(Post)
				ctx, cancel := context.WithCancel(t.Context())
				rec := &recorder{clock: clock}
				var wg sync.WaitGroup
				saturate(ctx, &wg, s, Post, 40, rec)
				rng := rand.New(rand.NewPCG(7, uint64(l.N)))
				now := t0
				for range 12 {
					now = now.Add(time.Duration(rng.Int64N(int64(8 * l.Window))))
					clock.runUntil(now)
					s.Throttled(Post, time.Duration(rng.Int64N(2))*l.Window) // with and without Retry-After
				}
				clock.runUntil(now.Add(20 * l.Window))
				cancel()
				wg.Wait()
				grants := rec.sorted()
				if v := Violations(l, grants); v != 0 {
					t.Errorf("%d violations in %d grants", v, len(grants))
				}
				for k := 1; k < len(grants); k++ {
					if gap := grants[k].Sub(grants[k-1]); gap < iv-time.Nanosecond {
						t.Fatalf("grants %d and %d only %v apart, want ≥ %v", k-1, k, gap, iv)
					}
				}
				if r := s.Stats()[Post].Rate; r != 1 {
					t.Errorf("Rate = %v 20 windows after the last 429, want 1", r)
				}
			})
		})
	}
}

// TestThrottledQueueKeepsFlowing: with a long queue (a pool of workers all
// waiting on the POST bucket), each 429 takes every queued slot back; the
// bucket must then go on granting at its (slowed, then recovered) rate, not
// stall for as long as the queue was.
func TestThrottledQueueKeepsFlowing(t *testing.T) {
	for _, tc := range []struct {
		limit    string
		slowdown float64
	}{{"4/1s", 0}, {"2/3s", 1}, {"15/3s", 1}, {"2/3s", 0}} {
		t.Run(fmt.Sprintf("%s-slowdown-%v", tc.limit, tc.slowdown), func(t *testing.T) {
			l, err := ParseLimit(tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			synctest.Test(t, func(t *testing.T) {
				clock := newFakeClock()
				opt := clock.options()
				opt.Slowdown = tc.slowdown
				s := New(Profile{Post: l}, opt)
				ctx, cancel := context.WithCancel(t.Context())
				rec := &recorder{clock: clock}
				var wg sync.WaitGroup
				saturate(ctx, &wg, s, Post, 72, rec)
				now := t0
				for range 5 {
					now = now.Add(5 * l.Window / 3)
					clock.runUntil(now)
					s.Throttled(Post, l.Window/3)
				}
				// 20 windows to recover fully (0.7⁵ ≈ 0.17 is 17 steps
				// of 5% from the full rate), then count 10.
				from := now.Add(20 * l.Window)
				clock.runUntil(from.Add(10 * l.Window))
				cancel()
				wg.Wait()
				n := 0
				for _, g := range rec.sorted() {
					if !g.Before(from) {
						n++
					}
				}
				want := int(10*l.Window/s.Interval(Post)) - 1
				if n < want {
					t.Errorf("%d grants in the 10 windows after recovery, want ≥ %d (one per interval)", n, want)
				}
			})
		})
	}
}

// TestMaxPosts: the POST buckets together grant at most MaxPosts, then
// refuse at once; other buckets and cancelled waits do not count.
func TestMaxPosts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		opt := clock.options()
		opt.MaxPosts = 3
		s := New(Profile{Post: {100, time.Second}, RemoveBackgroundPost: {100, time.Second}, Get: {100, time.Second}}, opt)
		ctx := t.Context()
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Wait(cancelled, RemoveBackgroundPost); err == nil {
			t.Fatal("Wait on a cancelled context succeeded")
		}
		for i, b := range []Bucket{Post, RemoveBackgroundPost, Get, Get, RemoveBackgroundPost} {
			var err error
			done := make(chan struct{})
			go func() { err = s.Wait(ctx, b); close(done) }()
			clock.runUntil(clock.Now().Add(time.Second))
			<-done
			if err != nil {
				t.Fatalf("request %d on %s: %v", i, b, err)
			}
		}
		for _, b := range []Bucket{Post, RemoveBackgroundPost} {
			if err := s.Wait(ctx, b); !errors.Is(err, ErrPostBudgetSpent) {
				t.Errorf("the 4th POST on %s: %v, want ErrPostBudgetSpent", b, err)
			}
		}
		if err := s.Wait(ctx, Get); err != nil {
			t.Errorf("a GET after the budget: %v", err)
		}
	})
}

// TestDailyPosts: the POST buckets grant at most DailyPosts per UTC day,
// counting what earlier runs spent today; a new day starts afresh, and
// GETs and cancelled waits do not count.
func TestDailyPosts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		clock.advanceTo(t0.Add(23*time.Hour + 59*time.Minute)) // a minute before midnight, UTC
		opt := clock.options()
		opt.DailyPosts = 3
		s := New(Profile{Post: {100, time.Second}, RemoveBackgroundPost: {100, time.Second}, Get: {100, time.Second}}, opt)
		s.RestoreSpent(t0.Add(-time.Hour), 50) // yesterday's: nothing today
		s.RestoreSpent(t0.Add(time.Hour), 1)   // today's, by an earlier run
		ctx := t.Context()
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Wait(cancelled, Post); err == nil {
			t.Fatal("Wait on a cancelled context succeeded")
		}
		grant := func(b Bucket) error {
			var err error
			done := make(chan struct{})
			go func() { err = s.Wait(ctx, b); close(done) }()
			clock.runUntil(clock.Now().Add(time.Second))
			<-done
			return err
		}
		for i, b := range []Bucket{Post, Get, RemoveBackgroundPost, Get} {
			if err := grant(b); err != nil {
				t.Fatalf("request %d on %s: %v", i, b, err)
			}
		}
		if err := s.Wait(ctx, Post); !errors.Is(err, ErrDailyCapReached) {
			t.Errorf("the 4th POST of the day (1 restored + 2): %v, want ErrDailyCapReached", err)
		}
		if err := grant(Get); err != nil {
			t.Errorf("a GET after the cap: %v", err)
		}
		clock.advanceTo(t0.Add(24 * time.Hour)) // midnight, UTC
		for i := range 3 {
			if err := grant(RemoveBackgroundPost); err != nil {
				t.Fatalf("POST %d of the new day: %v", i, err)
			}
		}
		if err := s.Wait(ctx, Post); !errors.Is(err, ErrDailyCapReached) {
			t.Errorf("the 4th POST of the new day: %v, want ErrDailyCapReached", err)
		}
	})
}
