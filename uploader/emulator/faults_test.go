package emulator

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"hotfolder/ratelimit"
)

// serve sends one request straight to the handler (no network), with the
// fixture's credentials.
func (f *fixture) serve(method, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("X-Api-Key", f.key)
	rec := httptest.NewRecorder()
	f.s.Handler().ServeHTTP(rec, req)
	return rec
}

func TestInjectedServerErrors(t *testing.T) {
	for _, empty := range []bool{false, true} {
		f := start(t, Config{Seed: 1, Faults: Faults{ServerErrorRate: 0.3, EmptyBodies: empty}})
		const n = 2000
		codes := map[int]int{}
		jsonBodies, emptyBodies := 0, 0
		for range n {
			rec := f.serve(http.MethodGet, "/v2/status/nope")
			codes[rec.Code]++
			if rec.Code >= 500 {
				if rec.Body.Len() == 0 {
					emptyBodies++
				} else if strings.Contains(rec.Body.String(), `"error_code"`) {
					jsonBodies++
				}
			}
		}
		fives := codes[502] + codes[503] + codes[504]
		if fives < n*25/100 || fives > n*35/100 {
			t.Errorf("empty=%v: %d of %d answered 5xx, want about 30%%", empty, fives, n)
		}
		if codes[502] == 0 || codes[503] == 0 || codes[504] == 0 || codes[404]+fives != n {
			t.Errorf("empty=%v: codes %v, want 502, 503, 504 and otherwise 404", empty, codes)
		}
		if empty && jsonBodies != 0 {
			t.Errorf("EmptyBodies: %d 5xx answers had a body", jsonBodies)
		}
		if !empty && (jsonBodies == 0 || emptyBodies == 0) {
			t.Errorf("5xx bodies: %d JSON, %d empty; want both kinds", jsonBodies, emptyBodies)
		}
		if st := f.s.Stats(); st.ServerErrors != fives || st.Gets != n {
			t.Errorf("ServerErrors %d, Gets %d; want %d and %d (5xx requests were admitted)", st.ServerErrors, st.Gets, fives, n)
		}
	}
}

func TestInjectedTooMany(t *testing.T) {
	f := start(t, Config{Seed: 2, Faults: Faults{TooManyRate: 0.2}})
	const n = 2000
	tooMany := 0
	for range n {
		rec := f.serve(http.MethodGet, "/v2/status/nope")
		if rec.Code == http.StatusTooManyRequests {
			tooMany++
			if rec.Header().Get("Retry-After") != "1" || !strings.Contains(rec.Body.String(), "rate_limited") {
				t.Fatalf("injected 429: Retry-After %q body %q", rec.Header().Get("Retry-After"), rec.Body)
			}
		}
	}
	if tooMany < n*15/100 || tooMany > n*25/100 {
		t.Errorf("%d of %d answered 429, want about 20%%", tooMany, n)
	}
	st := f.s.Stats()
	if st.TooMany != tooMany || st.LimitRefusals != 0 || st.Gets != n-tooMany {
		t.Errorf("TooMany %d, LimitRefusals %d, Gets %d; want %d, 0, %d", st.TooMany, st.LimitRefusals, st.Gets, tooMany, n-tooMany)
	}
}

func TestOmitRetryAfterAndEmptyBodies(t *testing.T) {
	f := start(t, Config{
		Limits: ratelimit.Profile{ratelimit.RemoveBackgroundGet: {N: 1, Window: 3600e9}},
		Faults: Faults{OmitRetryAfter: true, EmptyBodies: true},
	})
	f.serve(http.MethodGet, "/v2/status/a")
	rec := f.serve(http.MethodGet, "/v2/status/a")
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "" || rec.Body.Len() != 0 {
		t.Errorf("got %d Retry-After %q body %q; want 429 without Retry-After or body", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
}

func TestJobFailureRate(t *testing.T) {
	f := start(t, Config{Seed: 3, Faults: Faults{JobFailureRate: 0.5}})
	const n = 200
	var subs []submitted
	for i := range n {
		// Injected failures end before fetching; the others fail to fetch
		// this unreachable source, with a different code.
		subs = append(subs, f.submit(rbBody(fmt.Sprintf("http://127.0.0.1:1/in-%d.png", i), nil)))
	}
	injected := 0
	for _, sub := range subs {
		st := f.finish(sub)
		if st.Status != "failed" {
			t.Fatalf("%+v", st)
		}
		if st.ErrorDetails[0].Code == "runtime_error" {
			injected++
		}
	}
	if injected < n*40/100 || injected > n*60/100 {
		t.Errorf("%d of %d jobs failed by injection, want about half", injected, n)
	}
}

func TestIntercept(t *testing.T) {
	f := start(t, Config{Faults: Faults{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v2/status/teapot" {
			w.WriteHeader(http.StatusTeapot)
			return true
		}
		return false
	}}})
	if rec := f.serve(http.MethodGet, "/v2/status/teapot"); rec.Code != http.StatusTeapot {
		t.Errorf("intercepted: %d", rec.Code)
	}
	if rec := f.serve(http.MethodGet, "/v2/status/other"); rec.Code != http.StatusNotFound {
		t.Errorf("not intercepted: %d", rec.Code)
	}
}
