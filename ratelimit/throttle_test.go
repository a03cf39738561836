package ratelimit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestThrottledPausesEveryWaiter: a 429 on one bucket holds every waiter on
// it (not only the caller that got it) for exactly Retry-After, then
// releases them one interval apart; other buckets go on.
func TestThrottledPausesEveryWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		opt := clock.options()
		opt.Slowdown = 1 // the rate after a pause is TestSlowdownAndRecovery's
		s := New(Soft(), opt)
		iv := s.Interval(RemoveBackgroundPost)
		ctx := t.Context()
		post := &recorder{clock: clock}
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { post.record(s.Wait(ctx, RemoveBackgroundPost)) })
		}
		synctest.Wait() // one through at t0, two waiting for t0+iv, t0+2iv

		clock.advanceTo(t0.Add(100 * time.Millisecond))
		s.Throttled(RemoveBackgroundPost, 5*time.Second)
		get := &recorder{clock: clock}
		wg.Go(func() { get.record(s.Wait(ctx, Get)) })
		clock.runUntil(t0.Add(20 * time.Second))
		wg.Wait()

		resume := t0.Add(5100 * time.Millisecond)
		want := []time.Time{t0, resume, resume.Add(iv)}
		if got := post.sorted(); !equalTimes(got, want) {
			t.Errorf("remove-background.post grants at %v, want %v", offsets(got), offsets(want))
		}
		if got := get.sorted(); !equalTimes(got, []time.Time{t0.Add(100 * time.Millisecond)}) {
			t.Errorf("get grants at %v, want +100ms: other buckets must not pause", offsets(got))
		}
	})
}

// TestThrottledPauseLongerThanSlot: a pause that begins while a caller
// waits for its slot holds it even though the slot would come first.
func TestThrottledPauseLongerThanSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		s := New(Profile{Post: {1, time.Second}}, clock.options())
		rec := &recorder{clock: clock}
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { rec.record(s.Wait(t.Context(), Post)) })
		}
		synctest.Wait()
		// The second caller's slot is at t0+1.02s; the pause ends later.
		s.Throttled(Post, 3*time.Second)
		s.Throttled(Post, time.Second) // a shorter Retry-After does not shorten it
		clock.runUntil(t0.Add(10 * time.Second))
		wg.Wait()
		want := []time.Time{t0, t0.Add(3 * time.Second)}
		if got := rec.sorted(); !equalTimes(got, want) {
			t.Errorf("grants at %v, want %v", offsets(got), offsets(want))
		}
	})
}

// TestThrottledShortPauseKeepsQueueOrder: a pause shorter than the queue
// takes every queued slot back (latest first, so x/time/rate returns them
// all) and the queue resumes on the same schedule, not behind its own
// abandoned slots.
func TestThrottledShortPauseKeepsQueueOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		opt := clock.options()
		opt.Slowdown = 1
		s := New(Profile{Post: {1, time.Second}}, opt)
		iv := s.Interval(Post)
		rec := &recorder{clock: clock}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { rec.record(s.Wait(t.Context(), Post)) })
		}
		synctest.Wait() // one through, three queued for +iv, +2iv, +3iv
		clock.advanceTo(t0.Add(100 * time.Millisecond))
		s.Throttled(Post, 500*time.Millisecond)
		clock.runUntil(t0.Add(10 * time.Second))
		wg.Wait()
		want := []time.Time{t0, t0.Add(iv), t0.Add(2 * iv), t0.Add(3 * iv)}
		if got := rec.sorted(); !equalTimes(got, want) {
			t.Errorf("grants at %v, want %v", offsets(got), offsets(want))
		}
	})
}

