package ratelimit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// workflowGrants records, in order, which workflow got each grant and its slot.
type workflowGrants struct {
	mu     sync.Mutex
	grants []grantTo
}

type grantTo struct {
	name string
	at   time.Time
}

// handle returns workflow name's handle, its grants logged.
func (l *workflowGrants) handle(s *Scheduler, name string, prio int) *Handle {
	h := s.For(name, prio)
	h.OnGrant(func(b Bucket, at time.Time) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.grants = append(l.grants, grantTo{name, at})
	})
	return h
}

func (l *workflowGrants) list() []grantTo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]grantTo(nil), l.grants...)
}

// queueUp starts n callers of h.Wait on Post, one after the other, each
// queued before the next starts, so their order is known.
func queueUp(ctx context.Context, wg *sync.WaitGroup, h *Handle, n int, errs chan<- error) {
	for range n {
		wg.Go(func() {
			if err := h.Wait(ctx, Post); err != nil && errs != nil {
				errs <- err
			}
		})
		synctest.Wait()
	}
}

// TestPriorityRushWithinOneInterval: a priority-1 caller that arrives
// while another workflow has a backlog of 200 at priority 5 is granted
// the very next slot, so it waits at most one interval.
func TestPriorityRushWithinOneInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		set := New(Profile{Post: {10, 10 * time.Second}}, clock.options())
		iv := set.Interval(Post)
		var rushGrant []Granted
		s := NewScheduler(set, SchedulerOptions{Now: clock.Now, Observe: func(g Granted) {
			if g.Workflow == "rush" {
				rushGrant = append(rushGrant, g)
			}
		}})
		var log workflowGrants
		bulk, rush := log.handle(s, "bulk", 5), log.handle(s, "rush", 1)
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		queueUp(ctx, &wg, bulk, 200, nil)
		// Let the backlog drain for a while, then the rush file arrives
		// between two grants.
		arrive := t0.Add(7*iv + iv/3)
		clock.runUntil(arrive)
		before := len(log.list())
		queueUp(ctx, &wg, rush, 1, nil)
		clock.runUntil(arrive.Add(3 * iv))
		got := log.list()
		cancel()
		wg.Wait()
		if before < 5 {
			t.Fatalf("only %d bulk grants before the rush file: the backlog did not drain", before)
		}
		if len(got) <= before || got[before].name != "rush" {
			t.Fatalf("grant after the rush file arrived went to %v; want rush first", got[before:])
		}
		if wait := got[before].at.Sub(arrive); wait > iv || wait < 0 {
			t.Errorf("rush waited %v; want at most one interval (%v)", wait, iv)
		}
		if len(rushGrant) != 1 || rushGrant[0].Overtaken != 0 || rushGrant[0].Waited != got[before].at.Sub(arrive) {
			t.Errorf("observed %+v; want one grant, overtaken by none, waited as logged", rushGrant)
		}
		t.Logf("rush waited %v of a %v interval, behind a backlog of %d", got[before].at.Sub(arrive), iv, 200-before)
		if w := s.Waiting("bulk")[Post]; w.N != 0 {
			t.Errorf("%d bulk callers still counted as waiting after they left", w.N)
		}
	})
}

// TestPriorityFairAmongEquals: two workflows of one priority, the first
// queued with 20 callers before the second with 20: grants alternate, so
// at every point each has had its share within one grant.
func TestPriorityFairAmongEquals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		set := New(Profile{Post: {10, 10 * time.Second}}, clock.options())
		iv := set.Interval(Post)
		s := NewScheduler(set, SchedulerOptions{Now: clock.Now})
		var log workflowGrants
		a, b := log.handle(s, "a", 3), log.handle(s, "b", 3)
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		queueUp(ctx, &wg, a, 20, nil)
		queueUp(ctx, &wg, b, 20, nil)
		clock.runUntil(t0.Add(45 * iv))
		cancel()
		wg.Wait()
		got := log.list()
		if len(got) != 40 {
			t.Fatalf("%d grants, want all 40", len(got))
		}
		n := map[string]int{}
		for i, g := range got {
			n[g.name]++
			if d := n["a"] - n["b"]; d > 1 || d < -1 {
				t.Fatalf("after %d grants a has %d, b %d: not fair within one grant", i+1, n["a"], n["b"])
			}
			if i > 0 && g.at.Sub(got[i-1].at) < iv {
				t.Fatalf("grants %d and %d %v apart: the Scheduler broke the pacing (interval %v)", i, i+1, g.at.Sub(got[i-1].at), iv)
			}
		}
	})
}

