package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"hotfolder/pipeline"
	"hotfolder/ratelimit"
)

// Files by state, bytes and times are read from the run's counters at
// scrape time.
func TestRunCounters(t *testing.T) {
	unix := func(d time.Duration) float64 { return float64(start().Add(d).Unix()) }
	type want struct {
		found, done, failed, skipped, failedEarlier, active, pending, resumed float64
		copies, saved                                                         float64
		up, down, started, lastDone, lastSuccess                              float64
	}
	tests := []struct {
		name  string
		stats pipeline.Stats
		want  want
	}{
		{
			name:  "before the run starts",
			stats: pipeline.Stats{},
			want:  want{},
		},
		{
			name: "mid-run",
			stats: pipeline.Stats{
				Started: start(),
				Found:   120, Skipped: 10, Active: 4, Done: 70, Failed: 6,
				Uploaded: 5_000_000, Downloaded: 2_500_000,
				Resumed: 2, FailedEarlier: 3, Copies: 7, PostsSaved: 14,
				LastDone: start().Add(40 * time.Minute), LastSuccess: start().Add(39 * time.Minute),
			},
			want: want{
				found: 120, done: 70, failed: 6, skipped: 10, failedEarlier: 3, active: 4,
				pending: 30, // 120 found − 86 finished − 4 active
				resumed: 2, copies: 7, saved: 14, up: 5_000_000, down: 2_500_000,
				started: unix(0), lastDone: unix(40 * time.Minute), lastSuccess: unix(39 * time.Minute),
			},
		},
		{
			// Stats reads its counters one by one: a file may already
			// count as done while it still counts as active.
			name:  "counters read out of step",
			stats: pipeline.Stats{Started: start(), Found: 10, Done: 9, Active: 2},
			want:  want{found: 10, done: 9, active: 2, pending: 0, started: unix(0)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Options{
				Stats: func() pipeline.Stats { return tc.stats },
				Now:   func() time.Time { return start().Add(41 * time.Minute) },
			})
			f := scrape(t, m.Handler())
			w := tc.want
			for _, c := range []struct {
				name string
				got  float64
				want float64
			}{
				{"found", f.counter(t, "hotfolder_files_found_total", nil), w.found},
				{"done", f.counter(t, "hotfolder_files_finished_total", map[string]string{"outcome": "done"}), w.done},
				{"failed", f.counter(t, "hotfolder_files_finished_total", map[string]string{"outcome": "failed"}), w.failed},
				{"skipped", f.counter(t, "hotfolder_files_finished_total", map[string]string{"outcome": "skipped"}), w.skipped},
				{"failed earlier", f.counter(t, "hotfolder_files_failed_earlier_total", nil), w.failedEarlier},
				{"active", f.gauge(t, "hotfolder_files_active", nil), w.active},
				{"pending", f.gauge(t, "hotfolder_files_pending", nil), w.pending},
				{"resumed", f.counter(t, "hotfolder_jobs_resumed_total", nil), w.resumed},
				{"copies", f.counter(t, "hotfolder_files_copied_total", nil), w.copies},
				{"POSTs saved", f.counter(t, "hotfolder_posts_saved_total", nil), w.saved},
				{"uploaded", f.counter(t, "hotfolder_uploaded_bytes_total", nil), w.up},
				{"downloaded", f.counter(t, "hotfolder_downloaded_bytes_total", nil), w.down},
				{"started", f.gauge(t, "hotfolder_run_start_timestamp_seconds", nil), w.started},
				{"last finished", f.gauge(t, "hotfolder_last_finished_timestamp_seconds", nil), w.lastDone},
				{"last success", f.gauge(t, "hotfolder_last_success_timestamp_seconds", nil), w.lastSuccess},
			} {
				if c.got != c.want {
					t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
				}
			}
		})
	}
}

