package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hotfolder/pipeline"
	"hotfolder/ratelimit"
	"hotfolder/uploader"
)

// fakeRun is a pipeline the test moves on.
type fakeRun struct {
	mu    sync.Mutex
	stats pipeline.Stats
	fails []pipeline.Failure
}

func (r *fakeRun) Stats() pipeline.Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

func (r *fakeRun) Failures(from int) []pipeline.Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pipeline.Failure(nil), r.fails[min(from, len(r.fails)):]...)
}

// fail records n more failures of the same kind.
func (r *fakeRun) fail(n int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range n {
		r.fails = append(r.fails, pipeline.Failure{Rel: fmt.Sprintf("f%02d.jpg", len(r.fails)), Stage: pipeline.StageCheck, Err: err})
		r.stats.Failed++
		r.stats.Found++
	}
}

// receiver is a webhook that hands each summary to the test.
func receiver(t *testing.T) (url string, got <-chan Summary) {
	t.Helper()
	ch := make(chan Summary, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s Summary
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
			t.Errorf("decoding the summary: %v", err)
		}
		ch <- s
	}))
	t.Cleanup(srv.Close)
	return srv.URL, ch
}

func newSender(t *testing.T, url string) *Sender {
	t.Helper()
	s, err := NewSender(url, SenderOptions{Backoff: time.Millisecond, Client: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeTimers hands the test every timer the session arms.
type fakeTimers struct {
	mu   sync.Mutex
	now  time.Time
	reqs chan timerReq
}

type timerReq struct {
	d time.Duration
	c chan time.Time
}

func newFakeTimers(now time.Time) *fakeTimers {
	return &fakeTimers{now: now, reqs: make(chan timerReq)}
}

func (f *fakeTimers) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTimers) set(t time.Time) {
	f.mu.Lock()
	f.now = t
	f.mu.Unlock()
}

func (f *fakeTimers) After(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	f.reqs <- timerReq{d, c}
	return c
}

// next is the next timer armed; it fails the test if none comes.
func (f *fakeTimers) next(t *testing.T) timerReq {
	t.Helper()
	select {
	case r := <-f.reqs:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the session armed no timer")
		return timerReq{}
	}
}

func noSummary(t *testing.T, got <-chan Summary) {
	t.Helper()
	select {
	case s := <-got:
		t.Errorf("unexpected summary: %+v", s)
	default:
	}
}

var errEmpty = &uploader.RejectedError{Reason: "the file is empty", Suggestion: "check the export"}

func TestClockNext(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no time zone data (install tzdata): %v", err)
	}
	at8 := Clock{8, 0}
	tests := []struct {
		name string
		c    Clock
		now  time.Time
		want time.Time
	}{
		{"later today", at8, time.Date(2026, 3, 2, 7, 59, 0, 0, time.UTC), time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)},
		{"at the time: tomorrow", at8, time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC)},
		{"past it: tomorrow", at8, time.Date(2026, 3, 2, 23, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC)},
		{"month end", at8, time.Date(2026, 2, 28, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)},
		{"local time across DST", at8, time.Date(2026, 3, 28, 9, 0, 0, 0, berlin), time.Date(2026, 3, 29, 8, 0, 0, 0, berlin)},
		{"a time DST skips", Clock{2, 30}, time.Date(2026, 3, 29, 1, 0, 0, 0, berlin), time.Date(2026, 3, 29, 3, 30, 0, 0, berlin)},
	}
	for _, tt := range tests {
		if got := tt.c.Next(tt.now); !got.Equal(tt.want) {
			t.Errorf("%s: %v.Next(%v) = %v, want %v", tt.name, tt.c, tt.now, got, tt.want)
		}
	}
	// 23h from 09:00 the day before the spring change to 08:00 after it.
	if d := at8.Next(time.Date(2026, 3, 28, 9, 0, 0, 0, berlin)).Sub(time.Date(2026, 3, 28, 9, 0, 0, 0, berlin)); d != 22*time.Hour {
		t.Errorf("across the spring change: %v, want 22h", d)
	}
}

