package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"hotfolder/ratelimit"
)

// clock is a fake Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a started emulator on a fake clock with a token.
type fixture struct {
	t     *testing.T
	s     *Server
	clock *clock
	token string
	key   string
}

// start starts an emulator; cfg.Now is replaced by a fake clock. Jobs take
// exactly 10 s unless cfg says otherwise, and limits are off unless set.
func start(t *testing.T, cfg Config) *fixture {
	t.Helper()
	return startWith(t, cfg, newClock(), nil)
}

// startWith is start on the clock c (shared by emulators that follow one
// another on a Dir), serving on l when it is not nil.
func startWith(t *testing.T, cfg Config, c *clock, l net.Listener) *fixture {
	t.Helper()
	cfg.Now = c.Now
	if cfg.MinLatency == 0 && cfg.MaxLatency == 0 {
		cfg.MinLatency, cfg.MaxLatency = 10*time.Second, 10*time.Second
	}
	if cfg.Limits == nil {
		cfg.Limits = ratelimit.Profile{}
	}
	s, err := serveOn(cfg, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	f := &fixture{t: t, s: s, clock: c}
	f.key, _ = s.Credentials()
	f.token = f.getToken()
	return f
}

// serveOn is Start, or New serving on l when l is not nil.
func serveOn(cfg Config, l net.Listener) (*Server, error) {
	if l == nil {
		return Start(cfg)
	}
	s, err := New(cfg)
	if err != nil {
		l.Close()
		return nil, err
	}
	s.setBase(l.Addr()) // now, not when the goroutine gets to Serve
	go s.Serve(l)
	return s, nil
}

func (f *fixture) getToken() string {
	f.t.Helper()
	id, secret := f.s.Credentials()
	resp, body := f.form(url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "scope": {"openid,AdobeID"}})
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("token: %s %s", resp.Status, body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		f.t.Fatal(err)
	}
	return tr.AccessToken
}

func (f *fixture) form(v url.Values) (*http.Response, []byte) {
	f.t.Helper()
	resp, err := http.PostForm(f.s.IMSURL(), v)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, readAll(f.t, resp)
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// call sends an API request with the fixture's token and key; body, when
// not a string, is sent as JSON.
func (f *fixture) call(method, target string, body any) (*http.Response, []byte) {
	f.t.Helper()
	return f.callAs(method, target, body, "Bearer "+f.token, f.key, "application/json")
}

func (f *fixture) callAs(method, target string, body any, auth, key, contentType string) (*http.Response, []byte) {
	f.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	if !strings.HasPrefix(target, "http") {
		target = f.s.URL() + target
	}
	req, err := http.NewRequest(method, target, r)
	if err != nil {
		f.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	if r != nil && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, readAll(f.t, resp)
}

// submitted is a 202 answer.
type submitted struct {
	JobID     string `json:"jobId"`
	StatusURL string `json:"statusUrl"`
}

// submit posts a remove-background request that must be accepted.
func (f *fixture) submit(body any) submitted {
	f.t.Helper()
	resp, b := f.call(http.MethodPost, "/v2/remove-background", body)
	if resp.StatusCode != http.StatusAccepted {
		f.t.Fatalf("submit: %s %s", resp.Status, b)
	}
	var sub submitted
	if err := json.Unmarshal(b, &sub); err != nil {
		f.t.Fatal(err)
	}
	return sub
}

// status polls a job once and decodes the answer, which must be 200.
func (f *fixture) status(sub submitted) statusBody {
	f.t.Helper()
	resp, b := f.call(http.MethodGet, sub.StatusURL, nil)
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("status: %s %s", resp.Status, b)
	}
	checkSchema(f.t, "JobStatusResponse", b)
	var st statusBody
	if err := json.Unmarshal(b, &st); err != nil {
		f.t.Fatal(err)
	}
	return st
}

// finish waits for the job's processing, moves the clock past its latency
// and returns its final status.
func (f *fixture) finish(sub submitted) statusBody {
	f.t.Helper()
	f.waitProcessed(sub.JobID)
	f.clock.Advance(time.Hour)
	st := f.status(sub)
	f.clock.Advance(-time.Hour)
	return st
}

func (f *fixture) waitProcessed(id string) {
	f.t.Helper()
	f.s.mu.Lock()
	j := f.s.jobs[id]
	f.s.mu.Unlock()
	if j == nil {
		f.t.Fatalf("no job %s", id)
	}
	select {
	case <-j.done:
	case <-time.After(20 * time.Second):
		f.t.Fatalf("job %s still processing after 20 s", id)
	}
}

// upload stores data in the emulator's store and returns a presigned URL.
func (f *fixture) upload(key string, data []byte) string {
	f.t.Helper()
	st := NewStore(f.s.StorageURL(), nil)
	ctx := context.Background()
	if err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data)), "image/png"); err != nil {
		f.t.Fatal(err)
	}
	u, err := st.PresignGet(ctx, key, time.Hour)
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

// download GETs a URL without credentials.
func download(t *testing.T, u string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readAll(t, resp)
}

// rbBody is a remove-background request for source with extra fields.
func rbBody(source string, extra map[string]any) map[string]any {
	b := map[string]any{"image": map[string]any{"source": map[string]any{"url": source}}}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// objectShot is a 120×90 PNG: a saturated blue square (40..80 × 25..65)
// on a light grey backdrop.
func objectShot(t *testing.T) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 120, 90))
	for y := range 90 {
		for x := range 120 {
			c := color.NRGBA{235, 235, 235, 255}
			if x >= 40 && x < 80 && y >= 25 && y < 65 {
				c = color.NRGBA{20, 60, 200, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// blockingSource serves data only once release is closed, and counts the
// requests waiting at once.
type blockingSource struct {
	*httptest.Server
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	waiting int
	maxWait int
}

func newBlockingSource(t *testing.T, data []byte) *blockingSource {
	b := &blockingSource{release: make(chan struct{})}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.waiting++
		b.maxWait = max(b.maxWait, b.waiting)
		b.mu.Unlock()
		select {
		case <-b.release:
		case <-r.Context().Done():
		}
		b.mu.Lock()
		b.waiting--
		b.mu.Unlock()
		w.Write(data)
	}))
	t.Cleanup(b.Close)
	t.Cleanup(b.Release) // runs first: Close waits for the handlers
	return b
}

// Release lets every waiting and future request through.
func (b *blockingSource) Release() { b.once.Do(func() { close(b.release) }) }

func (b *blockingSource) counts() (waiting, maxWaiting int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiting, b.maxWait
}