// Each request is counted by op and status code, and its duration lands in
// the op's histogram.
func TestRequests(t *testing.T) {
	m := New(Options{Stats: func() pipeline.Stats { return pipeline.Stats{} }})
	ms := time.Millisecond
	for _, r := range []struct {
		op     string
		status int
		d      time.Duration
	}{
		{"token", 200, 120 * ms},
		{"submit", 202, 300 * ms},
		{"submit", 202, 400 * ms},
		{"submit", 429, 40 * ms},
		{"status", 200, 30 * ms},
		{"status", 200, 200 * ms},
		{"status", 0, 3 * time.Second}, // no answer
	} {
		m.Request(r.op, r.status, r.d)
	}
	f := scrape(t, m.Handler())

	for _, c := range []struct {
		op, code string
		want     float64
	}{
		{"token", "200", 1},
		{"submit", "202", 2},
		{"submit", "429", 1},
		{"status", "200", 2},
		{"status", "0", 1},
	} {
		if got := f.counter(t, "hotfolder_requests_total", map[string]string{"op": c.op, "code": c.code}); got != c.want {
			t.Errorf("requests{op=%s,code=%s} = %v, want %v", c.op, c.code, got, c.want)
		}
	}
	if n := f.series("hotfolder_requests_total"); n != 5 {
		t.Errorf("%d series of hotfolder_requests_total, want 5 (one per op and code seen)", n)
	}

	status := f.histogram(t, "hotfolder_request_duration_seconds", map[string]string{"op": "status"})
	if status.GetSampleCount() != 3 || !near(status.GetSampleSum(), 3.23) {
		t.Errorf("status durations: count %d sum %v, want 3 and 3.23", status.GetSampleCount(), status.GetSampleSum())
	}
	for _, b := range []struct {
		le   float64
		want uint64
	}{{0.025, 0}, {0.05, 1}, {0.25, 2}, {2.5, 2}, {5, 3}} {
		if got := cumulative(t, status, b.le); got != b.want {
			t.Errorf("status durations ≤ %gs: %d, want %d", b.le, got, b.want)
		}
	}
	// An op not yet seen has a series at zero.
	if dl := f.histogram(t, "hotfolder_request_duration_seconds", map[string]string{"op": "download"}); dl.GetSampleCount() != 0 {
		t.Errorf("download durations: count %d, want 0", dl.GetSampleCount())
	}
}

// Job durations are kept by outcome, in buckets that tell a 12 s job from
// a 4 min one.
func TestJobEnded(t *testing.T) {
	m := New(Options{Stats: func() pipeline.Stats { return pipeline.Stats{} }})
	m.JobEnded("succeeded", 12*time.Second)
	m.JobEnded("succeeded", 4*time.Minute)
	m.JobEnded("succeeded", 800*time.Millisecond)
	m.JobEnded("failed", 7*time.Second)
	m.JobEnded("timeout", 30*time.Minute)
	f := scrape(t, m.Handler())

	tests := []struct {
		outcome string
		count   uint64
		sum     float64
		le      float64 // a bucket to check
		under   uint64  // its cumulative count
	}{
		{"succeeded", 3, 252.8, 10, 1},
		{"succeeded", 3, 252.8, 15, 2},
		{"succeeded", 3, 252.8, 300, 3},
		{"failed", 1, 7, 5, 0},
		{"timeout", 1, 1800, 900, 0}, // beyond the last bucket: +Inf only
		{"gone", 0, 0, 1, 0},         // none yet, but the series exists
	}
	for _, tc := range tests {
		h := f.histogram(t, "hotfolder_job_duration_seconds", map[string]string{"outcome": tc.outcome})
		if h.GetSampleCount() != tc.count || !near(h.GetSampleSum(), tc.sum) {
			t.Errorf("%s: count %d sum %v, want %d and %v", tc.outcome, h.GetSampleCount(), h.GetSampleSum(), tc.count, tc.sum)
		}
		if got := cumulative(t, h, tc.le); got != tc.under {
			t.Errorf("%s ≤ %gs: %d, want %d", tc.outcome, tc.le, got, tc.under)
		}
	}
}

