package redisquota

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"hotfolder/ratelimit"
	"hotfolder/ratelimit/redisquota/redistest"
)

// roundTrips counts the commands a client sends (a pipeline counts once).
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmds)
	}
}

// sharedResult is one run of k processes on one bucket.
type sharedResult struct {
	utilization float64 // grants per second, first to last / (N/W)
	minShare    float64 // the smallest process's share × k
	rttPerGrant float64
	addedP50    time.Duration // how late a grant fired beyond its slot's earliest time
	addedP99    time.Duration
	grants      int
}

// BenchmarkShared runs k processes (separate Limiters, one group, each
// with a few busy callers) on a POST bucket for a few windows.
//
//	utilization   the rate of grants from the first to the last / (N/W):
//	              1 is the limit itself; the margin alone costs W/(W+margin)
//	min_share     the least busy process's share of the grants × k (1: even)
//	rtt_per_grant Redis round trips per grant over the run, heartbeats and
//	              the reservations outstanding at its end included
//	added_p50_ms, added_p99_ms
//	              how much later than its slot a grant fired: the reserve
//	              round trip plus the timer's lateness
func BenchmarkShared(b *testing.B) {
	srv := redistest.Start(b)
	for _, lim := range []ratelimit.Limit{{N: 4, Window: time.Second}, {N: 15, Window: 3 * time.Second}} {
		for _, k := range []int{1, 2, 3, 5} {
			b.Run(fmt.Sprintf("%d-per-%v/k=%d", lim.N, lim.Window, k), func(b *testing.B) {
				var r sharedResult
				for i := range b.N {
					r = runShared(b, srv, fmt.Sprintf("%s/%d", b.Name(), i), lim, k, 3*lim.Window)
				}
				b.ReportMetric(r.utilization, "utilization")
				b.ReportMetric(r.minShare, "min_share")
				b.ReportMetric(r.rttPerGrant, "rtt_per_grant")
				b.ReportMetric(float64(r.addedP50)/float64(time.Millisecond), "added_p50_ms")
				b.ReportMetric(float64(r.addedP99)/float64(time.Millisecond), "added_p99_ms")
				b.ReportMetric(float64(r.grants), "grants")
			})
		}
	}
}

func runShared(b *testing.B, srv *redistest.Server, group string, lim ratelimit.Limit, k int, run time.Duration) sharedResult {
	b.Helper()
	bucket := ratelimit.Post
	prime(b, srv, group, bucket)
	var mu sync.Mutex
	var late []time.Duration
	rt := &roundTrips{}
	ls := make([]*Limiter, k)
	for i := range ls {
		ls[i] = openT(b, srv, group, ratelimit.Profile{bucket: lim}, func(c *Config) {
			c.onFire = func(_ ratelimit.Bucket, d time.Duration) {
				mu.Lock()
				late = append(late, d)
				mu.Unlock()
			}
		})
		ls[i].rdb.AddHook(rt)
	}
	g := newGrants()
	b.ResetTimer()
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	hammerAll(ctx, ls, bucket, 3, g)()
	trips := rt.n.Load() // before Close gives the last reservations back
	b.StopTimer()
	for _, l := range ls {
		l.Close()
	}
	if len(g.errs) > 0 {
		b.Fatalf("Wait failed: %v", g.errs)
	}
	ts := g.times()
	checkWindow(b, lim, ts)
	var r sharedResult
	r.grants = len(ts)
	if len(ts) < 2 {
		return r
	}
	// The rate between the first grant and the last: counting the run's
	// length instead would credit the first grant, free at the start.
	span := ts[len(ts)-1].Sub(ts[0])
	r.utilization = float64(len(ts)-1) / (span.Seconds() * float64(lim.N) / lim.Window.Seconds())
	r.minShare = 1
	for i := range ls {
		r.minShare = min(r.minShare, float64(len(g.of(i)))/float64(len(ts))*float64(k))
	}
	r.rttPerGrant = float64(trips) / float64(len(ts))
	mu.Lock()
	slices.Sort(late)
	r.addedP50 = late[len(late)/2]
	r.addedP99 = late[min(len(late)-1, len(late)*99/100)]
	mu.Unlock()
	return r
}