func TestParseClock(t *testing.T) {
	for in, want := range map[string]Clock{"08:00": {8, 0}, "23:59": {23, 59}, "00:05": {0, 5}} {
		if got, err := ParseClock(in); err != nil || got != want {
			t.Errorf("ParseClock(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "8", "24:00", "08:60", "8am", "08:00:00"} {
		if _, err := ParseClock(in); err == nil {
			t.Errorf("ParseClock(%q) succeeded", in)
		}
	}
}

// A 5xx and a 429 are tried again, with back-off; the third try lands.
func TestSendRetries(t *testing.T) {
	var tries atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch tries.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	if err := newSender(t, srv.URL).Send(context.Background(), Summary{Text: "hi"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if n := tries.Load(); n != 3 {
		t.Errorf("%d tries, want 3", n)
	}
}

// A 4xx other than 408 and 429 is not tried again; a receiver that is down
// is tried Attempts times. Neither error names the webhook's path.
func TestSendFails(t *testing.T) {
	var tries atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries.Add(1)
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	err := newSender(t, srv.URL+"/services/T000/SECRET").Send(context.Background(), Summary{})
	if err == nil || tries.Load() != 1 || !errors.Is(err, errPermanent) {
		t.Errorf("404: %v after %d tries, want a permanent error after 1", err, tries.Load())
	}
	if err != nil && strings.Contains(err.Error(), "SECRET") {
		t.Errorf("the error names the webhook's path: %v", err)
	}

	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL + "/hooks/SECRET"
	down.Close()
	err = newSender(t, url).Send(context.Background(), Summary{})
	if err == nil || errors.Is(err, errPermanent) {
		t.Errorf("down: %v, want a transient error", err)
	}
	if err != nil && strings.Contains(err.Error(), "SECRET") {
		t.Errorf("the error names the webhook's path: %v", err)
	}
}

func TestNewSenderWantsHTTP(t *testing.T) {
	for _, u := range []string{"", "hooks.example/x", "ftp://h/x", "http:///x", "://"} {
		if _, err := NewSender(u, SenderOptions{}); err == nil {
			t.Errorf("NewSender(%q) succeeded", u)
		}
	}
}

// The end of a run: counts, POSTs, failure reasons grouped and ranked, the
// link, and a text line that says it all.
func TestSessionEnd(t *testing.T) {
	url, got := receiver(t)
	run := &fakeRun{}
	// What the pipeline counted (pipeline.Pipeline.Posts): POST buckets only.
	posts := func() map[ratelimit.Bucket]int64 {
		return map[ratelimit.Bucket]int64{ratelimit.RemoveBackgroundPost: 7}
	}
	clock := newFakeTimers(time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC))
	s := Start(context.Background(), Config{Sender: newSender(t, url), Host: "studio-1", In: "/srv/hot",
		Link: "http://studio-1:9464/", Posts: posts, Now: clock.Now, After: clock.After,
		Redact: func(s string) string { return strings.ReplaceAll(s, "s3cr3t", "[REDACTED]") }}, run)

	started := clock.Now().Add(-8 * time.Minute)
	sum := pipeline.Summary{Stats: pipeline.Stats{Started: started, Found: 12, Done: 7, Skipped: 2, Failed: 3}, Pending: 0, Searched: true}
	apiErr := &uploader.APIError{Op: "submit", StatusCode: 400, Code: "InputValidationError", Message: "bad token s3cr3t"}
	sum.Failures = []pipeline.Failure{
		{Rel: "b/empty.jpg", Stage: pipeline.StageCheck, Err: errEmpty},
		{Rel: "a/x.jpg", Stage: pipeline.StageSubmit, Err: fmt.Errorf("submit: %w", apiErr)},
		{Rel: "a/empty2.jpg", Stage: pipeline.StageCheck, Err: errEmpty},
	}
	s.End(sum, "bad credentials: token s3cr3t refused")

	var out Summary
	select {
	case out = <-got:
	default:
		t.Fatal("End returned before the summary arrived")
	}
	want := Counts{Found: 12, Done: 7, Failed: 3, Skipped: 2}
	if out.Event != EventEnd || out.Counts != want || out.ElapsedSeconds != 480 || out.Elapsed != "8m0s" ||
		out.Host != "studio-1" || out.In != "/srv/hot" || out.Link != "http://studio-1:9464/" {
		t.Errorf("summary %+v, want event %s, counts %+v, 8m elapsed, host, in and link", out, EventEnd, want)
	}
	if len(out.Posts) != 1 || out.Posts["remove-background.post"] != 7 {
		t.Errorf("posts %v, want remove-background.post 7 (GETs are not POSTs)", out.Posts)
	}
	wantReasons := []Reason{
		{Reason: "check: the file is empty", Count: 2, Example: "b/empty.jpg", Hint: "check the export"},
		{Reason: "submit: HTTP 400 InputValidationError", Count: 1, Example: "a/x.jpg", Hint: uploader.Hint(apiErr)},
	}
	if fmt.Sprint(out.TopFailures) != fmt.Sprint(wantReasons) {
		t.Errorf("top failures %+v, want %+v", out.TopFailures, wantReasons)
	}
	wantText := "hotfolder on studio-1: run ended after 8m0s: 7 done, 3 failed, 2 skipped. " +
		"Stopped: bad credentials: token [REDACTED] refused. " +
		"Top failure: check: the file is empty (2, e.g. b/empty.jpg). Review: http://studio-1:9464/"
	if out.Text != wantText {
		t.Errorf("text\n%q, want\n%q", out.Text, wantText)
	}
}

// A receiver that never answers costs the end of the run its budget, no
// more: End returns while the receiver still holds the request, and the
// log says the summary was given up.
func TestSessionEndReceiverHangs(t *testing.T) {
	release := make(chan struct{})
	var entered, answered atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		<-release
		answered.Add(1)
	}))
	defer srv.Close()
	defer close(release) // before srv.Close, which waits for the handler
	var log syncBuffer
	s := Start(context.Background(), Config{Sender: newSender(t, srv.URL), EndBudget: 200 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&log, nil))}, &fakeRun{})
	s.End(pipeline.Summary{}, "")
	if entered.Load() == 0 || answered.Load() != 0 {
		t.Errorf("%d requests entered, %d answered when End returned: want ≥1 entered, none answered", entered.Load(), answered.Load())
	}
	if !strings.Contains(log.String(), "gave up on the end-of-run summary") {
		t.Errorf("log %q does not say the summary was given up", log.String())
	}
}

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

