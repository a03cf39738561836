package progress

import (
	"strings"
	"testing"
	"time"

	"hotfolder/pipeline"
)

func TestWriteStatus(t *testing.T) {
	asOf := time.Date(2026, 11, 28, 7, 2, 11, 0, time.Local)
	st := pipeline.Status{
		StateFolder: "/srv/done/.hotfolder",
		AsOf:        asOf,
		Running:     true,
		Counts:      map[string]int{"done": 48213, "failed": 3, "submitted": 2, "uploaded": 1, "queued": 0},
		Failures: []pipeline.StatusFailure{
			{Input: "shoes/red.jpg", Stage: "submit", HTTPStatus: 400, Code: "InputValidationError",
				Message: "submit: HTTP 400", Hint: "check -mode", Permanent: true, Time: asOf.Add(-6 * time.Hour)},
			{Input: "a\nb.jpg", Stage: "check", Message: "validate: the file is empty"},
			{Input: "hats/c.jpg", Outputs: []string{"hats/c.jpg", "hats/c-2048.jpg"}, Stage: "process",
				StepInfo: pipeline.StepInfo{Step: 2, Steps: 3, Op: "product-crop"}, Code: "400401", Message: "job failed"},
		},
		InFlight: []pipeline.StatusJob{
			{Input: "bags/a.jpg", State: "submitted", JobID: "urn:job:1", Submitted: asOf.Add(-3 * time.Minute), Resubmits: 1},
			{Input: "bags/b.jpg", State: "uploaded"},
			{Input: "hats/d.jpg", State: "submitted", StepInfo: pipeline.StepInfo{Step: 3, Steps: 3, Op: "composite"}, JobID: "urn:job:2",
				Submitted: asOf.Add(-time.Minute)},
		},
	}
	var b strings.Builder
	WriteStatus(&b, st, asOf.Add(10*time.Second))
	want := "state folder /srv/done/.hotfolder, as of 2026-11-28 07:02:11 (a run is going: its snapshot, 10s old)\n" +
		"  48213 done, 3 failed, 2 submitted, 1 uploaded, 0 queued\n" +
		"failed (3; -retry-failed takes them again):\n" +
		"  shoes/red.jpg (submit, HTTP 400, InputValidationError, 2026-11-28 01:02:11): submit: HTTP 400\n" +
		"    hint: check -mode\n" +
		"  \"a\\nb.jpg\" (check): validate: the file is empty\n" +
		"  hats/c.jpg (process, step 2 of 3: product-crop, 400401): job failed\n" +
		"in flight (3; the next run picks them up where they are):\n" +
		"  bags/a.jpg: submitted 3m10s ago, job urn:job:1 (submitted again after the first job was lost)\n" +
		"  bags/b.jpg: uploaded\n" +
		"  hats/d.jpg: submitted 1m10s ago, step 3 of 3: composite, job urn:job:2\n"
	if got := b.String(); got != want {
		t.Errorf("WriteStatus =\n%s\nwant\n%s", got, want)
	}
}

func TestWriteStatusPostsAndProjection(t *testing.T) {
	now := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	st := pipeline.Status{StateFolder: "/s", AsOf: now, Running: true, Counts: map[string]int{"done": 60},
		Posts:      pipeline.StatusPosts{Spent: 40, Saved: 20, Copies: 20},
		Projection: pipeline.Project(300, 1530*time.Millisecond)}
	var b strings.Builder
	WriteStatus(&b, st, now)
	for _, want := range []string{
		"  POSTs: 40 spent, 20 saved by dedupe (20 inputs were copies of others with the same content)\n",
		"  left: 300 files, about 7m39s at the current limits\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}
