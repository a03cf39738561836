package emulator

import (
	"maps"
	"slices"
	"time"

	"hotfolder/ratelimit"
)

// Stats counts what the emulator has seen since it started. [Server.Stats]
// returns a copy; GET /emulator/stats serves the same as JSON.
type Stats struct {
	// Posts and Gets count API requests admitted by the rate limit (charged
	// to a bucket), whatever was answered afterwards (202, 400, 404 or an
	// injected 5xx). By bucket in PostsByBucket and GetsByBucket.
	Posts, Gets   int
	PostsByBucket map[ratelimit.Bucket]int
	GetsByBucket  map[ratelimit.Bucket]int
	// TooMany counts 429s served: limit refusals plus injected ones.
	TooMany int
	// LimitRefusals counts requests refused because their bucket's window
	// was full: each is a request the client should not have sent yet.
	LimitRefusals int
	// ServerErrors counts injected 5xx answers.
	ServerErrors int
	// Unauthorized counts 401 and 403 answers of the API and IMS.
	Unauthorized int
	// TokensIssued counts access tokens handed out by IMS.
	TokensIssued int
	// Jobs counts accepted jobs of every operation; JobsSucceeded and
	// JobsFailed those whose processing has ended that way (a job's status
	// may still say running until its simulated latency has passed).
	Jobs, JobsSucceeded, JobsFailed int
	// JobsWaiting is how many jobs wait now for one of the Workers to
	// process them.
	JobsWaiting int
	// Resumed counts jobs that an earlier emulator on the same Config.Dir
	// accepted but did not finish, which this one ran again; their
	// outcomes count in JobsSucceeded and JobsFailed, not in Jobs.
	Resumed int
	// Accepted lists the accepted jobs in order, when (Now clock) and of
	// which source URL path (the input image's; "" for a blank document):
	// who got the quota when, for tests of how clients share it.
	Accepted []Accepted
	// PostsPerSource counts accepted jobs per source URL path (query
	// stripped, so re-signed URLs of one upload count together): more than
	// 1 means an input was submitted more than once.
	PostsPerSource map[string]int
	// GetsPerJob counts admitted status GETs per job id.
	GetsPerJob map[string]int
	// PostTimes are the admission times (Now clock) of remove-background
	// POSTs, in order: what the client actually achieved against the limit.
	PostTimes []time.Time
	// Uploads and UploadBytes count completed PUTs to the upload store.
	Uploads     int
	UploadBytes int64
	// ResultDownloads counts hosted results served.
	ResultDownloads int
}

func newStats() Stats {
	return Stats{
		PostsByBucket:  make(map[ratelimit.Bucket]int),
		GetsByBucket:   make(map[ratelimit.Bucket]int),
		PostsPerSource: make(map[string]int),
		GetsPerJob:     make(map[string]int),
	}
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.PostsByBucket = maps.Clone(st.PostsByBucket)
	st.GetsByBucket = maps.Clone(st.GetsByBucket)
	st.PostsPerSource = maps.Clone(st.PostsPerSource)
	st.GetsPerJob = maps.Clone(st.GetsPerJob)
	st.PostTimes = slices.Clone(st.PostTimes)
	st.Accepted = slices.Clone(st.Accepted)
	return st
}

// Accepted is one accepted job in [Stats.Accepted].
type Accepted struct {
	At     time.Time
	Source string // the source URL's path
}

// count updates the counters under the lock.
func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}
