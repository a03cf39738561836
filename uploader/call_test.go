package uploader

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"hotfolder/ratelimit"
)

func status(code int) reply { return reply{status: code} }

func TestSubmitRetryPolicy(t *testing.T) {
	const post = ratelimit.RemoveBackgroundPost
	tests := []struct {
		name      string
		replies   []reply
		wantErr   int             // HTTP status of the final error; 0: success
		requests  int             // submit requests sent
		waits     []time.Duration // back-off waits on the clock (Rand is 0.5)
		throttles []throttle      // 429s reported to the limiter
	}{
		{
			name:     "5xx retried three times then fails with the last reason",
			replies:  []reply{status(500), status(502), status(503), status(504)},
			wantErr:  504,
			requests: 4,
			waits:    []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second},
		},
		{
			name:     "any 5xx is retried",
			replies:  []reply{status(599), status(507), acceptedReply},
			requests: 3,
			waits:    []time.Duration{500 * time.Millisecond, time.Second},
		},
		{
			name:     "network errors are retried",
			replies:  []reply{{do: dropConnection}, {do: dropConnection}, acceptedReply},
			requests: 3,
			waits:    []time.Duration{500 * time.Millisecond, time.Second},
		},
		{
			name:     "400 fails at once",
			replies:  []reply{{status: 400, body: `{"error_code":"validation_error","message":"The value provided is not valid."}`}},
			wantErr:  400,
			requests: 1,
		},
		{
			name:     "422 fails at once",
			replies:  []reply{status(422)},
			wantErr:  422,
			requests: 1,
		},
		{
			name:      "429 with Retry-After in seconds is waited out through the limiter",
			replies:   []reply{{status: 429, header: map[string]string{"Retry-After": "7"}, body: `{"error_code":"rate_limited"}`}, acceptedReply},
			requests:  2,
			throttles: []throttle{{ratelimit.RemoveBackgroundPost, 7 * time.Second}},
		},
		{
			name:      "429 without Retry-After and with an empty body",
			replies:   []reply{status(429), status(429), acceptedReply},
			requests:  3,
			throttles: []throttle{{post, 0}, {post, 0}},
		},
		{
			name:      "429 is not one of the retries",
			replies:   []reply{status(429), status(503), status(429), status(503), status(503), acceptedReply},
			requests:  6,
			waits:     []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second},
			throttles: []throttle{{post, 0}, {post, 0}},
		},
		{
			name:      "429s between 5xx do not buy more retries",
			replies:   []reply{status(503), status(429), status(503), status(429), status(503), status(429), status(503), acceptedReply},
			wantErr:   503,
			requests:  7,
			waits:     []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second},
			throttles: []throttle{{post, 0}, {post, 0}, {post, 0}},
		},
		{
			name:     "Retry-After on a 503 stretches the back-off",
			replies:  []reply{{status: 503, header: map[string]string{"Retry-After": "30"}}, acceptedReply},
			requests: 2,
			waits:    []time.Duration{30 * time.Second},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.adobe.on("POST /v2/remove-background", tc.replies...)
			job, err := e.c.Submit(context.Background(), rbStep(), source().URL)
			if got := len(e.adobe.requests("POST /v2/remove-background")); got != tc.requests {
				t.Errorf("%d submit requests, want %d", got, tc.requests)
			}
			if got := e.limiter.Waits(post); got != tc.requests {
				t.Errorf("%d limiter waits on %s, want one per request (%d)", got, post, tc.requests)
			}
			if got := e.limiter.Waits(ratelimit.RemoveBackgroundGet) + e.limiter.Waits(ratelimit.Post); got != 0 {
				t.Errorf("%d waits charged to other buckets", got)
			}
			if got := e.clock.Waits(); !slices.Equal(got, tc.waits) {
				t.Errorf("back-off waits %v, want %v", got, tc.waits)
			}
			if got := e.limiter.Throttles(); !slices.Equal(got, tc.throttles) {
				t.Errorf("throttles %v, want %v", got, tc.throttles)
			}
			if tc.wantErr == 0 {
				if err != nil {
					t.Fatalf("Submit: %v", err)
				}
				if job.ID != jobID {
					t.Errorf("job id %q, want %q", job.ID, jobID)
				}
				return
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != tc.wantErr {
				t.Fatalf("Submit error %v, want an *APIError with HTTP %d", err, tc.wantErr)
			}
			if IsFatal(err) {
				t.Errorf("%v is fatal; one file's failure must not stop the run", err)
			}
			if Hint(err) == "" {
				t.Errorf("%v has no hint", err)
			}
		})
	}
}

