package uploader

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// elsewhere is a server that is not a configured API host: it records the
// requests it gets and answers a succeeded status, as an old endpoint that
// still runs might.
type elsewhere struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []http.Header
}

func newElsewhere(t *testing.T) *elsewhere {
	e := &elsewhere{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.reqs = append(e.reqs, r.Header.Clone())
		e.mu.Unlock()
		w.Write([]byte(`{"status":"succeeded","outputs":[{"url":"https://r.example/o.png"}]}`))
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *elsewhere) requests() []http.Header {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]http.Header(nil), e.reqs...)
}

// A job journaled with another API's name is not polled at all: the run
// cannot ask another API without sending it this run's credentials. The
// error matches ErrJobGone, so the pipeline submits the file again, once.
func TestJobOfAnotherAPIIsNotPolled(t *testing.T) {
	e := newEnv(t, nil)
	old := newElsewhere(t)
	for _, job := range []Job{
		{ID: jobID, StatusURL: old.srv.URL + "/v2/status/" + jobID, API: old.srv.URL},
		{ID: jobID, StatusURL: old.srv.URL + "/v2/status/" + jobID},            // journaled before Job.API
		{ID: jobID, StatusURL: e.adobe.URL() + "/v2/status/x", API: "staging"}, // same host, other API
	} {
		_, err := e.c.Wait(context.Background(), job)
		var oe *OtherAPIError
		if !errors.Is(err, ErrJobGone) || !errors.As(err, &oe) || Hint(err) == "" || IsFatal(err) {
			t.Errorf("Wait(%+v) = %v; want a non-fatal *OtherAPIError matching ErrJobGone, with a hint", job, err)
		}
	}
	if n := len(old.requests()); n != 0 {
		t.Errorf("the recorded host got %d requests", n)
	}
	if n := len(e.adobe.requests("GET /v2/status/")); n != 0 {
		t.Errorf("the configured host got %d status requests", n)
	}
}

// A job of this API whose recorded status URL is on another host (the
// built-in emulator's port of an earlier run) is polled on the configured
// host, by its id.
func TestMovedStatusURLIsRebuilt(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.APIName = "hotfolder emulator 0123" })
	old := newElsewhere(t)
	e.adobe.on("GET /v2/status/", reply{status: 200, body: `{"status":"succeeded","outputs":[{"url":"https://r.example/o.png"}]}`})
	out, err := e.c.Wait(context.Background(), Job{ID: jobID, StatusURL: old.srv.URL + "/v2/status/" + jobID,
		API: "hotfolder emulator 0123", Op: OpRemoveBackground})
	if err != nil || len(out) != 1 || out[0].URL != "https://r.example/o.png" {
		t.Fatalf("Wait = %+v, %v", out, err)
	}
	if n := len(old.requests()); n != 0 {
		t.Errorf("the recorded host got %d requests", n)
	}
	if got := e.adobe.requests("GET /v2/status/"); len(got) != 1 || got[0].path != "/v2/status/"+jobID {
		t.Errorf("status requests on the configured host: %+v", got)
	}
}

// A redirect off the configured API hosts is not followed with the
// credentials (net/http would forward x-api-key), and is not retried.
func TestNoRedirectOffTheAPIHosts(t *testing.T) {
	e := newEnv(t, nil)
	old := newElsewhere(t)
	e.adobe.on("GET /v2/status/", reply{do: func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, old.srv.URL+"/v2/status/moved", http.StatusFound)
	}})
	_, err := e.c.Wait(context.Background(), Job{ID: jobID, Op: OpRemoveBackground, Submitted: e.clock.Now()})
	if !errors.Is(err, errForeignHost) {
		t.Errorf("Wait = %v, want the redirect refused", err)
	}
	for _, h := range old.requests() {
		if h.Get("Authorization") != "" || h.Get("x-api-key") != "" {
			t.Errorf("the other host got credentials: %v", h)
		}
	}
	if n := len(e.adobe.requests("GET /v2/status/")); n != 1 {
		t.Errorf("%d status requests, want 1: a refused redirect is not retried", n)
	}
}

func TestOrigin(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"https://image.adobe.io", "https://IMAGE.adobe.io:443/v2/status/x"},
		{"http://127.0.0.1:80", "http://127.0.0.1/x"},
		{"http://[::1]:80/", "http://[::1]/"},
	} {
		a, _ := url.Parse(tc.a)
		b, _ := url.Parse(tc.b)
		if origin(a) != origin(b) {
			t.Errorf("origin(%s) = %s, origin(%s) = %s: want equal", tc.a, origin(a), tc.b, origin(b))
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"https://image.adobe.io", "http://image.adobe.io"},
		{"https://image.adobe.io", "https://image.adobe.io:8443"},
		{"https://image.adobe.io", "https://image.adobe.io.evil.example"},
	} {
		a, _ := url.Parse(tc.a)
		b, _ := url.Parse(tc.b)
		if origin(a) == origin(b) {
			t.Errorf("origin(%s) == origin(%s)", tc.a, tc.b)
		}
	}
}