func TestThrottledPause(t *testing.T) {
	rbPost := Limit{2, 3 * time.Second} // back-off starts at 2×3s/2 = 3s
	get := Limit{300, 3 * time.Second}  // 2×3s/300 = 20ms, so 1s
	tests := []struct {
		name  string
		l     Limit
		opt   Options
		rand  float64
		retry []time.Duration // one 429 each, each once the previous pause has ended
		want  []time.Duration // each pause
	}{
		{name: "retry-after exactly", l: rbPost, retry: []time.Duration{7 * time.Second, 1500 * time.Millisecond}, want: []time.Duration{7 * time.Second, 1500 * time.Millisecond}},
		{name: "retry-after capped", l: rbPost, retry: []time.Duration{10 * time.Minute}, want: []time.Duration{time.Minute}},
		{name: "retry-after capped by option", l: rbPost, opt: Options{MaxPause: 5 * time.Second}, retry: []time.Duration{6 * time.Second}, want: []time.Duration{5 * time.Second}},
		{name: "back-off doubles to the cap", l: rbPost, retry: make([]time.Duration, 7),
			want: []time.Duration{3 * time.Second, 6 * time.Second, 12 * time.Second, 24 * time.Second, 48 * time.Second, time.Minute, time.Minute}},
		{name: "back-off starts at 1s", l: get, retry: make([]time.Duration, 3),
			want: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
		{name: "back-off jitter", l: rbPost, rand: 0.5, retry: make([]time.Duration, 2),
			want: []time.Duration{3375 * time.Millisecond, 6750 * time.Millisecond}},
		{name: "jitter stays under the cap", l: rbPost, rand: 0.96, opt: Options{MaxPause: 10 * time.Second}, retry: make([]time.Duration, 3),
			want: []time.Duration{3720 * time.Millisecond, 7440 * time.Millisecond, 10 * time.Second}},
		{name: "retry-after counts in the streak", l: rbPost, retry: []time.Duration{time.Second, 0},
			want: []time.Duration{time.Second, 6 * time.Second}},
		{name: "negative retry-after is none", l: rbPost, retry: []time.Duration{-time.Second}, want: []time.Duration{3 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			opt := tc.opt
			opt.Now, opt.NewTimer = clock.Now, clock.NewTimer
			opt.Rand = func() float64 { return tc.rand }
			s := New(Profile{Post: tc.l}, opt)
			for i, ra := range tc.retry {
				now := clock.Now()
				s.Throttled(Post, ra)
				until := s.Stats()[Post].PausedUntil
				if got := until.Sub(now); got.Round(time.Millisecond) != tc.want[i] {
					t.Errorf("429 #%d (Retry-After %v): paused %v, want %v", i+1, ra, got, tc.want[i])
				}
				clock.advanceTo(until)
			}
			if got := s.Stats()[Post].Throttles; got != int64(len(tc.retry)) {
				t.Errorf("Throttles = %d, want %d", got, len(tc.retry))
			}
		})
	}
}

func TestThrottledJitterDefaultRand(t *testing.T) {
	base := 3 * time.Second
	seen := map[time.Duration]bool{}
	for range 50 {
		clock := newFakeClock()
		s := New(Profile{Post: {2, 3 * time.Second}}, Options{Now: clock.Now})
		s.Throttled(Post, 0)
		d := s.Stats()[Post].PausedUntil.Sub(t0)
		if d < base || d >= base*5/4 {
			t.Fatalf("pause %v, want in [%v, %v)", d, base, base*5/4)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("50 pauses took only %d values: not jittered", len(seen))
	}
}

// TestThrottledNoStacking: workers that all got a 429 from the same burst
// report it at once; the pause is the longest asked for, not the sum, and
// counts once in the streak.
func TestThrottledNoStacking(t *testing.T) {
	clock := newFakeClock()
	s := New(Profile{Post: {2, 3 * time.Second}, Get: {2, 3 * time.Second}}, clock.options())
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { s.Throttled(Post, 0) })
	}
	for _, ra := range []time.Duration{3 * time.Second, 7 * time.Second, 5 * time.Second} {
		wg.Go(func() { s.Throttled(Get, ra) })
	}
	wg.Wait()
	st := s.Stats()
	if got := st[Post].PausedUntil.Sub(t0); got != 3*time.Second || st[Post].Throttles != 5 {
		t.Errorf("five 429s at once: paused %v, %d throttles; want 3s, 5", got, st[Post].Throttles)
	}
	if got := st[Get].PausedUntil.Sub(t0); got != 7*time.Second {
		t.Errorf("Retry-After 3s, 7s, 5s at once: paused %v, want 7s", got)
	}
	// The next 429 after the pause is the second of the streak, not the sixth.
	clock.advanceTo(t0.Add(3 * time.Second))
	s.Throttled(Post, 0)
	if got := s.Stats()[Post].PausedUntil.Sub(clock.Now()); got != 6*time.Second {
		t.Errorf("next 429: paused %v, want 6s", got)
	}
}

