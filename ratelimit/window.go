package ratelimit

import (
	"sync"
	"time"
)

// Window is an exact sliding-window counter: it admits a request at time t
// only if fewer than N admitted requests lie in (t-W, t]. It is how the
// emulator enforces Adobe's limits and how tests check the limiter's
// property. Refused requests do not count against the window.
//
// The zero value is unusable; create one with [NewWindow]. A Window is safe
// for concurrent use.
type Window struct {
	mu    sync.Mutex
	limit Limit
	times []time.Time // ring of the last N admitted times
	next  int         // ring index of the oldest entry once full
}

// NewWindow returns a Window enforcing l.
func NewWindow(l Limit) *Window {
	return &Window{limit: l, times: make([]time.Time, 0, l.N)}
}

// Limit returns the limit the window enforces.
func (w *Window) Limit() Limit { return w.limit }

// Allow reports whether a request at t fits the window and, if it does,
// records it. When it does not, wait is how long after t the oldest admitted
// request leaves the window (the Retry-After a server would send).
// Calls must come in non-decreasing t.
func (w *Window) Allow(t time.Time) (ok bool, wait time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.times) < w.limit.N {
		w.times = append(w.times, t)
		return true, 0
	}
	oldest := w.times[w.next]
	if t.Sub(oldest) >= w.limit.Window {
		w.times[w.next] = t
		w.next = (w.next + 1) % w.limit.N
		return true, 0
	}
	return false, oldest.Add(w.limit.Window).Sub(t)
}

// Violations counts how many of times (sorted ascending) would have been
// refused by an exact window of limit l: 0 means no window of length
// l.Window ever held more than l.N of them.
func Violations(l Limit, times []time.Time) int {
	n := 0
	for i := l.N; i < len(times); i++ {
		if times[i].Sub(times[i-l.N]) < l.Window {
			n++
		}
	}
	return n
}
