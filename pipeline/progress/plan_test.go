package progress

import (
	"strings"
	"testing"
	"time"

	"hotfolder/pipeline"
	"hotfolder/ratelimit"
)

func TestWritePlan(t *testing.T) {
	plan := pipeline.Plan{
		Posts: map[ratelimit.Bucket]int{ratelimit.RemoveBackgroundPost: 2, ratelimit.Post: 3},
		Files: []pipeline.Planned{
			{Rel: "shoes/red.jpg", Outputs: []string{"shoes/red.png", "shoes/red-2048.jpg"}, Action: pipeline.PlanProcess},
			{Rel: "bags/a.jpg", Outputs: []string{"bags/a.png", "bags/a-2048.jpg"}, Action: pipeline.PlanResume, Step: 1},
			{Rel: "bags/b.jpg", Outputs: []string{"bags/b.png", "bags/b-2048.jpg"}, Action: pipeline.PlanResume, Poll: true},
			{Rel: "hats/b.jpg", Outputs: []string{"hats/b.png"}, Action: pipeline.PlanDone},
			{Rel: "c.jpg", Outputs: []string{"c.png"}, Action: pipeline.PlanFailed, Reason: "submit: HTTP 400"},
			{Rel: "notes.jpg", Outputs: []string{"notes.png"}, Action: pipeline.PlanRejected, Reason: "validate: the file is empty"},
		}}
	var b strings.Builder
	WritePlan(&b, plan, ratelimit.Soft(), 3060*time.Millisecond)
	want := "process  shoes/red.jpg -> shoes/red.png, shoes/red-2048.jpg\n" +
		"resume   bags/a.jpg -> bags/a.png, bags/a-2048.jpg (from step 2: the steps before are done)\n" +
		"resume   bags/b.jpg -> bags/b.png, bags/b-2048.jpg (poll the job of step 1 an earlier run submitted)\n" +
		"skip     hats/b.jpg: done earlier\n" +
		"skip     c.jpg: failed earlier (submit: HTTP 400); -retry-failed takes it again\n" +
		"reject   notes.jpg: validate: the file is empty\n" +
		"dry run: 1 to process, 2 to resume, 1 done earlier, 1 failed earlier, 1 rejected locally.\n" +
		"POSTs: 3 on post (15 per 3s), 2 on remove-background.post (2 per 3s). At the limits that takes about 3s, plus the last jobs' own time. Nothing was sent and nothing written.\n"
	if got := b.String(); got != want {
		t.Errorf("WritePlan =\n%s\nwant\n%s", got, want)
	}
}