// TestPriorityOrder: with three priorities waiting, each grant goes to the
// most urgent; within a workflow, first come first served.
func TestPriorityOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		set := New(Profile{Post: {10, 10 * time.Second}}, clock.options())
		s := NewScheduler(set, SchedulerOptions{Now: clock.Now})
		var log workflowGrants
		low, mid, high := log.handle(s, "low", 9), log.handle(s, "mid", 5), log.handle(s, "high", 1)
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		// The first grant is immediate: it goes to the first caller.
		queueUp(ctx, &wg, low, 3, nil)
		queueUp(ctx, &wg, mid, 2, nil)
		queueUp(ctx, &wg, high, 2, nil)
		clock.runUntil(t0.Add(10 * set.Interval(Post)))
		cancel()
		wg.Wait()
		var order string
		for _, g := range log.list() {
			order += g.name[:1]
		}
		if order != "lhhmmll" {
			t.Errorf("grant order %q, want lhhmmll", order)
		}
	})
}

// TestPriorityGivingUp: a caller that gives up leaves the queue; one that
// gives up after its grant was chosen passes it on. Every grant the
// limiter made reaches a caller that is still waiting.
func TestPriorityGivingUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		set := New(Profile{Post: {10, 10 * time.Second}}, clock.options())
		iv := set.Interval(Post)
		s := NewScheduler(set, SchedulerOptions{Now: clock.Now})
		var log workflowGrants
		a, b := log.handle(s, "a", 5), log.handle(s, "b", 5)
		ctx, cancel := context.WithCancel(t.Context())
		short, cancelShort := context.WithCancel(ctx)
		errs := make(chan error, 10)
		var wg sync.WaitGroup
		queueUp(short, &wg, a, 3, errs)
		queueUp(ctx, &wg, b, 3, errs)
		clock.runUntil(t0.Add(iv / 2)) // one grant (a's) so far
		cancelShort()
		synctest.Wait()
		clock.runUntil(t0.Add(4 * iv))
		cancel()
		wg.Wait()
		close(errs)
		var canceled int
		for err := range errs {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Wait: %v", err)
			}
			canceled++
		}
		got := log.list()
		var order string
		for _, g := range got {
			order += g.name
		}
		if order != "abbb" || canceled != 2 {
			t.Errorf("grants %q with %d callers given up; want abbb and 2 (a's last two)", order, canceled)
		}
		if w := s.Waiting("")[Post]; w.N != 0 {
			t.Errorf("%d callers counted as waiting at the end", w.N)
		}
	})
}

// TestPriorityErrors: the limiter's refusals (a spent POST budget) reach
// the callers, and no more grants are made than the budget allows.
func TestPriorityErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		opt := clock.options()
		opt.MaxPosts = 3
		set := New(Profile{Post: {10, 10 * time.Second}}, opt)
		s := NewScheduler(set, SchedulerOptions{Now: clock.Now})
		var log workflowGrants
		h := log.handle(s, "a", 5)
		errs := make(chan error, 10)
		var wg sync.WaitGroup
		queueUp(t.Context(), &wg, h, 5, errs)
		clock.runUntil(t0.Add(10 * set.Interval(Post)))
		wg.Wait()
		close(errs)
		var spent int
		for err := range errs {
			if errors.Is(err, ErrPostBudgetSpent) {
				spent++
			}
		}
		if n := len(log.list()); n != 3 || spent != 2 {
			t.Errorf("%d grants and %d budget errors; want 3 and 2", n, spent)
		}
	})
}

// TestSchedulerStats: the callers waiting in the Scheduler are what the
// limiter's stats count as waiting.
func TestSchedulerStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		set := New(Profile{Post: {10, 10 * time.Second}}, clock.options())
		iv := set.Interval(Post)
		s := NewScheduler(set, SchedulerOptions{Now: clock.Now})
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		queueUp(ctx, &wg, s.For("a", 5), 6, nil)
		clock.runUntil(t0.Add(3*iv + iv/2))
		st := s.Stats(set.Stats())[Post]
		if st.Waiting != 2 || !st.WaitingOnQuota() {
			t.Errorf("stats %+v: want 2 waiting (6 callers, 4 grants), waiting on quota", st)
		}
		if st.LongestWait != 3*iv+iv/2 {
			t.Errorf("longest wait %v, want %v", st.LongestWait, 3*iv+iv/2)
		}
		cancel()
		wg.Wait()
	})
}
