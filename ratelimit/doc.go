// Package ratelimit keeps a run within Adobe's per-organization request
// quotas and turns a 429 into a pause that every worker honours.
//
// Adobe states each quota as "N requests in any window of length W" (a
// [Limit]) for one of four [Bucket]s; [Soft] and [Hard] are the published
// sets. A [Set] holds one limiter per bucket, shared by all workers: call
// [Set.Wait] before each request and [Set.Throttled] on each 429.
//
// Pacing is a golang.org/x/time/rate limiter per bucket with burst 1, so
// grants come at least (W+margin)/N apart and any N+1 of them span more than
// W. A small margin (2% of W, at least 20ms) absorbs the jitter between the
// moment a request is granted and the moment it reaches Adobe. [Window] is
// the exact sliding window the server side applies; the emulator and the
// tests use it, and [Violations] checks a series of request times against a
// limit.
//
// A 429 although the client kept under the limit means someone else spends
// the organization's quota too (another tool, another machine). So besides
// the shared pause, a 429 lowers its bucket's rate (×0.7 by default, never
// below 10%), which then climbs back by 5% of the limit per quiet window.
// Rates only change between grants, never shorten the spacing below one
// interval, and so never break the property above.
//
// Adobe's windows outlive the process. [Set.OnGrant] reports each grant
// before the request goes out, for the caller to journal; [Set.Restore]
// hands the recent ones to the next process, which then resumes the pacing
// where the last one stopped instead of starting with an empty window.
//
// Several workflows of one process (hotfolder -config) share one limiter
// through a [Scheduler]: each waits through its own [Handle], and each
// grant goes to the most urgent workflow waiting, round robin among
// equals, without changing the limiter's pacing.
package ratelimit
