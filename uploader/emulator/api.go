package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"hotfolder/ratelimit"
)

const (
	removeBackgroundPath = "/v2/remove-background"
	createArtboardPath   = "/v2/create-artboard"
	statusPrefix         = "/v2/status/"
)

// serveAPI is the gateway in front of the Photoshop API: authentication,
// then injected 429s, then the rate limit, then injected 5xx, then the
// operation. A request refused for rate is neither validated nor counted as
// admitted.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", randomHex(16))
	if !s.authorize(w, r) {
		return
	}
	bucket, get := s.bucketFor(r)
	if !s.admit(w, bucket, get) {
		return
	}
	if s.injectServerError(w) {
		return
	}
	op := operations[r.URL.Path]
	switch {
	case r.Method == http.MethodPost && op != nil:
		s.submit(w, r, op)
	case r.Method == http.MethodPost && r.URL.Path == createArtboardPath:
		writeAPIError(w, http.StatusNotImplemented, "not_implemented",
			"POST "+createArtboardPath+" is not emulated by the hotfolder emulator: it makes one document of many images, not a per-image operation")
	case get && strings.HasPrefix(r.URL.Path, statusPrefix):
		s.serveStatus(w, r)
	case op != nil || r.URL.Path == createArtboardPath:
		w.Header().Set("Allow", http.MethodPost)
		writeAPIError(w, http.StatusMethodNotAllowed, "unsupported_method", "Method not allowed: "+r.URL.Path+" takes POST")
	default:
		writeAPIError(w, http.StatusNotFound, "not_found",
			r.Method+" "+r.URL.Path+" is not supported by the hotfolder emulator (it emulates the per-image operations and the job status)")
	}
}

// bucketFor charges remove-background submissions and the status polls of
// remove-background jobs (and of unknown ones) to the remove-background
// buckets, and everything else, the other operations' submissions and
// status polls included, to the general ones, as the client does.
func (s *Server) bucketFor(r *http.Request) (b ratelimit.Bucket, get bool) {
	get = r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case !get && r.URL.Path == removeBackgroundPath:
		return ratelimit.RemoveBackgroundPost, false
	case get && strings.HasPrefix(r.URL.Path, statusPrefix):
		if s.jobOp(r) != "" {
			return ratelimit.Get, true
		}
		return ratelimit.RemoveBackgroundGet, true
	case get:
		return ratelimit.Get, true
	}
	return ratelimit.Post, false
}

// jobOp is the operation of the job a status request names: "" for
// remove background and for an unknown job.
func (s *Server) jobOp(r *http.Request) string {
	id, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), statusPrefix))
	if err != nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[id]; j != nil {
		return j.op
	}
	return ""
}

// admit applies an injected 429 or the bucket's window, answering 429 when
// the request may not proceed, and counts it. Refused requests take no
// slot. The clock is read under the lock so that the window sees
// non-decreasing times.
func (s *Server) admit(w http.ResponseWriter, b ratelimit.Bucket, get bool) bool {
	s.mu.Lock()
	injected := s.roll(s.cfg.Faults.TooManyRate)
	ok, wait := false, time.Duration(0)
	now := s.now()
	if !injected {
		ok = true
		if win := s.windows[b]; win != nil {
			ok, wait = win.Allow(now)
		}
	}
	switch {
	case injected:
		s.stats.TooMany++
	case !ok:
		s.stats.TooMany++
		s.stats.LimitRefusals++
	case get:
		s.stats.Gets++
		s.stats.GetsByBucket[b]++
	default:
		s.stats.Posts++
		s.stats.PostsByBucket[b]++
		if b == ratelimit.RemoveBackgroundPost {
			s.stats.PostTimes = append(s.stats.PostTimes, now)
		}
	}
	s.mu.Unlock()
	if ok {
		return true
	}
	if injected {
		wait = time.Second
	}
	if !s.cfg.Faults.OmitRetryAfter {
		// Whole seconds, rounded up: retrying after that is never early.
		w.Header().Set("Retry-After", strconv.FormatInt(int64(max(1, (wait+time.Second-1)/time.Second)), 10))
	}
	w.Header().Set("X-Access-Rate-Limit-Level", "org")
	if s.cfg.Faults.EmptyBodies {
		w.WriteHeader(http.StatusTooManyRequests)
		return false
	}
	writeAPIError(w, http.StatusTooManyRequests, "rate_limited", "Too many requests")
	return false
}

// injectServerError answers an injected 502, 503 or 504.
func (s *Server) injectServerError(w http.ResponseWriter) bool {
	s.mu.Lock()
	hit := s.roll(s.cfg.Faults.ServerErrorRate)
	n := s.fault5
	if hit {
		s.fault5++
		s.stats.ServerErrors++
	}
	s.mu.Unlock()
	if !hit {
		return false
	}
	code := []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}[n%3]
	if s.cfg.Faults.EmptyBodies || n%2 == 1 {
		w.WriteHeader(code)
		return true
	}
	writeAPIError(w, code, "runtime_error", "the service failed to process the request (injected by the hotfolder emulator)")
	return true
}

// roll reports whether an event of probability p happens. Call with s.mu held.
func (s *Server) roll(p float64) bool { return p > 0 && s.rng.Float64() < p }

// serveStatus answers GET /v2/status/{jobId}; the id may arrive with its
// colons escaped or not.
func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	id, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), statusPrefix))
	if err != nil || id == "" {
		writeAPIError(w, http.StatusNotFound, "unknown_job_id", "no job has the id "+strconv.Quote(id))
		return
	}
	s.mu.Lock()
	s.stats.GetsPerJob[id]++
	j := s.jobs[id]
	now := s.now()
	s.mu.Unlock()
	if j == nil {
		writeAPIError(w, http.StatusNotFound, "unknown_job_id", "no job has the id "+strconv.Quote(id)+" (unknown or expired)")
		return
	}
	writeJSON(w, http.StatusOK, s.statusOf(j, now, s.baseFor(r)))
}

// apiError is the v2 error body.
type apiError struct {
	Code    string       `json:"error_code"`
	Message string       `json:"message"`
	Errors  []fieldError `json:"errors,omitempty"`
}

type fieldError struct {
	Code    string `json:"error_code"`
	Message string `json:"message"`
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string, details ...fieldError) {
	writeJSON(w, status, apiError{Code: code, Message: msg, Errors: details})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