func TestRetryAfterDate(t *testing.T) {
	e := newEnv(t, nil)
	at := e.clock.Now().Add(90 * time.Second).Format(http.TimeFormat)
	e.adobe.on("POST /v2/remove-background", reply{status: 429, header: map[string]string{"Retry-After": at}}, acceptedReply)
	if _, err := e.c.Submit(context.Background(), rbStep(), source().URL); err != nil {
		t.Fatal(err)
	}
	want := []throttle{{ratelimit.RemoveBackgroundPost, 90 * time.Second}}
	if got := e.limiter.Throttles(); !slices.Equal(got, want) {
		t.Errorf("throttles %v, want %v", got, want)
	}
}

// A run of 429s is waited out for as long as the context allows, and the
// context ending stops it.
func TestThrottledUntilContextEnds(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	e.adobe.on("POST /v2/remove-background", reply{do: func(w http.ResponseWriter, r *http.Request) {
		if n++; n == 50 {
			cancel()
		}
		w.WriteHeader(http.StatusTooManyRequests)
	}})
	_, err := e.c.Submit(ctx, rbStep(), source().URL)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Submit error %v, want context.Canceled", err)
	}
	if got := len(e.limiter.Throttles()); got < 49 {
		t.Errorf("%d throttles, want every 429 reported", got)
	}
}