// Inputs that failed the same way share a reason, whatever their names.
func TestReasonOf(t *testing.T) {
	pathErr := func(name string) error {
		return fmt.Errorf("write: %w", &fs.PathError{Op: "open", Path: name, Err: os.ErrPermission})
	}
	tests := []struct {
		f    pipeline.Failure
		want string
	}{
		{pipeline.Failure{Stage: pipeline.StageCheck, Err: errEmpty}, "check: the file is empty"},
		{pipeline.Failure{Stage: pipeline.StageWrite, Err: pathErr("/out/a.png")}, "write: permission denied"},
		{pipeline.Failure{Stage: pipeline.StageWrite, Err: pathErr("/out/b.png")}, "write: permission denied"},
		{pipeline.Failure{Stage: pipeline.StageProcess, Err: fmt.Errorf("job j1: %w", &uploader.JobFailedError{JobID: "j1", Code: "InvalidInput"})},
			"process: job failed: InvalidInput"},
		{pipeline.Failure{Stage: pipeline.StageDownload, Err: &uploader.APIError{Op: "download", StatusCode: 503}}, "download: HTTP 503"},
		{pipeline.Failure{}, "unknown error"},
	}
	for _, tt := range tests {
		if got := reasonOf(tt.f); got != tt.want {
			t.Errorf("reasonOf(%v) = %q, want %q", tt.f.Err, got, tt.want)
		}
	}
	// At most topReasons, the most frequent first, ties by reason.
	var fails []pipeline.Failure
	for i := range 8 {
		for range i + 1 {
			fails = append(fails, pipeline.Failure{Rel: fmt.Sprint(i), Err: fmt.Errorf("kind %d", i)})
		}
	}
	fails = append(fails, pipeline.Failure{Rel: "z", Err: errors.New("kind 6")})
	top := topFailures(fails, func(s string) string { return s })
	var gotTop []string
	for _, r := range top {
		gotTop = append(gotTop, fmt.Sprintf("%s×%d", r.Reason, r.Count))
	}
	if want := "kind 6×8 kind 7×8 kind 5×6 kind 4×5 kind 3×4"; strings.Join(gotTop, " ") != want {
		t.Errorf("top failures %v, want %s", gotTop, want)
	}
}

