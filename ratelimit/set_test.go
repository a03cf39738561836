package ratelimit

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/time/rate"
)

// limiter is uploader.Limiter's method set, which *Set must satisfy;
// ratelimit may not import uploader, which imports it.
type limiter interface {
	Wait(ctx context.Context, b Bucket) error
	Throttled(b Bucket, retryAfter time.Duration)
}

var _ limiter = (*Set)(nil)

type limitCase struct {
	name string
	l    Limit
}

// propertyCases are every bucket of both of Adobe's profiles plus a few
// -limit overrides.
func propertyCases() []limitCase {
	var cases []limitCase
	for _, p := range []struct {
		name string
		p    Profile
	}{{"soft", Soft()}, {"hard", Hard()}} {
		for _, b := range Buckets() {
			cases = append(cases, limitCase{fmt.Sprintf("%s/%s", p.name, b), p.p[b]})
		}
	}
	for _, s := range []string{"4/1s", "1/1s", "300/3s", "7/10s"} {
		l, err := ParseLimit(s)
		if err != nil {
			panic(err)
		}
		cases = append(cases, limitCase{"override/" + s, l})
	}
	return cases
}

// defaultMargin is the margin the defaults promise: 2% of the window, at
// least 20ms.
func defaultMargin(l Limit) time.Duration {
	return max(20*time.Millisecond, l.Window/50)
}

type simConfig struct {
	callers int
	windows int
	think   time.Duration // a caller asks again after a random [0, think) once served
	cancel  float64       // share of asks given up at a random time before their grant
	seed    uint64
}

// event is a caller asking for a slot, or giving up a reservation (r != nil).
type event struct {
	t      time.Time
	seq    int
	caller int
	r      *rate.Reservation
}

type events []event

func (h events) Len() int { return len(h) }
func (h events) Less(i, j int) bool {
	return cmp.Or(h[i].t.Compare(h[j].t), cmp.Compare(h[i].seq, h[j].seq)) < 0
}
func (h events) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *events) Push(x any)   { *h = append(*h, x.(event)) }
func (h *events) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// simulate drives lim in fake time the way Wait does (ReserveN at the
// asking time, grant at t+DelayFrom(t), CancelAt when giving up) with
// callers asking at random times for cfg.windows windows of l, and returns
// the grant times, sorted.
func simulate(lim *rate.Limiter, l Limit, cfg simConfig) []time.Time {
	rng := rand.New(rand.NewPCG(cfg.seed, 1))
	randDur := func(d time.Duration) time.Duration {
		if d <= 0 {
			return 0
		}
		return time.Duration(rng.Int64N(int64(d)))
	}
	end := t0.Add(time.Duration(cfg.windows) * l.Window)
	var h events
	seq := 0
	push := func(e event) {
		seq++
		e.seq = seq
		heap.Push(&h, e)
	}
	for c := range cfg.callers {
		push(event{t: t0.Add(randDur(l.Window)), caller: c})
	}
	var grants []time.Time
	for h.Len() > 0 {
		e := heap.Pop(&h).(event)
		if e.r != nil {
			e.r.CancelAt(e.t)
			push(event{t: e.t.Add(randDur(cfg.think)), caller: e.caller})
			continue
		}
		if e.t.After(end) {
			continue
		}
		r := lim.ReserveN(e.t, 1)
		d := r.DelayFrom(e.t)
		if d > 0 && rng.Float64() < cfg.cancel {
			push(event{t: e.t.Add(randDur(d)), caller: e.caller, r: r})
			continue
		}
		g := e.t.Add(d)
		grants = append(grants, g)
		push(event{t: g.Add(randDur(cfg.think)), caller: e.caller})
	}
	slices.SortFunc(grants, time.Time.Compare)
	return grants
}

