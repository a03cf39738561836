package progress

import (
	"fmt"
	"io"
	"strings"
	"time"

	"hotfolder/pipeline"
	"hotfolder/pipeline/journal"
)

// WriteStatus prints st for a person, as hotfolder status does:
//
//	state folder /srv/done/.hotfolder, as of 2026-11-28 07:02:11
//	  48213 done, 12 failed, 3 submitted, 1 uploaded, 0 queued
//	  POSTs: 46102 spent, 2111 saved by dedupe (2111 inputs were copies of others with the same content)
//	  left: 1740 files, about 44m at the current limits
//	failed (12):
//	  shoes/red.jpg (submit, HTTP 400 InputValidationError, 01:12:09): …
//	    hint: …
//	in flight (4):
//	  bags/a.jpg: submitted 3m ago, job urn:…
//
// Write errors are ignored, as in WriteSummary.
func WriteStatus(w io.Writer, st pipeline.Status, now time.Time) {
	var b strings.Builder
	fmt.Fprintf(&b, "state folder %s, as of %s", st.StateFolder, st.AsOf.Local().Format(time.DateTime))
	if st.Running {
		fmt.Fprintf(&b, " (a run is going: its snapshot, %s old)", formatDuration(now.Sub(st.AsOf)))
	}
	b.WriteString("\n ")
	order := []journal.State{journal.Done, journal.Failed, journal.Submitted, journal.Uploaded, journal.Queued}
	for i, s := range order {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %d %s", st.Counts[string(s)], s)
	}
	b.WriteString("\n")
	if ps := st.Posts; ps.Spent > 0 || ps.Saved > 0 {
		fmt.Fprintf(&b, "  POSTs: %d spent", ps.Spent)
		if ps.Saved > 0 {
			fmt.Fprintf(&b, ", %d saved by dedupe (%d inputs were copies of others with the same content)", ps.Saved, ps.Copies)
		}
		b.WriteString("\n")
	}
	if pr := st.Projection; pr != nil {
		fmt.Fprintf(&b, "  left: %d files, about %s at the current limits\n", pr.Pending, formatDuration(pr.Takes))
	}
	if len(st.Failures) > 0 {
		fmt.Fprintf(&b, "failed (%d; -retry-failed takes them again):\n", len(st.Failures))
	}
	for _, f := range st.Failures {
		var what []string
		if f.Stage != "" {
			what = append(what, f.Stage)
		}
		if s := f.StepInfo.String(); s != "" {
			what = append(what, s)
		}
		if f.HTTPStatus != 0 {
			what = append(what, fmt.Sprintf("HTTP %d", f.HTTPStatus))
		}
		if f.Code != "" {
			what = append(what, f.Code)
		}
		if !f.Time.IsZero() {
			what = append(what, f.Time.Local().Format(time.DateTime))
		}
		fmt.Fprintf(&b, "  %s (%s): %s\n", oneLine(f.Input), strings.Join(what, ", "), indent(f.Message, "    "))
		if f.Hint != "" {
			fmt.Fprintf(&b, "    hint: %s\n", indent(f.Hint, "      "))
		}
	}
	if len(st.InFlight) > 0 {
		fmt.Fprintf(&b, "in flight (%d; the next run picks them up where they are):\n", len(st.InFlight))
	}
	for _, j := range st.InFlight {
		fmt.Fprintf(&b, "  %s: %s", oneLine(j.Input), j.State)
		if !j.Submitted.IsZero() {
			fmt.Fprintf(&b, " %s ago", formatDuration(now.Sub(j.Submitted)))
		}
		if s := j.StepInfo.String(); s != "" {
			fmt.Fprintf(&b, ", %s", s)
		}
		if j.JobID != "" {
			fmt.Fprintf(&b, ", job %s", j.JobID)
		}
		if j.Resubmits > 0 {
			fmt.Fprintf(&b, " (submitted again after the first job was lost)")
		}
		b.WriteString("\n")
	}
	_, _ = io.WriteString(w, b.String())
}
