package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"hotfolder/pipeline"
)

// Workflow is one workflow's share of a run with -config, for the
// hotfolder_workflow_* series.
type Workflow struct {
	Name        string
	Priority    int  // 1 is the most urgent
	Running     bool // false once a reload removed it, or with -once when its folder is done
	Stats       pipeline.Stats
	Waiting     int           // its requests waiting for a POST grant now
	LongestWait time.Duration // how long the longest of them has waited
}

// workflowCollector reads Options.Workflows at each scrape.
type workflowCollector struct {
	list func() []Workflow

	found, finished, active, pending, lastSuccess, priority, running, waiting, longestWait *prometheus.Desc
}

func newWorkflowCollector(list func() []Workflow) *workflowCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"workflow"}, labels...), nil)
	}
	return &workflowCollector{
		list:        list,
		found:       d("hotfolder_workflow_files_found_total", "Input files the workflow's watcher handed on this run."),
		finished:    d("hotfolder_workflow_files_finished_total", "The workflow's input files that reached an end state this run, by outcome: done, failed or skipped.", "outcome"),
		active:      d("hotfolder_workflow_files_active", "The workflow's input files a worker is processing now."),
		pending:     d("hotfolder_workflow_files_pending", "The workflow's input files found but not yet taken by a worker."),
		lastSuccess: d("hotfolder_workflow_last_success_timestamp_seconds", "When the workflow last wrote an output, in Unix seconds; 0 if it has not yet."),
		priority:    d("hotfolder_workflow_priority", "The workflow's priority: 1 is the most urgent."),
		running:     d("hotfolder_workflow_running", "1 while the workflow runs; 0 once a reload removed it (or, with -once, its folder is done)."),
		waiting:     d("hotfolder_workflow_quota_waiting", "The workflow's requests waiting for a grant of the shared quota now."),
		longestWait: d("hotfolder_workflow_quota_longest_wait_seconds", "How long the workflow's longest-waiting request has waited for the shared quota; 0 if none waits."),
	}
}

// Describe implements [prometheus.Collector].
func (c *workflowCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.found, c.finished, c.active, c.pending, c.lastSuccess, c.priority, c.running, c.waiting, c.longestWait} {
		ch <- d
	}
}

// Collect implements [prometheus.Collector].
func (c *workflowCollector) Collect(ch chan<- prometheus.Metric) {
	put := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	}
	for _, w := range c.list() {
		s, n := w.Stats, w.Name
		put(c.found, prometheus.CounterValue, float64(s.Found), n)
		put(c.finished, prometheus.CounterValue, float64(s.Done), n, "done")
		put(c.finished, prometheus.CounterValue, float64(s.Failed), n, "failed")
		put(c.finished, prometheus.CounterValue, float64(s.Skipped), n, "skipped")
		put(c.active, prometheus.GaugeValue, float64(s.Active), n)
		put(c.pending, prometheus.GaugeValue, float64(pending(s.Found, s.Finished(), s.Active)), n)
		put(c.lastSuccess, prometheus.GaugeValue, unixSeconds(s.LastSuccess), n)
		put(c.priority, prometheus.GaugeValue, float64(w.Priority), n)
		put(c.running, prometheus.GaugeValue, boolFloat(w.Running), n)
		put(c.waiting, prometheus.GaugeValue, float64(w.Waiting), n)
		put(c.longestWait, prometheus.GaugeValue, w.LongestWait.Seconds(), n)
	}
}