// TestThrottledStreakReset: the streak ends once a full window passes after
// the pause without a 429.
func TestThrottledStreakReset(t *testing.T) {
	const w = 3 * time.Second
	for _, tc := range []struct {
		after time.Duration // from the end of the first pause to the second 429
		want  time.Duration
	}{
		{0, 6 * time.Second},
		{w - time.Nanosecond, 6 * time.Second},
		{w, 3 * time.Second},
		{time.Hour, 3 * time.Second},
	} {
		clock := newFakeClock()
		s := New(Profile{Post: {2, w}}, clock.options())
		s.Throttled(Post, 0)
		clock.advanceTo(s.Stats()[Post].PausedUntil.Add(tc.after))
		s.Throttled(Post, 0)
		if got := s.Stats()[Post].PausedUntil.Sub(clock.Now()); got != tc.want {
			t.Errorf("second 429 %v after the first pause: paused %v, want %v", tc.after, got, tc.want)
		}
	}
}

// TestWaitCancel: a caller whose context ends while paused or queued
// returns ctx.Err() at once (no fake time passes) and gives its slot back.
func TestWaitCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		s := New(Profile{Post: {1, time.Second}}, clock.options())
		iv := s.Interval(Post)
		if err := s.Wait(t.Context(), Post); err != nil { // takes the slot at t0
			t.Fatal(err)
		}

		// Queued for a slot.
		ctx, cancel := context.WithCancel(t.Context())
		var err error
		var wg sync.WaitGroup
		wg.Go(func() { err = s.Wait(ctx, Post) })
		synctest.Wait()
		cancel()
		wg.Wait()
		if !errors.Is(err, context.Canceled) || !clock.Now().Equal(t0) {
			t.Errorf("cancelled while queued: %v at +%v, want context.Canceled at once", err, clock.Now().Sub(t0))
		}
		// Its slot (t0+iv) goes to the next caller, not t0+2iv.
		rec := &recorder{clock: clock}
		wg.Go(func() { rec.record(s.Wait(t.Context(), Post)) })
		clock.runUntil(t0.Add(5 * time.Second))
		wg.Wait()
		if got := rec.sorted(); !equalTimes(got, []time.Time{t0.Add(iv)}) {
			t.Errorf("next caller after a cancel got through at %v, want +%v", offsets(got), iv)
		}

		// Paused.
		s.Throttled(Post, 30*time.Second)
		paused := clock.Now()
		ctx, cancel = context.WithCancel(t.Context())
		wg.Go(func() { err = s.Wait(ctx, Post) })
		synctest.Wait()
		cancel()
		wg.Wait()
		if !errors.Is(err, context.Canceled) || !clock.Now().Equal(paused) {
			t.Errorf("cancelled while paused: %v after %v, want context.Canceled at once", err, clock.Now().Sub(paused))
		}

		// Already done: no slot taken.
		clock.advanceTo(clock.Now().Add(time.Minute))
		done, cancel3 := context.WithCancel(t.Context())
		cancel3()
		if err := s.Wait(done, Post); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait with a done context = %v, want context.Canceled", err)
		}
		before := clock.Now()
		if err := s.Wait(t.Context(), Post); err != nil || !clock.Now().Equal(before) {
			t.Errorf("Wait after a done-context call: %v, waited %v, want at once", err, clock.Now().Sub(before))
		}
		if st := s.Stats()[Post]; st.Waiting != 0 {
			t.Errorf("Waiting = %d after every caller returned", st.Waiting)
		}
	})
}

// equalTimes reports whether a and b agree to the nanosecond that
// x/time/rate may lose converting delays through float64 seconds.
func equalTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if d := a[i].Sub(b[i]); d < -time.Nanosecond || d > time.Nanosecond {
			return false
		}
	}
	return true
}

// offsets shows times as offsets from t0, for messages.
func offsets(ts []time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = t.Sub(t0)
	}
	return out
}
