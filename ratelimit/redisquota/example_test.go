package redisquota_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"hotfolder/ratelimit"
	"hotfolder/ratelimit/redisquota"
)

// The methods the uploader (Limiter) and the pipeline (Quota) use, and the
// rest of ratelimit.Set's that a caller of either may use.
var _ interface {
	Wait(ctx context.Context, b ratelimit.Bucket) error
	Throttled(b ratelimit.Bucket, retryAfter time.Duration)
	Restore(b ratelimit.Bucket, grants []time.Time)
	OnGrant(fn func(b ratelimit.Bucket, at time.Time))
	RestoreSpent(day time.Time, n int64)
	Stats() ratelimit.Stats
	Interval(b ratelimit.Bucket) time.Duration
	Limit(b ratelimit.Bucket) (ratelimit.Limit, bool)
} = (*redisquota.Limiter)(nil)

func Example() {
	ctx := context.Background()
	l, err := redisquota.Open(ctx, redisquota.Config{
		URL:      "redis://127.0.0.1:6379/0",
		Password: os.Getenv("REDIS_PASSWORD"),
		Group:    "acme-org",
		Profile:  ratelimit.Soft(),
		Process:  redisquota.Process{Host: "scanner-1", PID: os.Getpid(), In: "/in", Out: "/out", Version: "v1"},
	})
	if err != nil {
		var h interface{ Hint() string }
		if errors.As(err, &h) {
			fmt.Println(err, "hint:", h.Hint())
		}
		return
	}
	defer l.Close()
	// Before each request to Adobe:
	if err := l.Wait(ctx, ratelimit.Post); err != nil {
		return // ctx done, or a POST cap reached
	}
	// ... send it; on a 429:
	l.Throttled(ratelimit.Post, 3*time.Second)
}