func TestSubmitFatalAnswers(t *testing.T) {
	tests := []struct {
		name  string
		reply reply
		fatal bool
		hint  string // a word the hint must contain
	}{
		{"404 means a wrong base URL", status(404), true, "-image-api-url"},
		{"403 quota exhausted", reply{status: 403, header: map[string]string{"X-Access-Error": "quota_exhausted"},
			body: `{"error_code":"unauthorized_forbidden","message":"Forbidden"}`}, true, "quota"},
		{"403 not entitled", reply{status: 403, header: map[string]string{"X-Access-Error": "user_not_entitled"}}, true, "entitled"},
		{"403 scope", reply{status: 403, header: map[string]string{"X-Access-Error": "invalid_ims_scope"}}, true, "scope"},
		{"403 legal reasons is one file's problem", reply{status: 403, body: `{"error_code":"unauthorized_legal_reasons","message":"no"}`}, false, "legal"},
		{"422 points at fetchable, allow-listed URLs", status(422), false, "allow-list"},
		{"400 points at the options", reply{status: 400, body: `{"error_code":"validation_error","message":"bad"}`}, false, "-mode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.adobe.on("POST /v2/remove-background", tc.reply)
			_, err := e.c.Submit(context.Background(), rbStep(), source().URL)
			if err == nil {
				t.Fatal("Submit succeeded")
			}
			if IsFatal(err) != tc.fatal {
				t.Errorf("fatal = %v, want %v (%v)", IsFatal(err), tc.fatal, err)
			}
			if h := Hint(err); !strings.Contains(h, tc.hint) {
				t.Errorf("hint %q does not mention %q", h, tc.hint)
			}
			if n := len(e.adobe.requests("POST /v2/remove-background")); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestAPIErrorMessage(t *testing.T) {
	e := newEnv(t, nil)
	e.adobe.on("POST /v2/remove-background", reply{status: 400,
		header: map[string]string{"X-Request-Id": "req-42"},
		body:   `{"error_code":"validation_error","message":"The value provided is not valid.","errors":[{"error_code":"x","message":"y"}]}`})
	_, err := e.c.Submit(context.Background(), rbStep(), source().URL)
	want := "submit: HTTP 400 validation_error: The value provided is not valid."
	if err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatal("not an *APIError")
	}
	if ae.Method != "POST" || ae.URL != e.adobe.URL()+"/v2/remove-background" || ae.RequestID != "req-42" ||
		!strings.Contains(ae.Body, `"errors":[{"error_code":"x"`) {
		t.Errorf("APIError fields: %+v", ae)
	}
}

func TestAPIErrorBodyTrimmed(t *testing.T) {
	e := newEnv(t, nil)
	long := strings.Repeat("é", 2000) // two bytes each
	e.adobe.on("POST /v2/remove-background", reply{status: 400, body: long})
	_, err := e.c.Submit(context.Background(), rbStep(), source().URL)
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatal(err)
	}
	if len(ae.Body) > maxBody || len(ae.Body) < maxBody-1 || strings.ContainsRune(ae.Body, '\uFFFD') {
		t.Errorf("body of %d bytes kept, want about %d of whole characters", len(ae.Body), maxBody)
	}
}

func TestAPIErrorFatalAndHints(t *testing.T) {
	tests := []struct {
		err   APIError
		fatal bool
		hint  string
	}{
		{APIError{Op: opToken, StatusCode: 400, Code: "invalid_client"}, true, "ADOBE_CLIENT_SECRET"},
		{APIError{Op: opToken, StatusCode: 401}, true, "ADOBE_CLIENT_ID"},
		{APIError{Op: opToken, StatusCode: 404}, true, "-ims-url"},
		{APIError{Op: opToken, StatusCode: 503}, false, "try again later"},
		{APIError{Op: opSubmit, StatusCode: 401}, true, "Photoshop API"},
		{APIError{Op: opStatus, StatusCode: 401}, true, "ADOBE_CLIENT_ID"},
		{APIError{Op: opStatus, StatusCode: 404}, false, ""},
		{APIError{Op: opStatus, StatusCode: 403}, true, "Photoshop API"},
		{APIError{Op: opSubmit, StatusCode: 500}, false, "try again later"},
		{APIError{Op: opDownload, StatusCode: 403}, false, "expired"},
		{APIError{Op: opDownload, StatusCode: 404}, false, "expired"},
		{APIError{Op: opDownload, StatusCode: 401}, false, "expired"},
	}
	for _, tc := range tests {
		if got := tc.err.Fatal(); got != tc.fatal {
			t.Errorf("%v: Fatal() = %v, want %v", &tc.err, got, tc.fatal)
		}
		if h := tc.err.Hint(); !strings.Contains(h, tc.hint) || (tc.hint == "") != (h == "") {
			t.Errorf("%v: hint %q, want one mentioning %q", &tc.err, h, tc.hint)
		}
	}
}

// URLs in errors and logs never carry their query: presigned URLs hold
// their signature there.
func TestErrorsHideQueries(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name string
		run  func(e *testEnv) error
	}{
		{"status 400", func(e *testEnv) error {
			e.adobe.on("GET /v2/status/", reply{status: 400})
			_, err := e.c.Wait(context.Background(), Job{ID: "j", StatusURL: e.adobe.URL() + "/v2/status/j?sig=" + sigMarker, Submitted: e.clock.Now()})
			return err
		}},
		{"status 404", func(e *testEnv) error {
			e.adobe.on("GET /v2/status/", reply{status: 404})
			_, err := e.c.Wait(context.Background(), Job{ID: "j", StatusURL: e.adobe.URL() + "/v2/status/j?sig=" + sigMarker, Submitted: e.clock.Now()})
			return err
		}},
		{"download unreachable", func(e *testEnv) error {
			_, err := e.c.Download(context.Background(), Result{URL: closed.URL + "/o.png?X-Amz-Signature=" + sigMarker}, &seekBuffer{})
			return err
		}},
		{"download 500", func(e *testEnv) error {
			e.adobe.on("GET /hosted/", status(500))
			_, err := e.c.Download(context.Background(), Result{URL: e.adobe.URL() + "/hosted/o.png?X-Amz-Signature=" + sigMarker}, &seekBuffer{})
			return err
		}},
		{"submit unreachable", func(e *testEnv) error {
			e.adobe.srv.Close()
			_, err := e.c.Submit(context.Background(), rbStep(), source().URL)
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			err := tc.run(e)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), sigMarker) || strings.Contains(Hint(err), sigMarker) {
				t.Errorf("error shows the query: %v", err)
			}
			var ae *APIError
			if errors.As(err, &ae) && (strings.Contains(ae.URL, "?") || strings.Contains(ae.URL, sigMarker)) {
				t.Errorf("APIError.URL %q has a query", ae.URL)
			}
		})
	}
}
