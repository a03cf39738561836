package metrics

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"hotfolder/pipeline"
)

// start is when the runs of the tests start: a Saturday, 10 pm.
func start() time.Time { return time.Date(2026, 3, 14, 22, 0, 0, 0, time.UTC) }

// clock is a fake clock whose timers fire only when it is advanced.
type clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
	added  chan struct{} // receives (without blocking) when a timer is made
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t, added: make(chan struct{}, 100)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t, without firing timers; for health tests.
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock on by d and fires the timers then due.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- c.now
	}
	c.timers = kept
}

// NewTimer is ratelimit.Options.NewTimer on the fake clock.
func (c *clock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch, func() bool { return false }
	}
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	select {
	case c.added <- struct{}{}:
	default:
	}
	return ch, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, t := range c.timers {
			if t.ch == ch {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				return true
			}
		}
		return false
	}
}

// runStats is a run's counters that a test sets, read like
// (*pipeline.Pipeline).Stats.
type runStats struct {
	mu sync.Mutex
	s  pipeline.Stats
}

func (r *runStats) Stats() pipeline.Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.s
}

func (r *runStats) Set(s pipeline.Stats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s = s
}

// families are the metric families of one scrape, by name.
type families map[string]*dto.MetricFamily

// scrape GETs /metrics from h and parses the text format.
func scrape(t *testing.T, h http.Handler) families {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// metric returns the one metric of family name whose labels are exactly
// labels (a nil map: no labels), failing the test if there is none or the
// family is not of type typ.
func (f families) metric(t *testing.T, name string, typ dto.MetricType, labels map[string]string) *dto.Metric {
	t.Helper()
	fam := f[name]
	if fam == nil {
		t.Fatalf("no metric %s; have %v", name, f.names())
	}
	if fam.GetType() != typ {
		t.Fatalf("%s is a %v, want a %v", name, fam.GetType(), typ)
	}
	for _, m := range fam.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if maps.Equal(got, labels) || len(got) == 0 && len(labels) == 0 {
			return m
		}
	}
	t.Fatalf("no %s%v among %d series", name, labels, len(fam.GetMetric()))
	return nil
}

func (f families) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	return f.metric(t, name, dto.MetricType_COUNTER, labels).GetCounter().GetValue()
}

func (f families) gauge(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	return f.metric(t, name, dto.MetricType_GAUGE, labels).GetGauge().GetValue()
}

func (f families) histogram(t *testing.T, name string, labels map[string]string) *dto.Histogram {
	t.Helper()
	return f.metric(t, name, dto.MetricType_HISTOGRAM, labels).GetHistogram()
}

// series counts the series of family name; 0 if there is no such family.
func (f families) series(name string) int {
	if fam := f[name]; fam != nil {
		return len(fam.GetMetric())
	}
	return 0
}

func (f families) names() []string {
	var ns []string
	for n := range f {
		if strings.HasPrefix(n, "hotfolder_") {
			ns = append(ns, n)
		}
	}
	sort.Strings(ns)
	return ns
}

// cumulative returns the count of the histogram's bucket with upper bound
// le, failing the test if there is no such bucket.
func cumulative(t *testing.T, h *dto.Histogram, le float64) uint64 {
	t.Helper()
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == le {
			return b.GetCumulativeCount()
		}
	}
	t.Fatalf("no bucket le=%g", le)
	return 0
}

// near reports whether a and b differ by less than a millionth: float
// sums of durations are not exact.
func near(a, b float64) bool {
	d := a - b
	return d < 1e-6 && d > -1e-6
}
