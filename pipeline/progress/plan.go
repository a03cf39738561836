package progress

import (
	"fmt"
	"io"
	"strings"
	"time"

	"hotfolder/pipeline"
	"hotfolder/ratelimit"
)

// WritePlan prints a dry run for a person: one line per input, then what
// it would cost, by quota bucket, at the limits given, and how long it
// would take (took):
//
//	process  shoes/red.jpg -> shoes/red.png, shoes/red-2048.jpg
//	resume   bags/a.jpg -> bags/a.png (poll the job of step 1 an earlier run submitted)
//	resume   hats/c.jpg -> hats/c.png (from step 2: the steps before are done)
//	skip     hats/b.jpg: done earlier
//	skip     c.jpg: failed earlier (submit: …); -retry-failed takes it again
//	copy     old/red.jpg -> old/red.png (the same content as shoes/red.jpg: its outputs are copied, no POST)
//	reject   notes.jpg: validate: …
//	dry run: 1 to process, 1 to resume, 1 done earlier, 1 failed earlier, 1 rejected locally, 1 copies of other inputs (no POST).
//	POSTs: 2 on remove-background.post (2 per 3s), 2 on post (15 per 3s). At the limits that takes about 2s, plus the last jobs' own time. Nothing was sent and nothing written.
//
// Write errors are ignored, as in WriteSummary.
func WritePlan(w io.Writer, plan pipeline.Plan, limits ratelimit.Profile, took time.Duration) {
	var b strings.Builder
	n := map[string]int{}
	for _, f := range plan.Files {
		n[f.Action]++
		rel := oneLine(f.Rel)
		switch {
		case f.Action == pipeline.PlanProcess:
			fmt.Fprintf(&b, "process  %s -> %s\n", rel, outputList(f.Outputs))
		case f.Action == pipeline.PlanResume && f.Poll:
			fmt.Fprintf(&b, "resume   %s -> %s (poll the job of step %d an earlier run submitted)\n", rel, outputList(f.Outputs), f.Step+1)
		case f.Action == pipeline.PlanResume:
			fmt.Fprintf(&b, "resume   %s -> %s (from step %d: the steps before are done)\n", rel, outputList(f.Outputs), f.Step+1)
		case f.Action == pipeline.PlanCopy:
			fmt.Fprintf(&b, "copy     %s -> %s (the same content as %s: its outputs are copied, no POST)\n", rel, outputList(f.Outputs), oneLine(f.Reason))
		case f.Action == pipeline.PlanDone:
			fmt.Fprintf(&b, "skip     %s: done earlier\n", rel)
		case f.Action == pipeline.PlanFailed:
			fmt.Fprintf(&b, "skip     %s: failed earlier (%s); -retry-failed takes it again\n", rel, f.Reason)
		default:
			fmt.Fprintf(&b, "reject   %s: %s\n", rel, f.Reason)
		}
	}
	fmt.Fprintf(&b, "dry run: %d to process, %d to resume, %d done earlier, %d failed earlier, %d rejected locally",
		n[pipeline.PlanProcess], n[pipeline.PlanResume], n[pipeline.PlanDone], n[pipeline.PlanFailed],
		n[pipeline.PlanRejected]+n[pipeline.PlanUnnameable])
	if n[pipeline.PlanCopy] > 0 {
		fmt.Fprintf(&b, ", %d copies of other inputs (no POST)", n[pipeline.PlanCopy])
	}
	b.WriteString(".\n")
	var costs []string
	for _, bk := range ratelimit.Buckets() {
		if posts := plan.Posts[bk]; posts > 0 {
			l := limits[bk]
			costs = append(costs, fmt.Sprintf("%d on %s (%d per %s)", posts, bk, l.N, l.Window))
		}
	}
	if len(costs) == 0 {
		costs = append(costs, "none")
	}
	fmt.Fprintf(&b, "POSTs: %s. At the limits that takes about %s, plus the last jobs' own time. Nothing was sent and nothing written.\n",
		strings.Join(costs, ", "), took.Round(time.Second))
	_, _ = io.WriteString(w, b.String())
}

// outputList is a file's outputs on one line.
func outputList(outs []string) string {
	shown := make([]string, len(outs))
	for i, o := range outs {
		shown[i] = oneLine(o)
	}
	return strings.Join(shown, ", ")
}