// Transfers are kept by direction: their sizes and durations.
func TestTransferred(t *testing.T) {
	m := New(Options{Stats: func() pipeline.Stats { return pipeline.Stats{} }})
	m.Transferred("up", 150_000, 300*time.Millisecond)
	m.Transferred("up", 48_000_000, 9*time.Second)
	m.Transferred("down", 80_000_000, 12*time.Second)
	f := scrape(t, m.Handler())

	up := f.histogram(t, "hotfolder_transfer_size_bytes", map[string]string{"direction": "up"})
	if up.GetSampleCount() != 2 || up.GetSampleSum() != 48_150_000 {
		t.Errorf("up sizes: count %d sum %v, want 2 and 48150000", up.GetSampleCount(), up.GetSampleSum())
	}
	if got := cumulative(t, up, 250e3); got != 1 {
		t.Errorf("uploads ≤ 250 kB: %d, want 1", got)
	}
	if got := cumulative(t, up, 25e6); got != 1 {
		t.Errorf("uploads ≤ 25 MB: %d, want 1", got)
	}
	if got := cumulative(t, up, 50e6); got != 2 {
		t.Errorf("uploads ≤ 50 MB: %d, want 2", got)
	}
	down := f.histogram(t, "hotfolder_transfer_duration_seconds", map[string]string{"direction": "down"})
	if down.GetSampleCount() != 1 || down.GetSampleSum() != 12 {
		t.Errorf("down durations: count %d sum %v, want 1 and 12", down.GetSampleCount(), down.GetSampleSum())
	}
	if got, want := cumulative(t, down, 10), uint64(0); got != want {
		t.Errorf("downloads ≤ 10s: %d, want %d", got, want)
	}
	if got, want := cumulative(t, down, 20), uint64(1); got != want {
		t.Errorf("downloads ≤ 20s: %d, want %d", got, want)
	}
}

// The limiter's buckets are read from a real ratelimit.Set: limits, 429s,
// the slowed rate, the pause, who waits and for how long.
func TestQuota(t *testing.T) {
	clk := newClock(start())
	profile := ratelimit.Soft()
	set := ratelimit.New(profile, ratelimit.Options{Now: clk.Now, NewTimer: clk.NewTimer})
	m := New(Options{
		Stats: func() pipeline.Stats { return pipeline.Stats{Started: start()} },
		Quota: set.Stats,
		Now:   clk.Now,
	})
	rb := map[string]string{"bucket": string(ratelimit.RemoveBackgroundPost)}

	f := scrape(t, m.Handler())
	for b, l := range profile {
		labels := map[string]string{"bucket": string(b)}
		if got, want := f.gauge(t, "hotfolder_quota_limit_requests_per_second", labels), float64(l.N)/l.Window.Seconds(); !near(got, want) {
			t.Errorf("%s: limit %v/s, want %v/s", b, got, want)
		}
		if got := f.gauge(t, "hotfolder_quota_rate_ratio", labels); got != 1 {
			t.Errorf("%s: rate %v before any 429, want 1", b, got)
		}
		if got := f.counter(t, "hotfolder_quota_throttled_total", labels); got != 0 {
			t.Errorf("%s: throttled %v before any 429, want 0", b, got)
		}
	}

	set.Throttled(ratelimit.RemoveBackgroundPost, 30*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waited := make(chan error, 1)
	go func() { waited <- set.Wait(ctx, ratelimit.RemoveBackgroundPost) }()
	<-clk.added // the waiter is in its pause
	clk.Advance(10 * time.Second)

	f = scrape(t, m.Handler())
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"throttled", f.counter(t, "hotfolder_quota_throttled_total", rb), 1},
		{"rate", f.gauge(t, "hotfolder_quota_rate_ratio", rb), 0.7}, // ratelimit's default slowdown
		{"pause remaining", f.gauge(t, "hotfolder_quota_pause_remaining_seconds", rb), 20},
		{"waiting", f.gauge(t, "hotfolder_quota_waiting", rb), 1},
		{"longest wait", f.gauge(t, "hotfolder_quota_longest_wait_seconds", rb), 10},
		{"waited", f.counter(t, "hotfolder_quota_wait_seconds_total", rb), 0}, // counted once a wait ends
		{"other bucket throttled", f.counter(t, "hotfolder_quota_throttled_total", map[string]string{"bucket": "get"}), 0},
	} {
		if !near(c.got, c.want) {
			t.Errorf("after a 429 and 10s: %s = %v, want %v", c.name, c.got, c.want)
		}
	}

	clk.Advance(20 * time.Second) // the pause ends; the waiter is granted at once
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	f = scrape(t, m.Handler())
	if got := f.counter(t, "hotfolder_quota_wait_seconds_total", rb); got != 30 {
		t.Errorf("waited %vs in all, want 30", got)
	}
	if got := f.gauge(t, "hotfolder_quota_waiting", rb); got != 0 {
		t.Errorf("%v waiting after the wait ended, want 0", got)
	}
	if got := f.gauge(t, "hotfolder_quota_pause_remaining_seconds", rb); got != 0 {
		t.Errorf("pause remaining %vs after it ended, want 0", got)
	}
}

