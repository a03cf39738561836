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
// it would cost, posts POSTs under limit taking about took:
//
//	process  shoes/red.jpg -> shoes/red.png
//	resume   bags/a.jpg -> bags/a.png (poll the job an earlier run submitted)
//	skip     hats/b.jpg: done earlier
//	skip     c.jpg: failed earlier (submit: …); -retry-failed takes it again
//	reject   notes.jpg: validate: …
//	dry run: 1 to process (1 POSTs), 1 to resume, 1 done earlier, 1 failed earlier, 1 rejected locally.
//	At 2 POSTs per 3s that takes about 2s, plus the last jobs' own time. Nothing was sent and nothing written.
//
// Write errors are ignored, as in WriteSummary.
func WritePlan(w io.Writer, plan pipeline.Plan, posts int, limit ratelimit.Limit, took time.Duration) {
	var b strings.Builder
	n := map[string]int{}
	for _, f := range plan.Files {
		n[f.Action]++
		rel := oneLine(f.Rel)
		switch f.Action {
		case pipeline.PlanProcess:
			fmt.Fprintf(&b, "process  %s -> %s\n", rel, oneLine(f.Output))
		case pipeline.PlanResume:
			fmt.Fprintf(&b, "resume   %s -> %s (poll the job an earlier run submitted)\n", rel, oneLine(f.Output))
		case pipeline.PlanDone:
			fmt.Fprintf(&b, "skip     %s: done earlier\n", rel)
		case pipeline.PlanFailed:
			fmt.Fprintf(&b, "skip     %s: failed earlier (%s); -retry-failed takes it again\n", rel, f.Reason)
		default:
			fmt.Fprintf(&b, "reject   %s: %s\n", rel, f.Reason)
		}
	}
	fmt.Fprintf(&b, "dry run: %d to process (%d POSTs), %d to resume, %d done earlier, %d failed earlier, %d rejected locally.\n",
		n[pipeline.PlanProcess], posts, n[pipeline.PlanResume], n[pipeline.PlanDone], n[pipeline.PlanFailed],
		n[pipeline.PlanRejected]+n[pipeline.PlanUnnameable])
	fmt.Fprintf(&b, "At %d POSTs per %s that takes about %s, plus the last jobs' own time. Nothing was sent and nothing written.\n",
		limit.N, limit.Window, took.Round(time.Second))
	_, _ = io.WriteString(w, b.String())
}
