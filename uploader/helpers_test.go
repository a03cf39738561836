package uploader

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"hotfolder/ratelimit"
)

// The fakes satisfy the contracts.
var (
	_ Storage = (*fakeStorage)(nil)
	_ Limiter = (*fakeLimiter)(nil)
)

const (
	testClientID = "test-client-id"
	testSecret   = "test-client-SECRET-value"
	tokenPrefix  = "access-token-" // every token the fake IMS issues starts so
	sigMarker    = "SIGNATURE"     // put in query strings that must never leak
)

// fakeClock is the Now and After seams: After returns at once and moves
// the clock forward, so waits cost no real time and are recorded exactly.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 8, 1, 22, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// fakeLimiter counts waits per bucket and records 429 reports.
type fakeLimiter struct {
	mu        sync.Mutex
	waits     map[ratelimit.Bucket]int
	throttled []throttle
}

type throttle struct {
	bucket ratelimit.Bucket
	after  time.Duration
}

func (l *fakeLimiter) Wait(ctx context.Context, b ratelimit.Bucket) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waits == nil {
		l.waits = map[ratelimit.Bucket]int{}
	}
	l.waits[b]++
	return ctx.Err()
}

func (l *fakeLimiter) Throttled(b ratelimit.Bucket, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.throttled = append(l.throttled, throttle{b, d})
}

func (l *fakeLimiter) Waits(b ratelimit.Bucket) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waits[b]
}

func (l *fakeLimiter) Throttles() []throttle {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]throttle(nil), l.throttled...)
}

// fakeStorage keeps objects in memory. Its Put reads the body the way it
// is told to, to exercise the hashing of the last full pass.
type fakeStorage struct {
	mu       sync.Mutex
	objects  map[string][]byte
	types    map[string]string
	puts     []string // keys, in order
	presigns []presign
	deleted  []string

	read       func(body io.ReadSeeker) ([]byte, error) // nil: one plain pass
	putErr     error
	presignErr error
}

type presign struct {
	key string
	ttl time.Duration
}

func (s *fakeStorage) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, contentType string) error {
	if s.putErr != nil {
		return s.putErr
	}
	read := s.read
	if read == nil {
		read = func(r io.ReadSeeker) ([]byte, error) { return io.ReadAll(r) }
	}
	data, err := read(body)
	if err != nil {
		return err
	}
	if int64(len(data)) != size {
		return fmt.Errorf("fake storage: read %d bytes, size says %d", len(data), size)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.objects == nil {
		s.objects, s.types = map[string][]byte{}, map[string]string{}
	}
	s.objects[key], s.types[key] = data, contentType
	s.puts = append(s.puts, key)
	return nil
}

func (s *fakeStorage) Puts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.puts...)
}

func (s *fakeStorage) Presigns() []presign {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]presign(nil), s.presigns...)
}

func (s *fakeStorage) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.presigns = append(s.presigns, presign{key, ttl})
	if s.presignErr != nil {
		return "", s.presignErr
	}
	return "https://bucket.s3.amazonaws.com/" + key + "?X-Amz-Signature=" + sigMarker, nil
}

func (s *fakeStorage) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, key)
	s.deleted = append(s.deleted, key)
	return nil
}

// reply is one scripted answer of the fake Adobe server.
type reply struct {
	status int
	header map[string]string
	body   string
	do     func(w http.ResponseWriter, r *http.Request) // if set, answers instead
}

// recorded is a request the fake server received.
type recorded struct {
	method, path, query string
	header              http.Header
	body                []byte
	at                  time.Time // on the fake clock
}

type route struct {
	replies []reply // served in order; the last one repeats
	served  int
	reqs    []recorded
}

// fakeAdobe plays IMS, the API and the result host. Routes are
// "METHOD /path"; paths under /v2/status/ and /hosted/ share one route each.
type fakeAdobe struct {
	t     *testing.T
	clock *fakeClock
	srv   *httptest.Server

	mu        sync.Mutex
	routes    map[string]*route
	issued    int // tokens issued
	expiresIn int // seconds, for issued tokens
}

func newFakeAdobe(t *testing.T, clock *fakeClock) *fakeAdobe {
	f := &fakeAdobe{t: t, clock: clock, routes: map[string]*route{}, expiresIn: 86399}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.on("POST /ims/token/v3", reply{do: f.issueToken})
	return f
}

