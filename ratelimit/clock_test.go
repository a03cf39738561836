package ratelimit

import (
	"slices"
	"sync"
	"testing/synctest"
	"time"
)

// fakeClock is a clock the test advances by hand, for Options.Now and
// Options.NewTimer. Tests run inside a synctest bubble so that
// synctest.Wait tells when every goroutine is blocked on a fake timer (or
// done) and the clock may move on.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	when time.Time
	ch   chan time.Time
}

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{when: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t.ch, func() bool { return false }
	}
	c.timers = append(c.timers, t)
	return t.ch, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.Index(c.timers, t)
		if i < 0 {
			return false
		}
		c.timers = slices.Delete(c.timers, i, i+1)
		return true
	}
}

// options returns Options wired to c.
func (c *fakeClock) options() Options {
	return Options{Now: c.Now, NewTimer: c.NewTimer, Rand: func() float64 { return 0 }}
}

// advanceTo sets the clock to t and fires every timer due by then.
func (c *fakeClock) advanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	c.timers = slices.DeleteFunc(c.timers, func(ft *fakeTimer) bool {
		if ft.when.After(t) {
			return false
		}
		ft.ch <- ft.when
		return true
	})
}

// next returns the earliest pending timer's time.
func (c *fakeClock) next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return time.Time{}, false
	}
	return slices.MinFunc(c.timers, func(a, b *fakeTimer) int { return a.when.Compare(b.when) }).when, true
}

// runUntil lets the bubble settle, then steps the clock from timer to timer
// (letting it settle after each) until no timer is due before end, and
// leaves the clock at end.
func (c *fakeClock) runUntil(end time.Time) {
	for {
		synctest.Wait()
		t, ok := c.next()
		if !ok || t.After(end) {
			break
		}
		c.advanceTo(t)
	}
	c.advanceTo(end)
	synctest.Wait()
}
