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
		Counts:      map[string]int{"done": 48213, "failed": 2, "submitted": 1, "uploaded": 1, "queued": 0},
		Failures: []pipeline.StatusFailure{
			{Input: "shoes/red.jpg", Stage: "submit", HTTPStatus: 400, Code: "InputValidationError",
				Message: "submit: HTTP 400", Hint: "check -mode", Permanent: true, Time: asOf.Add(-6 * time.Hour)},
			{Input: "a\nb.jpg", Stage: "check", Message: "validate: the file is empty"},
		},
		InFlight: []pipeline.StatusJob{
			{Input: "bags/a.jpg", State: "submitted", JobID: "urn:job:1", Submitted: asOf.Add(-3 * time.Minute), Resubmits: 1},
			{Input: "bags/b.jpg", State: "uploaded"},
		},
	}
	var b strings.Builder
	WriteStatus(&b, st, asOf.Add(10*time.Second))
	want := "state folder /srv/done/.hotfolder, as of 2026-11-28 07:02:11 (a run is going: its snapshot, 10s old)\n" +
		"  48213 done, 2 failed, 1 submitted, 1 uploaded, 0 queued\n" +
		"failed (2; -retry-failed takes them again):\n" +
		"  shoes/red.jpg (submit, HTTP 400, InputValidationError, 2026-11-28 01:02:11): submit: HTTP 400\n" +
		"    hint: check -mode\n" +
		"  \"a\\nb.jpg\" (check): validate: the file is empty\n" +
		"in flight (2; the next run picks them up where they are):\n" +
		"  bags/a.jpg: submitted 3m10s ago, job urn:job:1 (submitted again after the first job was lost)\n" +
		"  bags/b.jpg: uploaded\n"
	if got := b.String(); got != want {
		t.Errorf("WriteStatus =\n%s\nwant\n%s", got, want)
	}
}
