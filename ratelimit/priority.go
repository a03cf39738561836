package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Shared is a limiter several workflows divide: a [*Set], or a quota shared
// with other processes (redisquota). Its OnGrant belongs to the
// [Scheduler] wrapping it; give each workflow's callback to its [Handle].
type Shared interface {
	Wait(ctx context.Context, b Bucket) error
	Throttled(b Bucket, retryAfter time.Duration)
	OnGrant(fn func(b Bucket, at time.Time))
	Restore(b Bucket, grants []time.Time)
	RestoreSpent(day time.Time, n int64)
}

// A Scheduler shares the grants of one limiter among workflows by
// priority, then fairly. Each workflow waits through its own [Handle]
// (from [Scheduler.For]). Per bucket, the Scheduler keeps one request
// waiting in the limiter on behalf of its queue, and only when that slot is
// granted does it choose who gets it: the most urgent priority (1 before
// 2), among equals the workflow served least recently (round robin, so
// two busy workflows alternate), and within a workflow the longest
// waiting. A file in a rush folder therefore waits for at most the next
// grant, however long another folder's backlog is.
//
// The limiter's pacing and its guarantees are unchanged: the Scheduler
// only picks who uses each grant. A caller that gives up (its context
// ends) after its grant was chosen passes the grant on to the next in
// line. A Scheduler is safe for concurrent use.
type Scheduler struct {
	inner   Shared
	now     func() time.Time
	observe func(Granted)

	mu     sync.Mutex
	queues map[Bucket]*queue
}

// queue is one bucket's callers waiting for a grant.
type queue struct {
	waiting []*ticket
	pumping bool               // a goroutine waits in the limiter for this queue
	cancel  context.CancelFunc // ends that wait when nobody is left
	at      time.Time          // the slot of the limiter's last grant (its OnGrant)
	serial  uint64             // grants handed out
	served  map[string]uint64  // per workflow, the serial of its last grant
	count   map[string]uint64  // per workflow, grants handed out
	seq     uint64             // tickets issued, for first come first served
}

// ticket is one caller blocked in Handle.Wait.
type ticket struct {
	h      *Handle
	seq    uint64
	serial uint64 // the queue's grants handed out when it came
	own    uint64 // its workflow's, then
	began  time.Time
	ch     chan grant // buffered: the one grant, or error, it is given
}

// Granted describes one grant a Scheduler handed out, for
// SchedulerOptions.Observe.
type Granted struct {
	Workflow  string
	Priority  int
	Bucket    Bucket
	Waited    time.Duration // from the call of Wait to the grant
	Overtaken int           // grants on the bucket that went to other workflows meanwhile
}

// SchedulerOptions tune a [Scheduler]; the zero value means the defaults.
type SchedulerOptions struct {
	// Now is the clock of waiting times. Default time.Now.
	Now func() time.Time
	// Observe, when set, is called with each grant handed out, under the
	// Scheduler's lock: it must be quick and must not call the Scheduler.
	Observe func(Granted)
}

type grant struct {
	at  time.Time
	err error
}

// NewScheduler returns a Scheduler sharing inner. It takes over inner's
// OnGrant.
func NewScheduler(inner Shared, opt SchedulerOptions) *Scheduler {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Scheduler{inner: inner, now: opt.Now, observe: opt.Observe, queues: map[Bucket]*queue{}}
	// One wait at a time per bucket is in the limiter, so the slot it
	// reports is that wait's.
	inner.OnGrant(func(b Bucket, at time.Time) {
		s.mu.Lock()
		s.queue(b).at = at
		s.mu.Unlock()
	})
	return s
}

// queue returns b's queue; s.mu is held.
func (s *Scheduler) queue(b Bucket) *queue {
	q := s.queues[b]
	if q == nil {
		q = &queue{served: map[string]uint64{}, count: map[string]uint64{}}
		s.queues[b] = q
	}
	return q
}

// A Handle is one workflow's way to the shared limiter: an
// uploader.Limiter and a pipeline.Quota whose OnGrant sees only this
// workflow's grants.
type Handle struct {
	s        *Scheduler
	name     string
	priority int
	onGrant  atomic.Pointer[func(Bucket, time.Time)]
}

// For returns the handle of workflow name, with priority (1 is the most
// urgent). Handles with the same name share its turn in the round robin.
func (s *Scheduler) For(name string, priority int) *Handle {
	return &Handle{s: s, name: name, priority: priority}
}

// Name is the workflow's name; Priority its priority.
func (h *Handle) Name() string  { return h.name }
func (h *Handle) Priority() int { return h.priority }

// Wait blocks until the Scheduler gives this workflow a grant on b, or ctx
// is done. The limiter's errors (a POST budget spent) come through it.
func (h *Handle) Wait(ctx context.Context, b Bucket) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := h.s
	t := &ticket{h: h, began: s.now(), ch: make(chan grant, 1)}
	s.enqueue(b, t)
	select {
	case g := <-t.ch:
		if g.err != nil {
			return g.err
		}
		if fn := h.onGrant.Load(); fn != nil {
			(*fn)(b, g.at)
		}
		return nil
	case <-ctx.Done():
		if s.dequeue(b, t) {
			return ctx.Err()
		}
		// Chosen meanwhile: the grant is on its way; pass it on.
		if g := <-t.ch; g.err == nil {
			s.mu.Lock()
			s.handOut(b, s.queue(b), g)
			s.mu.Unlock()
		}
		return ctx.Err()
	}
}

