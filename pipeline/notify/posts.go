package notify

import (
	"context"
	"maps"
	"sync"

	"hotfolder/ratelimit"
	"hotfolder/uploader"
)

// PostCounter counts the POSTs a run spends, by bucket: wrap the limiter
// the API client waits on with it. Every request waits on the limiter
// once before it goes out, so a granted wait on a POST bucket is one POST
// of Adobe's quota, retries included. It is safe for concurrent use.
type PostCounter struct {
	uploader.Limiter
	mu sync.Mutex
	n  map[ratelimit.Bucket]int64
}

// CountPosts wraps l.
func CountPosts(l uploader.Limiter) *PostCounter {
	return &PostCounter{Limiter: l, n: map[ratelimit.Bucket]int64{}}
}

// Wait waits on the wrapped limiter and counts the grant.
func (c *PostCounter) Wait(ctx context.Context, b ratelimit.Bucket) error {
	err := c.Limiter.Wait(ctx, b)
	if err == nil && (b == ratelimit.Post || b == ratelimit.RemoveBackgroundPost) {
		c.mu.Lock()
		c.n[b]++
		c.mu.Unlock()
	}
	return err
}

// Posts returns the POSTs granted so far, by bucket.
func (c *PostCounter) Posts() map[ratelimit.Bucket]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}
