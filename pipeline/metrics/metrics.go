package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"hotfolder/pipeline"
	"hotfolder/ratelimit"
	"hotfolder/uploader"
)

// DefaultStallAfter is Options.StallAfter when it is not set: far longer
// than a job takes (seconds to a few minutes) or a 429 pause lasts (at most
// a minute), short enough that a stalled night is noticed.
const DefaultStallAfter = 15 * time.Minute

// Options configure [New].
type Options struct {
	// Stats returns the run's counters; required. It is called once per
	// scrape and per health check, from any goroutine.
	Stats func() pipeline.Stats
	// Quota returns the limiter's buckets, e.g. (*ratelimit.Set).Stats;
	// optional: without it there are no hotfolder_quota_* metrics and the
	// health reason does not mention the quota. Called like Stats.
	Quota func() ratelimit.Stats
	// Shared reports whether a limiter shared with other processes (the
	// quota in Redis) can be reached; while it cannot, no request is sent
	// and the run is unhealthy. nil: the limiter is this process's own.
	Shared func() (ok bool, reason string)
	// Workflows, when set (with -config), breaks the run down by
	// workflow: the hotfolder_workflow_* series. Called like Stats.
	Workflows func() []Workflow
	// StallAfter is how long work may wait with no file finishing (or
	// none succeeding) before the run is reported unhealthy. Default
	// [DefaultStallAfter].
	StallAfter time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Metrics serves a run's Prometheus metrics and health check (see the
// package documentation for what they are) and records what an uploader
// reports through the [uploader.Observer] methods.
//
// Use [New]; the zero value is not usable. A Metrics is safe for concurrent
// use by multiple goroutines. It has nothing to close: it owns no goroutine,
// and the caller owns the HTTP server that serves [Metrics.Handler].
type Metrics struct {
	stats      func() pipeline.Stats
	quota      func() ratelimit.Stats
	shared     func() (bool, string)
	stallAfter time.Duration
	now        func() time.Time

	handler http.Handler

	requests        *prometheus.CounterVec
	requestSeconds  *prometheus.HistogramVec
	jobSeconds      *prometheus.HistogramVec
	transferBytes   *prometheus.HistogramVec
	transferSeconds *prometheus.HistogramVec

	mu       sync.Mutex
	idleSeen time.Time // the last time a health check saw nothing waiting
}

var _ uploader.Observer = (*Metrics)(nil)

// New returns the metrics of one run. It panics if opt.Stats is nil.
func New(opt Options) *Metrics {
	if opt.Stats == nil {
		panic("metrics: Options.Stats is nil")
	}
	if opt.StallAfter <= 0 {
		opt.StallAfter = DefaultStallAfter
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	m := &Metrics{
		stats:      opt.Stats,
		quota:      opt.Quota,
		shared:     opt.Shared,
		stallAfter: opt.StallAfter,
		now:        opt.Now,

		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotfolder_requests_total",
			Help: "HTTP requests to Adobe (IMS token, job submit, job status) and for hosted results (download), by op and HTTP status code; code 0 means no answer came (network error or timeout), 429 that Adobe's quota was exceeded.",
		}, []string{"op", "code"}),
		// Requests: a token or status call takes tens of milliseconds, a
		// download of a large result up to minutes.
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotfolder_request_duration_seconds",
			Help:    "How long HTTP requests took, from sending to the end of the answer, by op (token, submit, status, download).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"op"}),
		// Jobs take seconds to minutes; timeouts end later still.
		jobSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotfolder_job_duration_seconds",
			Help:    "How long Photoshop API jobs took from submission until seen to end, by outcome: succeeded, failed, gone (the job vanished: 404) or timeout (hotfolder gave up waiting).",
			Buckets: []float64{1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 450, 600, 900},
		}, []string{"outcome"}),
		// Product photos of 10 kB to 200 MB, over links of a few
		// Mbit/s to a gigabit.
		transferBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotfolder_transfer_size_bytes",
			Help:    "Size of finished transfers, by direction: up (an input to storage) or down (a result from Adobe).",
			Buckets: []float64{10e3, 25e3, 50e3, 100e3, 250e3, 500e3, 1e6, 2.5e6, 5e6, 10e6, 25e6, 50e6, 100e6, 200e6, 500e6},
		}, []string{"direction"}),
		transferSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotfolder_transfer_duration_seconds",
			Help:    "How long finished transfers took, by direction: up (an input to storage) or down (a result from Adobe).",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300},
		}, []string{"direction"}),
	}
	// Series for the label values known in advance start at zero, so a
	// rate over them exists before the first event: an alert on timed-out
	// jobs does not wait for the first one to have a series.
	for _, op := range []string{"token", "submit", "status", "download"} {
		m.requestSeconds.WithLabelValues(op)
	}
	for _, o := range []string{"succeeded", "failed", "gone", "timeout"} {
		m.jobSeconds.WithLabelValues(o)
	}
	for _, d := range []string{"up", "down"} {
		m.transferBytes.WithLabelValues(d)
		m.transferSeconds.WithLabelValues(d)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		newRunCollector(m),
		m.requests, m.requestSeconds, m.jobSeconds, m.transferBytes, m.transferSeconds,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if opt.Workflows != nil {
		reg.MustRegister(newWorkflowCollector(opt.Workflows))
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", m.serveHealth)
	mux.HandleFunc("GET /{$}", serveIndex)
	m.handler = mux
	return m
}

// Handler serves GET /metrics (Prometheus text format), GET /healthz (see
// [Metrics.Health]) and, at /, a line pointing to both.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Request counts one HTTP exchange; see [uploader.Observer].
func (m *Metrics) Request(op string, status int, d time.Duration) {
	m.requests.WithLabelValues(op, strconv.Itoa(status)).Inc()
	m.requestSeconds.WithLabelValues(op).Observe(d.Seconds())
}

// JobEnded records a job's end; see [uploader.Observer].
func (m *Metrics) JobEnded(outcome string, d time.Duration) {
	m.jobSeconds.WithLabelValues(outcome).Observe(d.Seconds())
}

// Transferred records a finished upload or download; see [uploader.Observer].
func (m *Metrics) Transferred(direction string, n int64, d time.Duration) {
	m.transferBytes.WithLabelValues(direction).Observe(float64(n))
	m.transferSeconds.WithLabelValues(direction).Observe(d.Seconds())
}

// quotaStats is the limiter's snapshot, or nil without Options.Quota.
func (m *Metrics) quotaStats() ratelimit.Stats {
	if m.quota == nil {
		return nil
	}
	return m.quota()
}

func serveIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("hotfolder: metrics at /metrics, health at /healthz\n"))
}
