package progress

import (
	"io"

	"github.com/schollz/progressbar/v3"

	"hotfolder/pipeline"
)

// Bar geometry. progressbar's line, with the description at its end, is
// "\r" + "%4d%% |bar| " + " " + desc + " " + erase-to-end: barChrome columns
// besides the bar and the description.
const (
	barChrome   = 11
	minBarWidth = 10
	maxBarWidth = 25
	defBarWidth = 25
)

// frame is one bar line: Finished of Found, and the stats text.
type frame struct {
	max, val int64
	width    int // of the bar itself
	desc     string
}

// newFrame lays out s for a terminal cols wide (-1: unknown, no limit). The
// description gets what the bar leaves, minus the last column (writing into
// it makes some terminals wrap, and then \r no longer reaches the bar's line).
func newFrame(s pipeline.Stats, fs []field, cols int) frame {
	f := frame{max: max(s.Found, 0), val: min(max(s.Finished(), 0), max(s.Found, 0)), width: defBarWidth}
	budget := -1
	if cols > 0 {
		f.width = min(max(cols/6, minBarWidth), maxBarWidth, max(cols-1-barChrome, 0))
		budget = max(cols-1-barChrome-f.width, 0)
	}
	f.desc = fit(fs, budget)
	return f
}

// render writes the frame as one line (a "\r", the bar, "erase to end of
// line"), overwriting whatever the cursor's line held.
//
// Each frame uses a fresh progressbar. A progressbar latches "finished" once
// its value reaches its max and from then on ignores ChangeMax, Set and
// Describe; in watch mode the total grows again after every drained batch, so
// a long-lived bar would freeze at 100%. A fresh bar with a known max (never
// -1) starts no goroutine, and with predict/elapsed time off it keeps no
// clock we need: rate and ETA come from the pipeline's counters. The writer
// is wrapped so progressbar neither fsyncs the terminal after every frame nor
// measures it (newFrame has sized the line already).
func (f frame) render(w io.Writer) {
	bar := progressbar.NewOptions64(f.max,
		progressbar.OptionSetWriter(struct{ io.Writer }{w}),
		progressbar.OptionSetWidth(f.width),
		progressbar.OptionSetDescription(f.desc),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionSetSpinnerChangeInterval(0),
		progressbar.OptionUseANSICodes(true),
	)
	if f.max > 0 {
		// Renders when the percentage moves off 0 or the bar is full.
		_ = bar.Set64(f.val)
	}
	if bar.String() == "" {
		_ = bar.RenderBlank()
	}
}