// jitter returns times each delayed by a random [0, m), sorted: when
// requests reach the server, if the network delays each by up to m more
// than another.
func jitter(times []time.Time, m time.Duration, seed uint64) []time.Time {
	rng := rand.New(rand.NewPCG(seed, 2))
	out := make([]time.Time, len(times))
	for i, t := range times {
		out[i] = t.Add(time.Duration(rng.Int64N(int64(m))))
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// worstJitter delays alternate blocks of n grants by m-1ns, so that each
// grant i in a delayed block meets grant i+n undelayed: the most jitter
// below m can take from the span of any n+1 grants.
func worstJitter(times []time.Time, n int, m time.Duration) []time.Time {
	out := make([]time.Time, len(times))
	for i, t := range times {
		if (i/n)%2 == 0 {
			t = t.Add(m - 1)
		}
		out[i] = t
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// utilization is the steady rate of grants (those at least a window from
// either end of the run) as a share of N/Window.
func utilization(l Limit, grants []time.Time, windows int) float64 {
	from, to := t0.Add(l.Window), t0.Add(time.Duration(windows-1)*l.Window)
	var steady []time.Time
	for _, g := range grants {
		if !g.Before(from) && !g.After(to) {
			steady = append(steady, g)
		}
	}
	if len(steady) < 2 {
		return 0
	}
	rate := float64(len(steady)-1) / steady[len(steady)-1].Sub(steady[0]).Seconds()
	return rate / (float64(l.N) / l.Window.Seconds())
}

// TestSetNeverExceedsLimit is the property the package exists for: however
// callers arrive, the grants never put more than N requests in any window,
// not even once each is delayed on its way by up to the margin, and the
// bucket still runs at ≥97% of its limit when demand exceeds supply.
func TestSetNeverExceedsLimit(t *testing.T) {
	const windows = 25
	for i, tc := range propertyCases() {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.l
			s := New(Profile{Post: l}, Options{})
			m := defaultMargin(l)
			if n := time.Duration(l.N) * s.Interval(Post); n < l.Window+m {
				t.Fatalf("N×Interval = %v, want ≥ Window+margin = %v", n, l.Window+m)
			}
			// Callers re-asking within N+1 intervals of their grant always
			// leave one waiting, so demand exceeds supply throughout.
			cfg := simConfig{
				callers: l.N + 2,
				windows: windows,
				think:   time.Duration(l.N+1) * s.Interval(Post),
				cancel:  0.05,
				seed:    uint64(i) + 1,
			}
			grants := simulate(s.buckets[Post].lim, l, cfg)
			if want := windows * l.N * 9 / 10; len(grants) < want {
				t.Fatalf("%d grants over %d windows, want ≥ %d", len(grants), windows, want)
			}
			if v := Violations(l, grants); v != 0 {
				t.Errorf("grants: %d violations of %v", v, l)
			}
			if v := Violations(l, jitter(grants, m, cfg.seed)); v != 0 {
				t.Errorf("grants jittered by up to %v: %d violations of %v", m, v, l)
			}
			if v := Violations(l, worstJitter(grants, l.N, m)); v != 0 {
				t.Errorf("grants worst-case jittered by %v: %d violations of %v", m-1, v, l)
			}

			// The same callers, never giving up, against limiters built
			// otherwise (given-up slots leave gaps that would hide the point).
			cfg.cancel = 0
			// Why the margin: without it, the same jitter breaks the limit.
			// (Even without jitter it may: x/time/rate truncates delays to
			// whole nanoseconds, so N+1 grants may span Window-1ns.)
			noMargin := rate.NewLimiter(rate.Every((l.Window+time.Duration(l.N)-1)/time.Duration(l.N)), 1)
			if v := Violations(l, worstJitter(simulate(noMargin, l, cfg), l.N, m)); v == 0 {
				t.Errorf("no margin, jitter under %v: no violations; the test shows nothing", m)
			}
			// Why burst 1: burst N at the same rate admits up to 2N in a window.
			if l.N > 1 {
				burstN := rate.NewLimiter(rate.Every(s.Interval(Post)), l.N)
				if v := Violations(l, simulate(burstN, l, cfg)); v == 0 {
					t.Errorf("burst %d: no violations; the test shows nothing", l.N)
				}
			}

			u := utilization(l, simulate(s.buckets[Post].lim, l, cfg), windows)
			t.Logf("%v: interval %v, utilization %.4f of N/W", l, s.Interval(Post), u)
			if u < 0.97 || u > 1 {
				t.Errorf("utilization %.4f of N/W, want in [0.97, 1]", u)
			}
		})
	}
}

// recorder collects the fake times at which callers got through Wait.
type recorder struct {
	mu     sync.Mutex
	clock  *fakeClock
	grants []time.Time
	errs   []error
}

func (r *recorder) record(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errs = append(r.errs, err)
		return
	}
	r.grants = append(r.grants, r.clock.Now())
}

func (r *recorder) sorted() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.SortedFunc(slices.Values(r.grants), time.Time.Compare)
}

