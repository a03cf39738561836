package uploader

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"hotfolder/ratelimit"
)

func TestTokenRequest(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.c.CheckAuth(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := e.adobe.requests("POST /ims/token/v3")
	if len(reqs) != 1 {
		t.Fatalf("%d token requests, want 1", len(reqs))
	}
	r := reqs[0]
	if ct := r.header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type %q", ct)
	}
	form, err := url.ParseQuery(string(r.body))
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {testClientID},
		"client_secret": {testSecret},
		"scope":         {"openid,AdobeID,read_organizations"},
	}
	for k, v := range want {
		if form.Get(k) != v[0] {
			t.Errorf("form %s = %q, want %q", k, form.Get(k), v[0])
		}
	}
	if r.header.Get("Authorization") != "" || r.query != "" {
		t.Errorf("token request carries %q / query %q", r.header.Get("Authorization"), r.query)
	}
}

func TestAPIRequestHeaders(t *testing.T) {
	e := newEnv(t, nil)
	e.adobe.on("POST /v2/remove-background", acceptedReply)
	e.adobe.on("GET /v2/status/", reply{status: 200, body: `{"status":"succeeded","result":{"outputs":[{"destination":{"url":"https://x.example/o.png"},"mediaType":"image/png"}]}}`})
	job, err := e.c.Submit(context.Background(), rbStep(), source().URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Wait(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	post := e.adobe.requests("POST /v2/remove-background")[0]
	get := e.adobe.requests("GET /v2/status/")[0]
	for _, r := range []recorded{post, get} {
		if got := r.header.Get("Authorization"); got != "Bearer "+tokenPrefix+"1" {
			t.Errorf("%s %s: Authorization %q", r.method, r.path, got)
		}
		if got := r.header.Get("x-api-key"); got != testClientID {
			t.Errorf("%s %s: x-api-key %q", r.method, r.path, got)
		}
	}
	if got := post.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("POST Content-Type %q", got)
	}
	if e.adobe.tokensIssued() != 1 {
		t.Errorf("%d tokens issued for two requests, want 1 (cached)", e.adobe.tokensIssued())
	}
}

func TestTokenRefreshedNearExpiry(t *testing.T) {
	tests := []struct {
		name      string
		expiresIn int
		after     time.Duration
		refreshed bool
	}{
		// A 24 h token is refreshed when less than 10% of it is left.
		{"24h token, 2h35m left", 86400, 21*time.Hour + 25*time.Minute, false},
		{"24h token, 2h24m left", 86400, 21*time.Hour + 36*time.Minute, true},
		// A 1 h token when less than 6 min (10%) is left.
		{"1h token, 6m1s left", 3600, 53*time.Minute + 59*time.Second, false},
		{"1h token, 6m left", 3600, 54 * time.Minute, true},
		// A 20 min token when less than 5 min is left.
		{"20m token, 5m1s left", 1200, 14*time.Minute + 59*time.Second, false},
		{"20m token, 5m left", 1200, 15 * time.Minute, true},
		// A 1 min token is still used for half its life.
		{"1m token, 31s left", 60, 29 * time.Second, false},
		{"1m token, 30s left", 60, 30 * time.Second, true},
		{"expired", 3600, 2 * time.Hour, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.adobe.expiresIn = tc.expiresIn
			ctx := context.Background()
			if err := e.c.CheckAuth(ctx); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(tc.after)
			if err := e.c.CheckAuth(ctx); err != nil {
				t.Fatal(err)
			}
			want := 1
			if tc.refreshed {
				want = 2
			}
			if got := e.adobe.tokensIssued(); got != want {
				t.Errorf("%d tokens issued, want %d", got, want)
			}
		})
	}
}

func TestUnauthorizedRefreshesOnce(t *testing.T) {
	t.Run("401 then success", func(t *testing.T) {
		e := newEnv(t, nil)
		e.adobe.on("POST /v2/remove-background", reply{status: 401, body: `{"error_code":"401013","message":"Oauth token is not valid"}`}, acceptedReply)
		if _, err := e.c.Submit(context.Background(), rbStep(), source().URL); err != nil {
			t.Fatalf("Submit: %v", err)
		}
		reqs := e.adobe.requests("POST /v2/remove-background")
		if len(reqs) != 2 || e.adobe.tokensIssued() != 2 {
			t.Fatalf("%d submits and %d tokens, want 2 and 2", len(reqs), e.adobe.tokensIssued())
		}
		if got := reqs[1].header.Get("Authorization"); got != "Bearer "+tokenPrefix+"2" {
			t.Errorf("retry sent %q, want the fresh token", got)
		}
		if len(e.clock.Waits()) != 0 {
			t.Errorf("waited %v before retrying a 401", e.clock.Waits())
		}
	})
	t.Run("second 401 is fatal", func(t *testing.T) {
		e := newEnv(t, nil)
		e.adobe.on("GET /v2/status/", reply{status: 401, body: `{"error_code":"401013","message":"Oauth token is not valid"}`})
		_, err := e.c.Wait(context.Background(), Job{ID: jobID, Op: OpRemoveBackground, Submitted: e.clock.Now()})
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != 401 {
			t.Fatalf("error %v, want an *APIError with 401", err)
		}
		if !IsFatal(err) || !strings.Contains(Hint(err), "ADOBE_CLIENT_ID") {
			t.Errorf("fatal %v, hint %q", IsFatal(err), Hint(err))
		}
		if n := len(e.adobe.requests("GET /v2/status/")); n != 2 || e.adobe.tokensIssued() != 2 {
			t.Errorf("%d status requests and %d tokens, want 2 and 2", n, e.adobe.tokensIssued())
		}
	})
}

