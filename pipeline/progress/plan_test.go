package progress

import (
	"strings"
	"testing"
	"time"

	"hotfolder/pipeline"
	"hotfolder/ratelimit"
)

func TestWritePlan(t *testing.T) {
	plan := pipeline.Plan{Posts: 1, Files: []pipeline.Planned{
		{Rel: "shoes/red.jpg", Output: "shoes/red.png", Action: pipeline.PlanProcess},
		{Rel: "bags/a.jpg", Output: "bags/a.png", Action: pipeline.PlanResume},
		{Rel: "hats/b.jpg", Output: "hats/b.png", Action: pipeline.PlanDone},
		{Rel: "c.jpg", Output: "c.png", Action: pipeline.PlanFailed, Reason: "submit: HTTP 400"},
		{Rel: "notes.jpg", Output: "notes.png", Action: pipeline.PlanRejected, Reason: "validate: the file is empty"},
	}}
	var b strings.Builder
	WritePlan(&b, plan, 1, ratelimit.Limit{N: 2, Window: 3 * time.Second}, 1530*time.Millisecond)
	want := "process  shoes/red.jpg -> shoes/red.png\n" +
		"resume   bags/a.jpg -> bags/a.png (poll the job an earlier run submitted)\n" +
		"skip     hats/b.jpg: done earlier\n" +
		"skip     c.jpg: failed earlier (submit: HTTP 400); -retry-failed takes it again\n" +
		"reject   notes.jpg: validate: the file is empty\n" +
		"dry run: 1 to process (1 POSTs), 1 to resume, 1 done earlier, 1 failed earlier, 1 rejected locally.\n" +
		"At 2 POSTs per 3s that takes about 2s, plus the last jobs' own time. Nothing was sent and nothing written.\n"
	if got := b.String(); got != want {
		t.Errorf("WritePlan =\n%s\nwant\n%s", got, want)
	}
}