// TestWaitSaturated runs Wait itself on a fake clock with more callers than
// slots, each asking again as soon as it is served: Wait must release one
// caller exactly every Interval from the start, and no earlier.
func TestWaitSaturated(t *testing.T) {
	for _, s := range []string{"2/3s", "15/3s", "4/1s", "1/1s", "300/3s"} {
		t.Run(s, func(t *testing.T) {
			l, err := ParseLimit(s)
			if err != nil {
				t.Fatal(err)
			}
			synctest.Test(t, func(t *testing.T) {
				clock := newFakeClock()
				set := New(Profile{Post: l}, clock.options())
				ctx, cancel := context.WithCancel(t.Context())
				rec := &recorder{clock: clock}
				var wg sync.WaitGroup
				for range l.N + 3 {
					wg.Go(func() {
						for ctx.Err() == nil {
							rec.record(set.Wait(ctx, Post))
						}
					})
				}
				end := t0.Add(20 * l.Window)
				clock.runUntil(end)
				cancel()
				wg.Wait()

				grants := rec.sorted()
				iv := set.Interval(Post)
				if want := int(end.Sub(t0)/iv) + 1; len(grants) != want {
					t.Errorf("%d grants in 20 windows, want %d (one every %v)", len(grants), want, iv)
				}
				for k, g := range grants {
					want := t0.Add(time.Duration(k) * iv)
					if d := g.Sub(want); d < -time.Nanosecond || d > time.Nanosecond {
						t.Fatalf("grant %d at +%v, want +%v", k, g.Sub(t0), want.Sub(t0))
					}
				}
				if v := Violations(l, grants); v != 0 {
					t.Errorf("%d violations", v)
				}
				if len(rec.errs) != l.N+3 {
					t.Errorf("%d callers returned an error on cancel, want %d", len(rec.errs), l.N+3)
				}
				if st := set.Stats()[Post]; st.Waiting != 0 {
					t.Errorf("Waiting = %d after every caller returned", st.Waiting)
				}
			})
		})
	}
}

// TestWaitRandomCallers runs Wait itself on a fake clock with callers asking
// at random (seeded) times, for all four buckets of both profiles at once.
func TestWaitRandomCallers(t *testing.T) {
	for i, p := range []Profile{Soft(), Hard()} {
		t.Run([]string{"soft", "hard"}[i], func(t *testing.T) {
			t.Parallel()
			testWaitRandomCallers(t, uint64(i), p)
		})
	}
}

func testWaitRandomCallers(t *testing.T, seed uint64, p Profile) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		set := New(p, clock.options())
		ctx, cancel := context.WithCancel(t.Context())
		recs := map[Bucket]*recorder{}
		var wg sync.WaitGroup
		windows := 20
		for j, b := range Buckets() {
			rec := &recorder{clock: clock}
			recs[b] = rec
			l := p[b]
			think := time.Duration(l.N+1) * set.Interval(b)
			callers := min(l.N+2, 60) // fewer for the big GET quotas: keeps the test fast
			if callers < l.N+2 {
				think = time.Duration(callers-1) * set.Interval(b)
			}
			for c := range callers {
				rng := rand.New(rand.NewPCG(seed, uint64(j*1000+c)))
				wg.Go(func() {
					for {
						ch, stop := clock.NewTimer(time.Duration(rng.Int64N(int64(think))))
						select {
						case <-ch:
						case <-ctx.Done():
							stop()
							return
						}
						if err := set.Wait(ctx, b); err != nil {
							return
						}
						rec.record(nil)
					}
				})
			}
		}
		clock.runUntil(t0.Add(time.Duration(windows) * 3 * time.Second)) // Adobe's windows are all 3s
		cancel()
		wg.Wait()
		for _, b := range Buckets() {
			l, grants := p[b], recs[b].sorted()
			m := defaultMargin(l)
			if len(grants) < windows*l.N/2 {
				t.Errorf("%s: %d grants, want ≥ %d", b, len(grants), windows*l.N/2)
			}
			if v := Violations(l, grants); v != 0 {
				t.Errorf("%s: %d violations of %v", b, v, l)
			}
			if v := Violations(l, worstJitter(grants, l.N, m)); v != 0 {
				t.Errorf("%s: %d violations of %v with jitter %v", b, v, l, m)
			}
			if u := utilization(l, grants, windows); u < 0.97 {
				t.Errorf("%s: utilization %.4f of N/W, want ≥ 0.97", b, u)
			}
		}
	})
}

func TestIntervalAndLimit(t *testing.T) {
	tests := []struct {
		l    Limit
		opt  Options
		want time.Duration
	}{
		{Limit{2, 3 * time.Second}, Options{}, 1530 * time.Millisecond},    // remove-background.post soft
		{Limit{15, 3 * time.Second}, Options{}, 204 * time.Millisecond},    // post soft
		{Limit{1000, 3 * time.Second}, Options{}, 3060 * time.Microsecond}, // remove-background.get hard
		{Limit{310, 3 * time.Second}, Options{}, 9870968},                  // get hard: 3.06s/310 rounded up
		{Limit{1, 100 * time.Millisecond}, Options{}, 120 * time.Millisecond},
		{Limit{2, 3 * time.Second}, Options{Margin: 0.1}, 1650 * time.Millisecond},
		{Limit{1, time.Second}, Options{MinMargin: 100 * time.Millisecond}, 1100 * time.Millisecond},
	}
	for _, tc := range tests {
		s := New(Profile{Get: tc.l}, tc.opt)
		if got := s.Interval(Get); got != tc.want {
			t.Errorf("%v %+v: Interval = %v, want %v", tc.l, tc.opt, got, tc.want)
		}
		if got, ok := s.Limit(Get); !ok || got != tc.l {
			t.Errorf("Limit = %v, %v; want %v, true", got, ok, tc.l)
		}
		if got, ok := s.Limit(Post); ok || s.Interval(Post) != 0 {
			t.Errorf("Limit(post) of a set without it = %v, %v; Interval %v", got, ok, s.Interval(Post))
		}
	}
}

