package metrics

import (
	"testing"
	"time"

	"hotfolder/pipeline"
)

// TestWorkflowSeries: with Options.Workflows, each workflow has its own
// series, labelled with its name; without it there are none.
func TestWorkflowSeries(t *testing.T) {
	stats := func() pipeline.Stats { return pipeline.Stats{Found: 12, Done: 7} }
	m := New(Options{Stats: stats, Workflows: func() []Workflow {
		return []Workflow{
			{Name: "cutout", Priority: 5, Running: true, Stats: pipeline.Stats{Found: 10, Done: 5, Failed: 1, Active: 2, LastSuccess: start()},
				Waiting: 2, LongestWait: 1500 * time.Millisecond},
			{Name: "rush", Priority: 1, Stats: pipeline.Stats{Found: 2, Done: 2}},
		}
	}})
	f := scrape(t, m.Handler())
	cut, rush := map[string]string{"workflow": "cutout"}, map[string]string{"workflow": "rush"}
	for _, c := range []struct {
		name   string
		got    float64
		wanted float64
	}{
		{"found cutout", f.counter(t, "hotfolder_workflow_files_found_total", cut), 10},
		{"done cutout", f.counter(t, "hotfolder_workflow_files_finished_total", map[string]string{"workflow": "cutout", "outcome": "done"}), 5},
		{"failed cutout", f.counter(t, "hotfolder_workflow_files_finished_total", map[string]string{"workflow": "cutout", "outcome": "failed"}), 1},
		{"active cutout", f.gauge(t, "hotfolder_workflow_files_active", cut), 2},
		{"pending cutout", f.gauge(t, "hotfolder_workflow_files_pending", cut), 2},
		{"last success cutout", f.gauge(t, "hotfolder_workflow_last_success_timestamp_seconds", cut), float64(start().Unix())},
		{"priority rush", f.gauge(t, "hotfolder_workflow_priority", rush), 1},
		{"running cutout", f.gauge(t, "hotfolder_workflow_running", cut), 1},
		{"running rush", f.gauge(t, "hotfolder_workflow_running", rush), 0},
		{"waiting cutout", f.gauge(t, "hotfolder_workflow_quota_waiting", cut), 2},
		{"longest wait cutout", f.gauge(t, "hotfolder_workflow_quota_longest_wait_seconds", cut), 1.5},
		{"done rush", f.counter(t, "hotfolder_workflow_files_finished_total", map[string]string{"workflow": "rush", "outcome": "done"}), 2},
	} {
		if c.got != c.wanted {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.wanted)
		}
	}
	if n := scrape(t, New(Options{Stats: stats}).Handler()).series("hotfolder_workflow_files_found_total"); n != 0 {
		t.Errorf("%d workflow series without Options.Workflows, want none", n)
	}
}
