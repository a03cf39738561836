package emulator

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"hotfolder/ratelimit"
)

// TestRateLimitExact drives each remove-background bucket, limited to 2
// requests per 3 s, on the fake clock.
func TestRateLimitExact(t *testing.T) {
	limit := ratelimit.Limit{N: 2, Window: 3 * time.Second}
	for _, bucket := range []ratelimit.Bucket{ratelimit.RemoveBackgroundPost, ratelimit.RemoveBackgroundGet} {
		t.Run(string(bucket), func(t *testing.T) {
			f := start(t, Config{Limits: ratelimit.Profile{bucket: limit}})
			send := func() *http.Response {
				var resp *http.Response
				if bucket == ratelimit.RemoveBackgroundPost {
					// Invalid on purpose: a request refused for rate must not
					// reach validation (429, not 400).
					resp, _ = f.call(http.MethodPost, "/v2/remove-background", map[string]any{})
				} else {
					resp, _ = f.call(http.MethodGet, "/v2/status/urn:ff:jobs:emulator:x", nil)
				}
				return resp
			}
			admitted := http.StatusBadRequest
			if bucket == ratelimit.RemoveBackgroundGet {
				admitted = http.StatusNotFound
			}
			t0 := f.clock.Now()
			steps := []struct {
				at         time.Duration
				wantStatus int
				retryAfter string
			}{
				{0, admitted, ""},
				{0, admitted, ""},
				{0, http.StatusTooManyRequests, "3"},               // window full until t0+3s
				{2*time.Second + 100*time.Millisecond, 429, "1"},   // 0.9 s left, rounded up
				{3*time.Second - time.Nanosecond, 429, "1"},        // still inside
				{3 * time.Second, admitted, ""},                    // the first two leave at exactly 3 s
				{3 * time.Second, admitted, ""},                    // refusals took no slot
				{3 * time.Second, http.StatusTooManyRequests, "3"}, // full again
				{5 * time.Second, http.StatusTooManyRequests, "1"}, // 1 s left
				{6 * time.Second, admitted, ""},
			}
			for i, s := range steps {
				f.clock.Advance(t0.Add(s.at).Sub(f.clock.Now()))
				resp := send()
				if resp.StatusCode != s.wantStatus || resp.Header.Get("Retry-After") != s.retryAfter {
					t.Fatalf("step %d at %v: %d Retry-After %q, want %d %q", i, s.at, resp.StatusCode, resp.Header.Get("Retry-After"), s.wantStatus, s.retryAfter)
				}
				if resp.StatusCode == 429 && resp.Header.Get("X-Access-Rate-Limit-Level") != "org" {
					t.Errorf("step %d: no X-Access-Rate-Limit-Level: org", i)
				}
			}
			st := f.s.Stats()
			if st.LimitRefusals != 5 || st.TooMany != 5 {
				t.Errorf("LimitRefusals %d, TooMany %d; want 5 and 5", st.LimitRefusals, st.TooMany)
			}
			if bucket == ratelimit.RemoveBackgroundPost {
				if st.Posts != 5 || len(st.PostTimes) != 5 || ratelimit.Violations(limit, st.PostTimes) != 0 {
					t.Errorf("Posts %d, PostTimes %v; want 5 admitted within the limit", st.Posts, st.PostTimes)
				}
			} else if st.Gets != 5 || st.GetsByBucket[bucket] != 5 {
				t.Errorf("Gets %d by bucket %v; want 5", st.Gets, st.GetsByBucket)
			}
		})
	}
}

func TestRateLimitAnswer(t *testing.T) {
	f := start(t, Config{Limits: ratelimit.Profile{ratelimit.RemoveBackgroundGet: {N: 1, Window: time.Minute}}})
	f.call(http.MethodGet, "/v2/status/a", nil)
	resp, body := f.call(http.MethodGet, "/v2/status/a", nil)
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != 429 || e.Code != "rate_limited" || e.Message != "Too many requests" {
		t.Errorf("got %s %s, want 429 rate_limited", resp.Status, body)
	}
	if resp.Header.Get("Retry-After") != "60" {
		t.Errorf("Retry-After %q, want 60", resp.Header.Get("Retry-After"))
	}
	// Other buckets are independent.
	if resp, _ := f.call(http.MethodGet, "/v2/other", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("general get bucket: %s, want 404", resp.Status)
	}
	// Authentication comes before the limit: a bad token is a 401 even when the window is full.
	if resp, _ := f.callAs(http.MethodGet, "/v2/status/a", nil, "Bearer bad", f.key, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad token with a full window: %s, want 401", resp.Status)
	}
}

func TestDefaultLimitsAreSoft(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for b, l := range ratelimit.Soft() {
		if w := s.windows[b]; w == nil || w.Limit() != l {
			t.Errorf("%s: window %v, want %v", b, w, l)
		}
	}
}