func TestUnknownBucket(t *testing.T) {
	for name, s := range map[string]*Set{"zero": {}, "partial": New(Profile{Post: {1, time.Second}}, Options{})} {
		err := s.Wait(context.Background(), Get)
		if err == nil || err.Error() != `ratelimit: unknown bucket "get"` {
			t.Errorf("%s: Wait(get) = %v, want unknown bucket", name, err)
		}
		s.Throttled(Get, time.Second) // must not panic
		if st := s.Stats(); st.WaitingOnQuota() {
			t.Errorf("%s: WaitingOnQuota after a 429 on an unknown bucket", name)
		}
	}
}

func TestNewPanicsOnBadLimit(t *testing.T) {
	for _, l := range []Limit{{0, time.Second}, {1, 0}, {-1, time.Second}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New with %v did not panic", l)
				}
			}()
			New(Profile{Post: l}, Options{})
		}()
	}
}

func TestStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		s := New(Soft(), clock.options())
		iv := s.Interval(RemoveBackgroundPost)
		ctx := t.Context()
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { s.Wait(ctx, RemoveBackgroundPost) })
		}
		synctest.Wait()
		st := s.Stats()
		if bs := st[RemoveBackgroundPost]; bs.Waiting != 2 || bs.LongestWait != 0 || st.WaitingOnQuota() {
			t.Errorf("at start: %+v, WaitingOnQuota %v; want 2 waiting, not on quota", bs, st.WaitingOnQuota())
		}
		clock.advanceTo(t0.Add(iv))
		synctest.Wait()
		if bs := s.Stats()[RemoveBackgroundPost]; bs.Waiting != 1 || bs.LongestWait != iv || bs.Waited != iv || bs.WaitingOnQuota() {
			t.Errorf("after one interval: %+v; want 1 waiting for %v, %v waited, not on quota", bs, iv, iv)
		}
		clock.advanceTo(t0.Add(iv + time.Millisecond))
		if st := s.Stats(); !st.WaitingOnQuota() || st[RemoveBackgroundPost].LongestWait != iv+time.Millisecond {
			t.Errorf("a caller waited longer than an interval: %+v, want WaitingOnQuota", st[RemoveBackgroundPost])
		}
		s.Throttled(RemoveBackgroundPost, 5*time.Second)
		bs := s.Stats()[RemoveBackgroundPost]
		if want := clock.Now().Add(5 * time.Second); !bs.PausedUntil.Equal(want) || bs.Throttles != 1 || !bs.WaitingOnQuota() {
			t.Errorf("after a 429: %+v; want paused until +%v, 1 throttle, on quota", bs, want.Sub(t0))
		}
		if other := s.Stats()[Post]; other.Throttles != 0 || !other.PausedUntil.IsZero() {
			t.Errorf("post after a 429 on remove-background.post: %+v", other)
		}
		clock.runUntil(t0.Add(10 * time.Second))
		wg.Wait()
		bs = s.Stats()[RemoveBackgroundPost]
		if bs.Waiting != 0 || !bs.PausedUntil.IsZero() || bs.WaitingOnQuota() {
			t.Errorf("after the pause: %+v, want idle", bs)
		}
		// The third caller waited from t0 until the pause ended.
		if want := iv + (iv + time.Millisecond + 5*time.Second); bs.Waited != want {
			t.Errorf("Waited = %v, want %v", bs.Waited, want)
		}
	})
}

// TestWaitDefaultClock checks the real Now/NewTimer wiring, in a synctest
// bubble whose time package is fake.
func TestWaitDefaultClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(Profile{Post: {2, 3 * time.Second}}, Options{})
		start := time.Now()
		var got []time.Duration
		for range 4 {
			if err := s.Wait(t.Context(), Post); err != nil {
				t.Fatal(err)
			}
			got = append(got, time.Since(start))
		}
		want := []time.Duration{0, 1530 * time.Millisecond, 3060 * time.Millisecond, 4590 * time.Millisecond}
		if !slices.Equal(got, want) {
			t.Errorf("grants at %v, want %v", got, want)
		}
	})
}

func BenchmarkWait(b *testing.B) {
	// A clock that moves a second per call: every Wait finds a free slot,
	// so this measures Wait's own cost.
	var mu sync.Mutex
	now := t0
	s := New(Soft(), Options{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}})
	ctx := context.Background()
	for b.Loop() {
		if err := s.Wait(ctx, Post); err != nil {
			b.Fatal(err)
		}
	}
}