// Throttled reports a 429 to the shared limiter: it pauses every workflow.
func (h *Handle) Throttled(b Bucket, retryAfter time.Duration) { h.s.inner.Throttled(b, retryAfter) }

// OnGrant makes fn be called with each grant this workflow's Waits get,
// before they return (see [Set.OnGrant]); nil removes it.
func (h *Handle) OnGrant(fn func(b Bucket, at time.Time)) {
	if fn == nil {
		h.onGrant.Store(nil)
		return
	}
	h.onGrant.Store(&fn)
}

// Restore and RestoreSpent pass an earlier run's requests, as this
// workflow journaled them, to the shared limiter.
func (h *Handle) Restore(b Bucket, grants []time.Time) { h.s.inner.Restore(b, grants) }
func (h *Handle) RestoreSpent(day time.Time, n int64)  { h.s.inner.RestoreSpent(day, n) }

// enqueue queues t on b and makes sure a wait in the limiter is under way.
func (s *Scheduler) enqueue(b Bucket, t *ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue(b)
	q.seq++
	t.seq, t.serial, t.own = q.seq, q.serial, q.count[t.h.name]
	q.waiting = append(q.waiting, t)
	if !q.pumping {
		q.pumping = true
		go s.pump(b, q)
	}
}

// dequeue takes t out of b's queue, reporting whether it was still there
// (not chosen yet). The wait in the limiter ends when nobody is left, which
// gives its slot back.
func (s *Scheduler) dequeue(b Bucket, t *ticket) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue(b)
	for i, w := range q.waiting {
		if w == t {
			q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
			if len(q.waiting) == 0 && q.cancel != nil {
				q.cancel()
			}
			return true
		}
	}
	return false
}

// pump waits in the limiter for b's queue, one grant at a time, and hands
// each out, until the queue is empty.
func (s *Scheduler) pump(b Bucket, q *queue) {
	for {
		s.mu.Lock()
		if len(q.waiting) == 0 {
			q.pumping, q.cancel = false, nil
			s.mu.Unlock()
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		q.cancel = cancel
		s.mu.Unlock()

		err := s.inner.Wait(ctx, b)
		s.mu.Lock()
		q.cancel = nil
		abandoned := ctx.Err() != nil && err != nil // nobody was left to wait for
		cancel()
		if !abandoned {
			s.handOut(b, q, grant{at: q.at, err: err})
		}
		s.mu.Unlock()
	}
}

// handOut gives g to the caller next in line, if any; s.mu is held.
func (s *Scheduler) handOut(b Bucket, q *queue, g grant) {
	if len(q.waiting) == 0 {
		return // nobody left: the slot goes unused
	}
	best := 0
	for i, t := range q.waiting[1:] {
		if q.before(t, q.waiting[best]) {
			best = i + 1
		}
	}
	t := q.waiting[best]
	q.waiting = append(q.waiting[:best], q.waiting[best+1:]...)
	if g.err == nil {
		if s.observe != nil {
			s.observe(Granted{Workflow: t.h.name, Priority: t.h.priority, Bucket: b,
				Waited: s.now().Sub(t.began), Overtaken: int((q.serial - t.serial) - (q.count[t.h.name] - t.own))})
		}
		q.serial++
		q.served[t.h.name] = q.serial
		q.count[t.h.name]++
	}
	t.ch <- g
}

// before reports whether a goes before b: more urgent, else its workflow
// was served longer ago, else it came first.
func (q *queue) before(a, b *ticket) bool {
	if a.h.priority != b.h.priority {
		return a.h.priority < b.h.priority
	}
	if sa, sb := q.served[a.h.name], q.served[b.h.name]; sa != sb {
		return sa < sb
	}
	return a.seq < b.seq
}

// Waiting is who waits for a grant on one bucket.
type Waiting struct {
	N       int           // callers waiting
	Longest time.Duration // how long the longest-waiting of them has waited
}

// Waiting reports, per bucket, the callers of workflow name waiting now
// (every workflow's when name is "").
func (s *Scheduler) Waiting(name string) map[Bucket]Waiting {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := map[Bucket]Waiting{}
	for b, q := range s.queues {
		var w Waiting
		for _, t := range q.waiting {
			if name == "" || t.h.name == name {
				w.N++
				w.Longest = max(w.Longest, now.Sub(t.began))
			}
		}
		out[b] = w
	}
	return out
}

// Stats is st, the shared limiter's, with the callers waiting in the
// Scheduler counted as waiting (the limiter itself sees one per bucket).
func (s *Scheduler) Stats(st Stats) Stats {
	out := make(Stats, len(st))
	waiting := s.Waiting("")
	for b, bs := range st {
		if w, ok := waiting[b]; ok {
			bs.Waiting, bs.LongestWait = w.N, w.Longest
		}
		out[b] = bs
	}
	return out
}
