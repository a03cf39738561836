package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestOnGrantReportsEachGrant: busy callers on three buckets at once; every
// successful Wait is reported once, with its bucket and the slot granted
// (on the fake clock, the moment Wait returns), before Wait returns.
// Callers still queued when the run ends are not reported.
func TestOnGrantReportsEachGrant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		p := Profile{Post: {4, time.Second}, RemoveBackgroundPost: {2, 3 * time.Second}, Get: {15, 3 * time.Second}}
		s := New(p, clock.options())
		log := logGrants(s)
		ctx, cancel := context.WithCancel(t.Context())
		recs := map[Bucket]*recorder{}
		var wg sync.WaitGroup
		for b, l := range p {
			rec := &recorder{clock: clock}
			recs[b] = rec
			for range l.N + 2 {
				wg.Go(func() {
					for ctx.Err() == nil {
						err := s.Wait(ctx, b)
						if err == nil && !log.has(b, clock.Now()) {
							t.Errorf("%s: Wait returned at +%v before OnGrant reported it", b, clock.Now().Sub(t0))
						}
						rec.record(err)
					}
				})
			}
		}
		clock.runUntil(t0.Add(10 * time.Second))
		cancel()
		wg.Wait()
		for b, rec := range recs {
			returned, reported := rec.sorted(), log.sorted(b)
			if len(returned) < 5 {
				t.Errorf("%s: only %d grants", b, len(returned))
			}
			if len(rec.errs) == 0 {
				t.Errorf("%s: no caller was cancelled while queued; the test shows nothing", b)
			}
			if len(reported) != len(returned) {
				t.Errorf("%s: %d grants reported for %d successful Waits", b, len(reported), len(returned))
				continue
			}
			for k := range returned {
				if !reported[k].Equal(returned[k]) {
					t.Fatalf("%s: grant %d reported at +%v, Wait returned at +%v", b, k, reported[k].Sub(t0), returned[k].Sub(t0))
				}
			}
		}
	})
}

// TestOnGrantNotOnFailure: a Wait that fails reports nothing; OnGrant
// replaces the callback, and nil removes it.
func TestOnGrantNotOnFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		opt := clock.options()
		opt.MaxPosts = 2
		s := New(Profile{Post: {100, time.Second}, Get: {1, time.Second}}, opt)
		var calls []Bucket
		var mu sync.Mutex
		s.OnGrant(func(b Bucket, _ time.Time) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, b)
		})
		reported := func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(calls)
		}
		ctx := t.Context()

		done, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Wait(done, Post); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait with a done context = %v", err)
		}
		for range 2 {
			if err := s.Wait(ctx, Post); err != nil {
				t.Fatal(err)
			}
			clock.advanceTo(clock.Now().Add(time.Second))
		}
		if err := s.Wait(ctx, Post); !errors.Is(err, ErrPostBudgetSpent) {
			t.Fatalf("the third POST = %v, want ErrPostBudgetSpent", err)
		}
		if n := reported(); n != 2 {
			t.Errorf("%d grants reported after 2 POSTs, a cancelled one and a refused one", n)
		}

		// Cancelled while queued.
		if err := s.Wait(ctx, Get); err != nil {
			t.Fatal(err)
		}
		queued, cancel := context.WithCancel(ctx)
		var err error
		var wg sync.WaitGroup
		wg.Go(func() { err = s.Wait(queued, Get) })
		synctest.Wait()
		cancel()
		wg.Wait()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait cancelled while queued = %v", err)
		}
		if n := reported(); n != 3 {
			t.Errorf("%d grants reported, want 3: a cancelled Wait reported", n)
		}

		var other atomic.Int64
		s.OnGrant(func(Bucket, time.Time) { other.Add(1) })
		clock.advanceTo(clock.Now().Add(time.Minute))
		if err := s.Wait(ctx, Get); err != nil {
			t.Fatal(err)
		}
		s.OnGrant(nil)
		clock.advanceTo(clock.Now().Add(time.Minute))
		if err := s.Wait(ctx, Get); err != nil {
			t.Fatal(err)
		}
		if n, m := reported(), other.Load(); n != 3 || m != 1 {
			t.Errorf("after replacing the callback, then removing it: old one called %d times, new one %d; want 3, 1", n, m)
		}
	})
}

// TestOnGrantOutsideLock: the callback may call the Set, its own bucket
// included; under the bucket's lock it would deadlock. Real clock: a
// deadlock in a synctest bubble would hang rather than fail.
func TestOnGrantOutsideLock(t *testing.T) {
	s := New(Profile{Post: {1000, time.Second}, Get: {1000, time.Second}}, Options{})
	ctx := t.Context()
	var inner error
	s.OnGrant(func(b Bucket, at time.Time) {
		if b != Post {
			return
		}
		s.Stats()
		s.Restore(Post, []time.Time{at.Add(-time.Hour)})
		inner = s.Wait(ctx, Get)
	})
	done := make(chan error, 1)
	go func() { done <- s.Wait(ctx, Post) }()
	select {
	case err := <-done:
		if err != nil || inner != nil {
			t.Errorf("Wait = %v; Wait in the callback = %v", err, inner)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return in 10s: the callback runs under a lock")
	}
}

// TestOnGrantSlowCallback: a callback that blocks holds its own Wait, and
// only it: others on the same bucket go on at their pace. Real clock, as in
// TestOnGrantOutsideLock.
func TestOnGrantSlowCallback(t *testing.T) {
	s := New(Profile{Post: {100, time.Second}}, Options{})
	entered, stuck := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(stuck) })
	defer release() // lets everything unwind if the test fails
	var first atomic.Bool
	s.OnGrant(func(Bucket, time.Time) {
		if first.CompareAndSwap(false, true) {
			close(entered)
			<-stuck // a stuck disk
		}
	})
	done := make(chan error, 1)
	go func() { done <- s.Wait(t.Context(), Post) }()
	<-entered
	others := make(chan error, 1)
	go func() {
		var err error
		for range 3 {
			err = errors.Join(err, s.Wait(t.Context(), Post))
		}
		others <- err
	}()
	select {
	case err := <-others:
		if err != nil {
			t.Fatalf("Waits while another's callback blocks: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("3 Waits did not return in 10s while another's callback blocked")
	}
	select {
	case err := <-done:
		t.Fatalf("Wait returned (%v) before its callback did", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Error(err)
	}
}