// Without Options.Quota there are no quota series, and the rest works.
func TestNoQuota(t *testing.T) {
	m := New(Options{Stats: func() pipeline.Stats { return pipeline.Stats{Found: 3} }})
	f := scrape(t, m.Handler())
	if n := f.series("hotfolder_quota_throttled_total"); n != 0 {
		t.Errorf("%d throttled series without a limiter, want 0", n)
	}
	if got := f.counter(t, "hotfolder_files_found_total", nil); got != 3 {
		t.Errorf("found %v, want 3", got)
	}
}

// The Go runtime and process metrics are on the private registry, and every
// metric passes Prometheus' naming lint (units, _total on counters, help).
func TestRegistryAndLint(t *testing.T) {
	set := ratelimit.New(ratelimit.Soft(), ratelimit.Options{})
	m := New(Options{Stats: func() pipeline.Stats { return pipeline.Stats{Started: start()} }, Quota: set.Stats})
	m.Request("submit", 202, time.Second)
	m.JobEnded("succeeded", time.Minute)
	m.Transferred("up", 1000, time.Second)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "hotfolder_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
	want := []string{"go_goroutines"}
	if runtime.GOOS == "linux" {
		want = append(want, "process_start_time_seconds")
	}
	for _, name := range want {
		if !strings.Contains(body, "\n"+name+" ") {
			t.Errorf("no %s in /metrics", name)
		}
	}
	for _, line := range strings.Split(body, "\n") {
		if name, ok := strings.CutPrefix(line, "# HELP hotfolder_"); ok && len(strings.Fields(name)) < 4 {
			t.Errorf("help too thin to tell a person anything: %s", line)
		}
	}
}

// The handler answers only what it serves.
func TestRoutes(t *testing.T) {
	m := New(Options{Stats: func() pipeline.Stats { return pipeline.Stats{} }})
	tests := []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, "/metrics", http.StatusOK},
		{http.MethodHead, "/metrics", http.StatusOK},
		{http.MethodGet, "/healthz", http.StatusOK},
		{http.MethodHead, "/healthz", http.StatusOK},
		{http.MethodGet, "/", http.StatusOK},
		{http.MethodPost, "/metrics", http.StatusMethodNotAllowed},
		{http.MethodGet, "/nothing", http.StatusNotFound},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.code {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, rec.Code, tc.code)
		}
	}
}

// New insists on the run's counters.
func TestNewWithoutStats(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New without Stats did not panic")
		}
	}()
	New(Options{})
}

// The Observer methods may be called from every worker at once, while
// Prometheus scrapes; no count is lost.
func TestConcurrentObserver(t *testing.T) {
	m := New(Options{Stats: func() pipeline.Stats { return pipeline.Stats{} }})
	const workers, calls = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				m.Request("status", 200+(w+i)%2, time.Millisecond)
				m.JobEnded("succeeded", time.Second)
				m.Transferred("down", 1000, time.Millisecond)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			rec := httptest.NewRecorder()
			m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			if rec.Code != http.StatusOK {
				t.Errorf("scrape during the calls: %d", rec.Code)
				return
			}
		}
	})
	wg.Wait()

	f := scrape(t, m.Handler())
	total := f.counter(t, "hotfolder_requests_total", map[string]string{"op": "status", "code": "200"}) +
		f.counter(t, "hotfolder_requests_total", map[string]string{"op": "status", "code": "201"})
	if total != workers*calls {
		t.Errorf("%v requests counted, want %d", total, workers*calls)
	}
	for name, labels := range map[string]map[string]string{
		"hotfolder_request_duration_seconds":  {"op": "status"},
		"hotfolder_job_duration_seconds":      {"outcome": "succeeded"},
		"hotfolder_transfer_size_bytes":       {"direction": "down"},
		"hotfolder_transfer_duration_seconds": {"direction": "down"},
	} {
		if got := f.histogram(t, name, labels).GetSampleCount(); got != workers*calls {
			t.Errorf("%s%v: count %d, want %d", name, labels, got, workers*calls)
		}
	}
}