func TestIMSRejectsCredentials(t *testing.T) {
	for _, code := range []int{400, 401} {
		e := newEnv(t, nil)
		e.adobe.on("POST /ims/token/v3", reply{status: code,
			body: `{"error":"invalid_client","error_description":"invalid client_secret parameter"}`})
		err := e.c.CheckAuth(context.Background())
		var ae *APIError
		if !errors.As(err, &ae) || ae.Op != "token" || ae.Code != "invalid_client" {
			t.Fatalf("HTTP %d: error %v, want a token *APIError with invalid_client", code, err)
		}
		if !IsFatal(err) {
			t.Errorf("HTTP %d: %v is not fatal", code, err)
		}
		if h := Hint(err); !strings.Contains(h, "ADOBE_CLIENT_ID") || !strings.Contains(h, "ADOBE_CLIENT_SECRET") {
			t.Errorf("hint %q", h)
		}
		if strings.Contains(err.Error(), testSecret) {
			t.Errorf("error shows the secret: %v", err)
		}
		if n := len(e.adobe.requests("POST /ims/token/v3")); n != 1 {
			t.Errorf("%d token requests, want 1 (a rejection is not retried)", n)
		}
		// An API call needing the token fails the same fatal way.
		e.adobe.on("POST /v2/remove-background", acceptedReply)
		if _, err := e.c.Submit(context.Background(), rbStep(), source().URL); !IsFatal(err) {
			t.Errorf("Submit with rejected credentials: %v, want fatal", err)
		}
		if n := len(e.adobe.requests("POST /v2/remove-background")); n != 0 {
			t.Errorf("%d submits sent without a token", n)
		}
	}
}

func TestIMSServerErrorsRetried(t *testing.T) {
	e := newEnv(t, nil)
	e.adobe.on("POST /ims/token/v3", status(503), status(500), reply{do: e.adobe.issueToken})
	if err := e.c.CheckAuth(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(e.adobe.requests("POST /ims/token/v3")); n != 3 {
		t.Errorf("%d token requests, want 3", n)
	}
	for _, b := range ratelimit.Buckets() {
		if n := e.limiter.Waits(b); n != 0 {
			t.Errorf("token requests charged %d times to %s", n, b)
		}
	}
}

// A token whose refresh fails for a passing reason is used until it
// really expires.
func TestTokenKeptWhenRefreshFails(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Retry.Retries = -1 })
	e.adobe.expiresIn = 3600
	if err := e.c.CheckAuth(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.adobe.on("POST /ims/token/v3", status(503))
	e.clock.Advance(55 * time.Minute) // due for refresh, still valid
	if err := e.c.CheckAuth(context.Background()); err != nil {
		t.Fatalf("CheckAuth with a valid token and IMS down: %v", err)
	}
	e.clock.Advance(5 * time.Minute) // expired
	if err := e.c.CheckAuth(context.Background()); err == nil || IsFatal(err) {
		t.Fatalf("CheckAuth with an expired token and IMS down: %v, want a non-fatal error", err)
	}
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	e := newEnv(t, nil)
	release := make(chan struct{})
	e.adobe.on("POST /ims/token/v3", reply{do: func(w http.ResponseWriter, r *http.Request) {
		<-release
		e.adobe.issueToken(w, r)
	}})
	const callers = 20
	var started, done sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			errs <- e.c.CheckAuth(context.Background())
		}()
	}
	started.Wait()
	close(release)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := e.adobe.tokensIssued(); n != 1 {
		t.Errorf("%d tokens fetched by %d concurrent callers, want 1", n, callers)
	}
}

func TestConcurrent401sShareOneRefresh(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.c.CheckAuth(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The first token is revoked: every request with it gets 401.
	e.adobe.on("POST /v2/remove-background", reply{do: func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+tokenPrefix+"1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"jobId":"j"}`))
	}})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := e.c.Submit(context.Background(), rbStep(), source().URL); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := e.adobe.tokensIssued(); n != 2 {
		t.Errorf("%d tokens issued, want 2 (one refresh for all the 401s)", n)
	}
}

// A caller that gives up does not fail the others waiting for the same
// token.
func TestTokenWaiterCancels(t *testing.T) {
	e := newEnv(t, nil)
	release, fetching := make(chan struct{}), make(chan struct{})
	e.adobe.on("POST /ims/token/v3", reply{do: func(w http.ResponseWriter, r *http.Request) {
		close(fetching)
		<-release
		e.adobe.issueToken(w, r)
	}})
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- e.c.CheckAuth(ctx) }()
	<-fetching
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
	second := make(chan error, 1)
	go func() { second <- e.c.CheckAuth(context.Background()) }()
	close(release)
	if err := <-second; err != nil {
		t.Errorf("second caller: %v", err)
	}
	if n := e.adobe.tokensIssued(); n != 1 {
		t.Errorf("%d tokens issued, want 1", n)
	}
}
