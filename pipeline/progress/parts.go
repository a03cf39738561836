package progress

import (
	"fmt"
	"io"
	"strings"
	"time"

	"hotfolder/pipeline"
)

// Part is one share of a run's counters: a workflow's, with -config.
type Part struct {
	Name  string
	Stats pipeline.Stats
}

// partLines are the stats lines of parts, one each: "stats[NAME]: …".
func partLines(parts []Part, now time.Time) []byte {
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "stats[%s]: %s\n", p.Name, join(statsFields(p.Stats, now, false, 0, false)))
	}
	return []byte(b.String())
}

// WriteParts writes one line per part of a finished run, after its
// summary: "  NAME: 5 done, 1 skipped, 0 failed of 6 files".
func WriteParts(w io.Writer, parts []Part) {
	var b strings.Builder
	for _, p := range parts {
		s := p.Stats
		fmt.Fprintf(&b, "  %s: %d done, %d skipped, %d failed of %d files\n", p.Name, s.Done, s.Skipped, s.Failed, s.Found)
	}
	_, _ = io.WriteString(w, b.String())
}