func TestLink(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"127.0.0.1:9464", "http://127.0.0.1:9464/"},
		{":9464", "http://studio-1:9464/"},
		{"0.0.0.0:9464", "http://studio-1:9464/"},
		{"[::]:9464", "http://studio-1:9464/"},
		{"[::1]:9464", "http://[::1]:9464/"},
		{"", "file:///srv/out/.hotfolder/review/index.html"},
	}
	for _, tt := range tests {
		if got := Link(tt.addr, "/srv/out/.hotfolder", "studio-1"); got != tt.want {
			t.Errorf("Link(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

// In watch mode the summary of the day goes out at -notify-at, covering
// what happened since the previous one; the clock is re-read at least
// hourly.
func TestSessionDaily(t *testing.T) {
	url, got := receiver(t)
	run := &fakeRun{}
	clock := newFakeTimers(time.Date(2026, 3, 2, 7, 30, 0, 0, time.UTC))
	s := Start(context.Background(), Config{Sender: newSender(t, url), Daily: true, DailyAt: Clock{8, 0},
		Now: clock.Now, After: clock.After}, run)
	defer s.End(pipeline.Summary{}, "")

	tm := clock.next(t)
	if tm.d != 30*time.Minute {
		t.Fatalf("first wait %v, want 30m (07:30 to 08:00)", tm.d)
	}
	run.mu.Lock()
	run.stats = pipeline.Stats{Found: 40, Done: 30, Skipped: 4, Active: 2}
	run.mu.Unlock()
	run.fail(3, errEmpty)
	clock.set(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC))
	tm.c <- clock.Now()
	first := <-got
	if want := (Counts{Found: 43, Done: 30, Failed: 3, Skipped: 4, Pending: 6}); first.Event != EventDaily || first.Counts != want ||
		first.Elapsed != "30m0s" || len(first.TopFailures) != 1 || first.TopFailures[0].Count != 3 {
		t.Errorf("first daily summary %+v, want counts %+v over 30m and 3 empty files", first, want)
	}

	tm = clock.next(t)
	if tm.d != maxNap {
		t.Fatalf("wait after the summary %v, want %v (the clock is re-read hourly)", tm.d, maxNap)
	}
	clock.set(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	tm.c <- clock.Now() // 09:00: not yet
	tm = clock.next(t)
	noSummary(t, got)

	run.mu.Lock()
	run.stats.Done += 10
	run.stats.Found += 10
	run.mu.Unlock()
	clock.set(time.Date(2026, 3, 3, 8, 0, 5, 0, time.UTC)) // the host slept through it: late, but sent
	tm.c <- clock.Now()
	second := <-got
	if want := (Counts{Found: 10, Done: 10, Pending: 6}); second.Counts != want || len(second.TopFailures) != 0 || second.Elapsed != "24h0m5s" {
		t.Errorf("second daily summary %+v, want counts %+v since the first and no failures", second, want)
	}
	if tm = clock.next(t); tm.d != maxNap {
		t.Errorf("wait %v", tm.d)
	}
}

// Failures past the threshold send a summary at once, once per crossing:
// not again for each further failure, but again after the daily summary
// started a new period.
func TestSessionFailuresOncePerCrossing(t *testing.T) {
	url, got := receiver(t)
	run := &fakeRun{}
	clock := newFakeTimers(time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC))
	s := Start(context.Background(), Config{Sender: newSender(t, url), Daily: true, DailyAt: Clock{8, 0}, Failures: 3,
		Check: time.Second, Now: clock.Now, After: clock.After}, run)
	defer s.End(pipeline.Summary{}, "")

	daily, check := clock.next(t), clock.next(t)
	if daily.d != time.Hour || check.d != time.Second {
		t.Fatalf("timers %v and %v, want 1h and 1s", daily.d, check.d)
	}
	tick := func() {
		t.Helper()
		check.c <- clock.Now()
		check = clock.next(t)
	}
	run.fail(2, errEmpty)
	tick()
	noSummary(t, got)
	run.fail(1, errEmpty)
	tick()
	select {
	case alert := <-got:
		if alert.Event != EventFailures || alert.Counts.Failed != 3 || !strings.Contains(alert.Text, "3 files failed") {
			t.Errorf("alert %+v, want 3 failures", alert)
		}
	default:
		t.Fatal("no alert once 3 files failed")
	}
	run.fail(5, errEmpty)
	tick()
	noSummary(t, got)

	clock.set(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC))
	daily.c <- clock.Now()
	if d := <-got; d.Event != EventDaily || d.Counts.Failed != 8 {
		t.Errorf("daily %+v, want 8 failures", d)
	}
	daily = clock.next(t)
	run.fail(2, errEmpty)
	tick()
	noSummary(t, got)
	run.fail(1, errEmpty)
	tick()
	if alert := <-got; alert.Event != EventFailures || alert.Counts.Failed != 3 || len(alert.TopFailures) != 1 || alert.TopFailures[0].Count != 3 {
		t.Errorf("second alert %+v, want the 3 failures since the daily summary", alert)
	}
}
