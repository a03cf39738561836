package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"hotfolder/pipeline"
	"hotfolder/ratelimit"
)

// healthz GETs /healthz from h: the status code and the body.
func healthz(t *testing.T, h http.Handler) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("/healthz Content-Type %q", ct)
	}
	body := rec.Body.String()
	if strings.Count(body, "\n") != 1 || !strings.HasSuffix(body, "\n") {
		t.Errorf("/healthz body is not one line: %q", body)
	}
	return rec.Code, strings.TrimSuffix(body, "\n")
}

func TestHealth(t *testing.T) {
	minute := time.Minute
	at := func(d time.Duration) time.Time { return start().Add(d) }
	paused := ratelimit.Stats{
		ratelimit.RemoveBackgroundPost: {
			Limit: ratelimit.Limit{N: 2, Window: 3 * time.Second}, Interval: 1530 * time.Millisecond,
			Waiting: 4, LongestWait: 50 * time.Second, PausedUntil: at(60*minute + 38*time.Second), Throttles: 57, Rate: 0.3,
		},
		ratelimit.Get: {Limit: ratelimit.Limit{N: 300, Window: 3 * time.Second}, Rate: 1},
	}
	tests := []struct {
		name   string
		stats  pipeline.Stats
		quota  ratelimit.Stats
		now    time.Time
		ok     bool
		reason string // the start of the reason
		has    string // also in the reason
	}{
		{
			name:   "not started yet",
			stats:  pipeline.Stats{Found: 5},
			now:    at(time.Hour),
			ok:     true,
			reason: "starting",
		},
		{
			name:   "started, nothing found for hours",
			stats:  pipeline.Stats{Started: start()},
			now:    at(5 * time.Hour),
			ok:     true,
			reason: "ok: idle, no files yet",
		},
		{
			name:   "everything finished long ago",
			stats:  pipeline.Stats{Started: start(), Found: 10, Done: 7, Failed: 1, Skipped: 2, LastDone: at(20 * minute), LastSuccess: at(19 * minute)},
			now:    at(6 * time.Hour),
			ok:     true,
			reason: "ok: idle, all 10 files finished (7 done, 1 failed, 2 skipped)",
		},
		{
			name:   "working, finished recently",
			stats:  pipeline.Stats{Started: start(), Found: 40, Done: 12, Active: 4, LastDone: at(18 * minute), LastSuccess: at(18 * minute)},
			now:    at(20 * minute),
			ok:     true,
			reason: "ok: 12 of 40 files finished (12 done, 0 failed, 0 skipped), 4 active, 24 pending; last finished 2m0s ago",
		},
		{
			name:   "working, none finished yet, within the threshold",
			stats:  pipeline.Stats{Started: start(), Found: 40, Active: 4},
			now:    at(14 * minute),
			ok:     true,
			reason: "ok: 0 of 40 files finished",
			has:    "none finished yet",
		},
		{
			name:   "none finished since the start",
			stats:  pipeline.Stats{Started: start(), Found: 40, Active: 4},
			now:    at(15 * minute),
			ok:     false,
			reason: "stalled: no file finished for 15m0s while 40 wait (4 active)",
		},
		{
			name:   "none finished since the last one",
			stats:  pipeline.Stats{Started: start(), Found: 40, Done: 12, Active: 4, LastDone: at(3 * minute), LastSuccess: at(3 * minute)},
			now:    at(20 * minute),
			ok:     false,
			reason: "stalled: no file finished for 17m0s while 28 wait (4 active)",
		},
		{
			name:   "every file fails",
			stats:  pipeline.Stats{Started: start(), Found: 40, Done: 2, Failed: 30, Active: 4, LastDone: at(19 * minute), LastSuccess: at(2 * minute)},
			now:    at(20 * minute),
			ok:     false,
			reason: "failing: no output written for 18m0s while files kept failing (2 done, 30 failed, 0 skipped; 8 wait)",
		},
		{
			name:   "failures, but successes too",
			stats:  pipeline.Stats{Started: start(), Found: 40, Done: 2, Failed: 30, Active: 4, LastDone: at(19 * minute), LastSuccess: at(10 * minute)},
			now:    at(20 * minute),
			ok:     true,
			reason: "ok: 32 of 40",
		},
		{
			// Done > 0 with no LastSuccess: a source of counters that
			// does not keep it, not every file failing.
			name:   "counters without a last success",
			stats:  pipeline.Stats{Started: start(), Found: 40, Done: 12, Active: 4, LastDone: at(19 * minute)},
			now:    at(20 * minute),
			ok:     true,
			reason: "ok: 12 of 40",
		},
		{
			name:   "stalled on Adobe's quota is still stalled",
			stats:  pipeline.Stats{Started: start(), Found: 300, Done: 88, Active: 4, LastDone: at(44 * minute), LastSuccess: at(44 * minute)},
			quota:  paused,
			now:    at(60 * minute),
			ok:     false,
			reason: "stalled: no file finished for 16m0s while 212 wait (4 active); waiting on quota: remove-background.post paused for 38s more after 429s (57 so far)",
		},
		{
			name:   "a 429 pause while files finish is worth a word",
			stats:  pipeline.Stats{Started: start(), Found: 300, Done: 88, Active: 4, LastDone: at(59 * minute), LastSuccess: at(59 * minute)},
			quota:  paused,
			now:    at(60 * minute),
			ok:     true,
			reason: "ok: 88 of 300",
			has:    "; waiting on quota: remove-background.post paused for 38s more",
		},
		{
			name:  "a long queue on a bucket is worth a word",
			stats: pipeline.Stats{Started: start(), Found: 300, Done: 88, Active: 4, LastDone: at(59 * minute), LastSuccess: at(59 * minute)},
			quota: ratelimit.Stats{ratelimit.RemoveBackgroundPost: {
				Limit: ratelimit.Limit{N: 2, Window: 3 * time.Second}, Interval: 1530 * time.Millisecond,
				Waiting: 4, LongestWait: 6 * time.Second, Rate: 1,
			}},
			now:    at(60 * minute),
			ok:     true,
			reason: "ok: 88 of 300",
			has:    "; waiting on quota: remove-background.post has 4 waiting, the longest for 6s",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opt := Options{
				Stats: func() pipeline.Stats { return tc.stats },
				Now:   func() time.Time { return tc.now },
			}
			if tc.quota != nil {
				opt.Quota = func() ratelimit.Stats { return tc.quota }
			}
			m := New(opt)
			ok, reason := m.Health()
			if ok != tc.ok || !strings.HasPrefix(reason, tc.reason) || !strings.Contains(reason, tc.has) {
				t.Errorf("Health() = %v, %q\nwant %v, %q…", ok, reason, tc.ok, tc.reason)
				if tc.has != "" {
					t.Errorf("with %q", tc.has)
				}
			}
			wantCode := http.StatusOK
			if !tc.ok {
				wantCode = http.StatusServiceUnavailable
			}
			code, body := healthz(t, m.Handler())
			if code != wantCode || body != reason {
				t.Errorf("/healthz: %d %q, want %d %q", code, body, wantCode, reason)
			}
			if got := scrape(t, m.Handler()).gauge(t, "hotfolder_healthy", nil); got != boolFloat(tc.ok) {
				t.Errorf("hotfolder_healthy = %v, want %v", got, boolFloat(tc.ok))
			}
		})
	}
}