func (f *fakeAdobe) URL() string { return f.srv.URL }

// on scripts the answers of a route.
func (f *fakeAdobe) on(key string, replies ...reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[key] = &route{replies: replies}
}

func (f *fakeAdobe) requests(key string) []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.routes[key]; r != nil {
		return append([]recorded(nil), r.reqs...)
	}
	return nil
}

func (f *fakeAdobe) tokensIssued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issued
}

func (f *fakeAdobe) serve(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	for _, p := range []string{"/v2/status/", "/hosted/"} {
		if strings.HasPrefix(r.URL.Path, p) {
			key = r.Method + " " + p
		}
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	rt := f.routes[key]
	if rt == nil {
		f.mu.Unlock()
		f.t.Errorf("fake adobe: unexpected request %s", key)
		http.Error(w, "no route", http.StatusTeapot)
		return
	}
	rt.reqs = append(rt.reqs, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body, f.clock.Now()})
	rp := rt.replies[min(rt.served, len(rt.replies)-1)]
	rt.served++
	f.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if rp.do != nil {
		rp.do(w, r)
		return
	}
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rp.status)
	io.WriteString(w, rp.body)
}

func (f *fakeAdobe) issueToken(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.issued++
	tok := fmt.Sprintf("%s%d", tokenPrefix, f.issued)
	exp := f.expiresIn
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":%d}`, tok, exp)
}

// dropConnection answers nothing: the client sees a network error.
func dropConnection(w http.ResponseWriter, r *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testEnv is a Client wired to fakes of everything outside: adobe plays
// IMS and image.adobe.io (remove background, auto-crop) and the hosts of
// results, ps photoshop-api.adobe.io (every other operation).
type testEnv struct {
	c       *Client
	adobe   *fakeAdobe
	ps      *fakeAdobe
	clock   *fakeClock
	limiter *fakeLimiter
	storage *fakeStorage
	logs    *syncBuffer
}

// newEnv builds a Client against a fake Adobe; mod may change the Config.
// At the end of the test it checks that the debug log never held the
// secret, a token or a presigned query.
func newEnv(t *testing.T, mod func(*Config)) *testEnv {
	t.Helper()
	clock := newFakeClock()
	e := &testEnv{adobe: newFakeAdobe(t, clock), ps: newFakeAdobe(t, clock), clock: clock, limiter: &fakeLimiter{},
		storage: &fakeStorage{}, logs: &syncBuffer{}}
	cfg := Config{
		ClientID:        testClientID,
		ClientSecret:    testSecret,
		IMSURL:          e.adobe.URL() + "/ims/token/v3",
		ImageAPIURL:     e.adobe.URL(),
		PhotoshopAPIURL: e.ps.URL(),
		Storage:         e.storage,
		Limiter:         e.limiter,
		KeyPrefix:       "hotfolder",
		Now:             clock.Now,
		After:           clock.After,
		Rand:            func() float64 { return 0.5 },
		Logger:          slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	t.Cleanup(func() {
		logs := e.logs.String()
		for _, s := range []string{testSecret, tokenPrefix, sigMarker} {
			if strings.Contains(logs, s) {
				t.Errorf("the log holds %q:\n%s", s, logs)
			}
		}
	})
	return e
}

// rbStep is the remove background step most tests submit: a cut-out as
// PNG.
func rbStep() Step {
	return Step{Op: OpRemoveBackground, RemoveBackground: &RemoveBackground{Mode: "cutout"}, Outputs: []Rendition{{Format: "png"}}}
}

// source is an uploaded input as Submit takes it.
func source() Upload {
	return Upload{Path: "/in/a.jpg", Key: "hotfolder/0123456789abcdef/a.jpg",
		URL: "https://bucket.s3.amazonaws.com/hotfolder/0123456789abcdef/a.jpg?X-Amz-Signature=" + sigMarker}
}

const jobID = "urn:ff:jobs:eso851243:8d25eb96-bb4e-48cb-9656-3350ce1e29c7"

// accepted is a submit answer naming no statusUrl.
var acceptedReply = reply{status: http.StatusAccepted, body: `{"jobId":"` + jobID + `"}`}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
