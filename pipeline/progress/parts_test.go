package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"hotfolder/pipeline"
)

// TestLinesModeParts: with Parts, each stats line is followed by one line
// per workflow, with its own counters.
func TestLinesModeParts(t *testing.T) {
	var out syncBuffer
	src := newSource()
	opt := src.options(0)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	opt.Parts = func() []Part {
		return []Part{
			{"cutout", pipeline.Stats{Started: start, Found: 6, Done: 4, Active: 2}},
			{"rush", pipeline.Stats{Started: start, Found: 1, Done: 1}},
		}
	}
	d := newDisplay(t, &out, "lines", opt)
	tick := startManual(d)
	src.set(func(s *pipeline.Stats, _ *bool, now *time.Time) {
		*now = now.Add(time.Minute)
		s.Found, s.Done, s.Active = 7, 5, 2
	})
	tick()
	d.Stop()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// A line at the tick, and again at Stop.
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "stats: 5/7 files") ||
		!strings.HasPrefix(lines[1], "stats[cutout]: 4/6 files: 4 done, 2 active") ||
		!strings.HasPrefix(lines[2], "stats[rush]: 1/1 files: 1 done") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestWriteParts(t *testing.T) {
	var b bytes.Buffer
	WriteParts(&b, []Part{{"web", pipeline.Stats{Found: 5, Done: 3, Skipped: 1, Failed: 1}}})
	if got, want := b.String(), "  web: 3 done, 1 skipped, 1 failed of 5 files\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