// In watch mode a file dropped after hours of idle gets the full
// StallAfter, though the last file finished hours ago; and then a stall is
// reported in time.
func TestHealthAfterIdle(t *testing.T) {
	clk := newClock(start())
	run := &runStats{}
	m := New(Options{Stats: run.Stats, Now: clk.Now, StallAfter: 10 * time.Minute})
	check := func(when string, wantOK bool, wantReason string) {
		t.Helper()
		ok, reason := m.Health()
		if ok != wantOK || !strings.HasPrefix(reason, wantReason) {
			t.Errorf("%s: Health() = %v, %q; want %v, %q…", when, ok, reason, wantOK, wantReason)
		}
	}

	done := start().Add(time.Minute)
	run.Set(pipeline.Stats{Started: start(), Found: 5, Done: 5, LastDone: done, LastSuccess: done})
	for _, d := range []time.Duration{time.Minute, time.Hour, 3 * time.Hour} {
		// Prometheus scrapes all night; a scrape looks at health too.
		clk.Set(start().Add(d))
		if got := scrape(t, m.Handler()).gauge(t, "hotfolder_healthy", nil); got != 1 {
			t.Errorf("idle after %v: hotfolder_healthy = %v", d, got)
		}
	}

	dropped := start().Add(3*time.Hour + 30*time.Second)
	run.Set(pipeline.Stats{Started: start(), Found: 6, Done: 5, Active: 1, LastDone: done, LastSuccess: done})
	clk.Set(dropped.Add(9 * time.Minute))
	check("9m after a file was dropped", true, "ok: 5 of 6 files finished")
	clk.Set(start().Add(3*time.Hour + 10*time.Minute))
	check("10m after the last idle check", false, "stalled: no file finished for 10m0s while 1 wait (1 active)")
	if got := scrape(t, m.Handler()).gauge(t, "hotfolder_healthy", nil); got != 0 {
		t.Errorf("stalled: hotfolder_healthy = %v, want 0", got)
	}

	// It finishes: healthy again, and stays so while idle.
	fin := start().Add(3*time.Hour + 11*time.Minute)
	run.Set(pipeline.Stats{Started: start(), Found: 6, Done: 6, LastDone: fin, LastSuccess: fin})
	clk.Set(fin.Add(time.Hour))
	check("finished", true, "ok: idle, all 6 files finished")
}

// While the shared quota cannot be reached, nothing moves: the run is
// unhealthy at once, says why, and hotfolder_quota_shared_up is 0.
func TestHealthSharedQuota(t *testing.T) {
	clk := newClock(start())
	run := &runStats{}
	run.Set(pipeline.Stats{Started: start(), Found: 3, Active: 1})
	up, why := true, ""
	m := New(Options{Stats: run.Stats, Now: clk.Now, Shared: func() (bool, string) { return up, why }})
	if ok, reason := m.Health(); !ok {
		t.Errorf("Redis up: Health() = %v, %q", ok, reason)
	}
	if got := scrape(t, m.Handler()).gauge(t, "hotfolder_quota_shared_up", nil); got != 1 {
		t.Errorf("hotfolder_quota_shared_up = %v, want 1", got)
	}
	up, why = false, "redis 127.0.0.1:6379: connection refused for 12s"
	if ok, reason := m.Health(); ok || !strings.Contains(reason, "blocked: the shared quota cannot be reached: "+why) {
		t.Errorf("Redis down: Health() = %v, %q", ok, reason)
	}
	fams := scrape(t, m.Handler())
	if got := fams.gauge(t, "hotfolder_quota_shared_up", nil); got != 0 {
		t.Errorf("hotfolder_quota_shared_up = %v, want 0", got)
	}
	if got := fams.gauge(t, "hotfolder_healthy", nil); got != 0 {
		t.Errorf("hotfolder_healthy = %v, want 0", got)
	}
}
