package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hotfolder/ratelimit"
)

// runCollector reads the run's counters and the limiter's buckets at each
// scrape, once each, so every value of one scrape comes from one snapshot.
type runCollector struct {
	m *Metrics

	found, finished, failedEarlier, active, pending, resumed *prometheus.Desc
	copies, postsSaved                                       *prometheus.Desc
	uploaded, downloaded                                     *prometheus.Desc
	started, lastFinished, lastSuccess, healthy              *prometheus.Desc

	limit, rate, waiting, longestWait, pause, waited, throttled *prometheus.Desc
	sharedUp                                                    *prometheus.Desc
}

func newRunCollector(m *Metrics) *runCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &runCollector{
		m:             m,
		found:         d("hotfolder_files_found_total", "Input files handed on by the watcher this run; grows in watch mode as files are dropped in."),
		finished:      d("hotfolder_files_finished_total", "Input files that reached an end state this run, by outcome: done (output written), failed, or skipped (done or failed in an earlier run, or output already up to date).", "outcome"),
		failedEarlier: d("hotfolder_files_failed_earlier_total", "Of the skipped files, those that failed in an earlier run (-retry-failed takes them again)."),
		active:        d("hotfolder_files_active", "Input files a worker is processing now."),
		pending:       d("hotfolder_files_pending", "Input files found but not yet taken by a worker (found - finished - active)."),
		resumed:       d("hotfolder_jobs_resumed_total", "Jobs submitted by an earlier, interrupted run that this run polled instead of paying for them again."),
		copies:        d("hotfolder_files_copied_total", "Of the done files, those whose outputs are copies of another input's with the same content and settings (content dedupe): no job was paid for them."),
		postsSaved:    d("hotfolder_posts_saved_total", "POSTs the copies did not spend."),
		uploaded:      d("hotfolder_uploaded_bytes_total", "Bytes of input files uploaded to storage."),
		downloaded:    d("hotfolder_downloaded_bytes_total", "Bytes of results downloaded from Adobe."),
		started:       d("hotfolder_run_start_timestamp_seconds", "When the run began, in Unix seconds; 0 until it has."),
		lastFinished:  d("hotfolder_last_finished_timestamp_seconds", "When an input file last finished, done or failed, in Unix seconds; 0 if none has yet."),
		lastSuccess:   d("hotfolder_last_success_timestamp_seconds", "When an output was last written, in Unix seconds; 0 if none has been yet."),
		healthy:       d("hotfolder_healthy", "1 while /healthz answers 200; 0 while files wait and none finished (stalled) or none succeeded (failing) for the stall threshold."),

		limit:       d("hotfolder_quota_limit_requests_per_second", "Adobe's request limit on the bucket as configured (-limits, -limit), in requests per second.", "bucket"),
		rate:        d("hotfolder_quota_rate_ratio", "Share of the bucket's limit hotfolder allows itself now: 1, or less while it slows down after 429s.", "bucket"),
		waiting:     d("hotfolder_quota_waiting", "Workers blocked waiting for the bucket's next request slot.", "bucket"),
		longestWait: d("hotfolder_quota_longest_wait_seconds", "How long the longest-waiting worker on the bucket has waited so far; 0 if none waits.", "bucket"),
		pause:       d("hotfolder_quota_pause_remaining_seconds", "What is left of the bucket's pause after a 429 (Too Many Requests); 0 if it is not paused.", "bucket"),
		waited:      d("hotfolder_quota_wait_seconds_total", "Time workers spent waiting for request slots on the bucket, summed over the waits that ended.", "bucket"),
		throttled:   d("hotfolder_quota_throttled_total", "429 (Too Many Requests) answers on the bucket: Adobe's quota was exceeded, by hotfolder or by another client of the organization.", "bucket"),
		sharedUp:    d("hotfolder_quota_shared_up", "1 while the quota shared with other hotfolders (-redis) can be reached; 0 while it cannot, and no request is sent. Absent without -redis."),
	}
}

// Describe implements [prometheus.Collector].
func (c *runCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.found, c.finished, c.failedEarlier, c.active, c.pending, c.resumed, c.copies, c.postsSaved,
		c.uploaded, c.downloaded, c.started, c.lastFinished, c.lastSuccess, c.healthy,
		c.limit, c.rate, c.waiting, c.longestWait, c.pause, c.waited, c.throttled, c.sharedUp,
	} {
		ch <- d
	}
}

// Collect implements [prometheus.Collector].
func (c *runCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.stats()
	q := c.m.quotaStats()
	now := c.m.now()

	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}

	counter(c.found, float64(s.Found))
	counter(c.finished, float64(s.Done), "done")
	counter(c.finished, float64(s.Failed), "failed")
	counter(c.finished, float64(s.Skipped), "skipped")
	counter(c.failedEarlier, float64(s.FailedEarlier))
	gauge(c.active, float64(s.Active))
	gauge(c.pending, float64(pending(s.Found, s.Finished(), s.Active)))
	counter(c.resumed, float64(s.Resumed))
	counter(c.copies, float64(s.Copies))
	counter(c.postsSaved, float64(s.PostsSaved))
	counter(c.uploaded, float64(s.Uploaded))
	counter(c.downloaded, float64(s.Downloaded))
	gauge(c.started, unixSeconds(s.Started))
	gauge(c.lastFinished, unixSeconds(s.LastDone))
	gauge(c.lastSuccess, unixSeconds(s.LastSuccess))
	ok, _ := c.m.health(s, q, now)
	gauge(c.healthy, boolFloat(ok))
	if c.m.shared != nil {
		up, _ := c.m.shared()
		gauge(c.sharedUp, boolFloat(up))
	}

	for b, bs := range q {
		l := string(b)
		perSecond := 0.0
		if bs.Limit.Window > 0 {
			perSecond = float64(bs.Limit.N) / bs.Limit.Window.Seconds()
		}
		gauge(c.limit, perSecond, l)
		gauge(c.rate, bs.Rate, l)
		gauge(c.waiting, float64(bs.Waiting), l)
		gauge(c.longestWait, bs.LongestWait.Seconds(), l)
		gauge(c.pause, pauseLeft(bs, now).Seconds(), l)
		counter(c.waited, bs.Waited.Seconds(), l)
		counter(c.throttled, float64(bs.Throttles), l)
	}
}

// pending is the files found but neither finished nor active. The counters
// are read one by one while files move on, so the difference may briefly
// be negative; it is never reported so.
func pending(found, finished, active int64) int64 {
	return max(0, found-finished-active)
}

// pauseLeft is what remains of bs's 429 pause at now; 0 if none.
func pauseLeft(bs ratelimit.BucketStats, now time.Time) time.Duration {
	if bs.PausedUntil.IsZero() {
		return 0
	}
	return max(0, bs.PausedUntil.Sub(now))
}

// unixSeconds is t in Unix seconds, 0 for the zero time ("never").
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
