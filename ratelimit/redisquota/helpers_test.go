package redisquota

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hotfolder/ratelimit"
	"hotfolder/ratelimit/redisquota/redistest"
)

// openT opens a Limiter on srv for group, closed when t ends.
func openT(t testing.TB, srv *redistest.Server, group string, p ratelimit.Profile, mods ...func(*Config)) *Limiter {
	t.Helper()
	cfg := Config{URL: srv.URL, Password: srv.Password, Group: group, Profile: p}
	for _, m := range mods {
		m(&cfg)
	}
	l, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// prime writes the server's run_id into the group's buckets, as a first
// reservation would, so the tests that are not about the fence do not pay
// its pause.
func prime(t testing.TB, srv *redistest.Server, group string, bs ...ratelimit.Bucket) {
	t.Helper()
	id := runID(t, srv)
	k := groupKeys(group)
	for _, b := range bs {
		if _, err := srv.Do("HSET", k.st(b), "srv", id); err != nil {
			t.Fatalf("prime: %v", err)
		}
	}
}

func runID(t testing.TB, srv *redistest.Server) string {
	t.Helper()
	info, err := srv.Do("INFO", "server")
	if err != nil {
		t.Fatalf("INFO: %v", err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return v
		}
	}
	t.Fatalf("no run_id in INFO server")
	return ""
}

// grants records the local times of grants, by limiter.
type grants struct {
	mu    sync.Mutex
	all   []time.Time
	by    map[int][]time.Time
	errs  []error
	added chan struct{} // a grant was recorded; capacity 1
}

func newGrants() *grants {
	return &grants{by: make(map[int][]time.Time), added: make(chan struct{}, 1)}
}

func (g *grants) add(who int, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.all = append(g.all, at)
	g.by[who] = append(g.by[who], at)
	select {
	case g.added <- struct{}{}:
	default:
	}
}

func (g *grants) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.errs = append(g.errs, err)
}

// times returns every grant, sorted.
func (g *grants) times() []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	ts := slices.Clone(g.all)
	slices.SortFunc(ts, time.Time.Compare)
	return ts
}

func (g *grants) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.all)
}

func (g *grants) of(who int) []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.by[who])
}

// since counts the grants at or after t.
func (g *grants) since(t time.Time) int {
	n := 0
	for _, at := range g.times() {
		if !at.Before(t) {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hammer runs callers goroutines that Wait on b and record each grant with
// the local time right after Wait returns, until ctx is done. The returned
// function waits for them.
func hammer(ctx context.Context, l *Limiter, b ratelimit.Bucket, callers, who int, g *grants) func() {
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for {
				err := l.Wait(ctx, b)
				if err != nil {
					if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
						g.fail(err)
					}
					return
				}
				g.add(who, time.Now())
			}
		})
	}
	return wg.Wait
}

// hammerAll hammers each limiter of ls (as who i) with callers goroutines;
// the returned function waits for them all.
func hammerAll(ctx context.Context, ls []*Limiter, b ratelimit.Bucket, callers int, g *grants) func() {
	var waits []func()
	for i, l := range ls {
		waits = append(waits, hammer(ctx, l, b, callers, i, g))
	}
	return func() {
		for _, w := range waits {
			w()
		}
	}
}

// openGroup primes the group's bucket b and opens k of its limiters, each
// at lim.
func openGroup(t testing.TB, srv *redistest.Server, group string, b ratelimit.Bucket, lim ratelimit.Limit, k int) []*Limiter {
	t.Helper()
	prime(t, srv, group, b)
	ls := make([]*Limiter, k)
	for i := range ls {
		ls[i] = openT(t, srv, group, ratelimit.Profile{b: lim})
	}
	return ls
}

// checkWindow fails t if any window of lim.Window holds more than lim.N of
// ts (sorted): checked with ratelimit's exact Window, with Violations, and
// as the span of any N+1 consecutive grants.
func checkWindow(t testing.TB, lim ratelimit.Limit, ts []time.Time) {
	t.Helper()
	w := ratelimit.NewWindow(lim)
	for i, at := range ts {
		if ok, _ := w.Allow(at); !ok {
			t.Errorf("grant %d of %d at +%v: more than %v in a window", i, len(ts), at.Sub(ts[0]), lim)
		}
	}
	if v := ratelimit.Violations(lim, ts); v != 0 {
		t.Errorf("%d violations of %v", v, lim)
	}
	if shortest, ok := shortestSpan(lim.N, ts); ok && shortest < lim.Window {
		t.Errorf("%d consecutive grants span %v < %v", lim.N+1, shortest, lim.Window)
	}
}

// shortestSpan returns the shortest time any n+1 consecutive ts span.
func shortestSpan(n int, ts []time.Time) (time.Duration, bool) {
	var best time.Duration
	ok := false
	for i := n; i < len(ts); i++ {
		if d := ts[i].Sub(ts[i-n]); !ok || d < best {
			best, ok = d, true
		}
	}
	return best, ok
}

// syncBuffer captures a Limiter's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *syncBuffer) count(s string) int { return strings.Count(l.String(), s) }

func (l *syncBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func healthy(l *Limiter) bool {
	ok, _, _ := l.Health()
	return ok
}

// kill stops l as a crash would: nothing more reaches Redis, a reservation
// held stays booked, the heartbeat key stays until it expires.
func (l *Limiter) kill() {
	l.abrupt.Store(true)
	_ = l.rdb.Close()
	_ = l.Close()
}
