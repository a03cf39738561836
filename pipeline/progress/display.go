package progress

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"hotfolder/pipeline"
)

// Default intervals per mode.
const (
	DefaultBarInterval   = 200 * time.Millisecond
	DefaultLinesInterval = time.Minute
)

// maxPending bounds a log line held back while waiting for its newline.
const maxPending = 64 << 10

// Options configures a [Display]. Stats is required unless the mode is
// "none"; every other field has a default.
type Options struct {
	// Stats returns a snapshot of the counters. The display calls it from its
	// own goroutine, once per Interval and once at Stop, so it must be safe
	// to call concurrently with the pipeline (an atomic snapshot).
	Stats func() pipeline.Stats
	// Quota, if set, reports whether workers are waiting on the API quota;
	// the display then shows "waiting on quota". Called like Stats.
	Quota func() bool
	// Parts, if set, breaks the counters down (by workflow, with -config):
	// in lines mode each stats line is followed by one per part,
	// "stats[NAME]: …". Called like Stats.
	Parts func() []Part
	// Interval is the period of the stats line in lines mode (default 1m).
	Interval time.Duration
	// Redraw is the redraw rate of the bar (default 200ms). It is a field of
	// its own because the two differ by orders of magnitude: a bar redrawn
	// at the stats interval would look frozen.
	Redraw time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Display owns the progress output (a terminal or a log stream).
//
// It is an io.Writer, safe for concurrent use: each complete line written to
// it appears whole, above the bar in bar mode, so point the log handler at it.
// While the display runs, a partial line is held until its newline arrives
// (or Stop), so writers sharing it should each write whole lines, as slog
// handlers do.
//
// Start begins drawing. Stop draws the final state (bar mode leaves the last
// frame on screen and moves to a new line; lines mode prints a final stats
// line) and returns once nothing more will be drawn; without a Start it
// draws nothing. Extra calls of either do nothing. Write keeps working before
// Start and after Stop, passing bytes straight through, so the summary and
// late log lines can go to the same Display.
type Display interface {
	io.Writer
	Start()
	Stop()
}

type mode int

const (
	modeNone mode = iota
	modeLines
	modeBar
)

func (m mode) String() string {
	return [...]string{"none", "lines", "bar"}[m]
}

// New returns a Display writing to w (normally os.Stderr). mode is "auto"
// (or ""), "bar", "lines" or "none"; see the package documentation.
func New(w io.Writer, mode string, opt Options) (Display, error) {
	if w == nil {
		return nil, errors.New("progress: nil writer")
	}
	var m = modeNone
	switch mode {
	case "auto", "":
		m = modeLines
		if IsTerminal(w) && termCanRedraw(os.Getenv("TERM")) {
			m = modeBar
		}
	case "bar":
		m = modeBar
	case "lines":
		m = modeLines
	case "none":
	default:
		return nil, fmt.Errorf("progress: unknown mode %q (want auto, bar, lines or none)", mode)
	}
	if m != modeNone && opt.Stats == nil {
		return nil, fmt.Errorf("progress: %s mode needs a Stats function", m)
	}
	d := &display{
		w:        w,
		mode:     m,
		stats:    opt.Stats,
		quota:    opt.Quota,
		parts:    opt.Parts,
		now:      opt.Now,
		interval: opt.Interval,
		cols:     func() int { return termCols(w) },
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if d.quota == nil {
		d.quota = func() bool { return false }
	}
	if d.now == nil {
		d.now = time.Now
	}
	if m == modeBar {
		d.interval = opt.Redraw
		if d.interval <= 0 {
			d.interval = DefaultBarInterval
		}
	} else if d.interval <= 0 {
		d.interval = DefaultLinesInterval
	}
	return d, nil
}

// IsTerminal reports whether w is a terminal (an *os.File, or anything with
// an Fd method, whose descriptor is a TTY).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// termCanRedraw is restic's rule: a terminal with TERM unset or "dumb" (an
// editor's shell buffer, some CI consoles) gets plain lines.
func termCanRedraw(term string) bool {
	return term != "" && term != "dumb"
}

// termCols is w's terminal width, or -1 when unknown.
func termCols(w io.Writer) int {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return -1
	}
	c, _, err := term.GetSize(int(f.Fd()))
	if err != nil || c <= 0 {
		return -1
	}
	return c
}

type display struct {
	w        io.Writer
	mode     mode
	stats    func() pipeline.Stats
	quota    func() bool
	parts    func() []Part
	now      func() time.Time
	interval time.Duration
	cols     func() int // terminal width, -1 when unknown

	// Test hooks: ticks replaces the ticker; tickDone runs after the first
	// draw and after each tick.
	ticks    <-chan time.Time
	tickDone func()

	mu      sync.Mutex // serializes every write to w
	running bool       // between Start and the final draw: Write holds partial lines
	stopped bool       // Stop was called: Start does nothing
	pending []byte     // a partial log line waiting for its newline
	shown   bool       // bar mode: a frame is on the current line
	frame   frame      // bar mode: the frame on screen, redrawn after log lines

	// Owned by the run goroutine.
	rate rateWindow
	last linesKey // lines mode: counters at the last printed line

	startOnce, stopOnce sync.Once
	stop, done          chan struct{}
}

// Start begins drawing in a goroutine of its own.
func (d *display) Start() {
	if d.mode == modeNone {
		return
	}
	d.startOnce.Do(func() {
		d.mu.Lock()
		if d.stopped {
			d.mu.Unlock()
			return
		}
		d.running = true
		d.mu.Unlock()
		go d.run()
	})
}

// Stop draws the final state (the last bar frame, left on screen, or the
// final stats line) and returns when the display's goroutine has exited.
func (d *display) Stop() {
	d.stopOnce.Do(func() {
		d.mu.Lock()
		d.stopped = true
		running := d.running
		d.mu.Unlock()
		if running {
			close(d.stop)
			<-d.done
		}
	})
}

// Write prints log lines. While the display runs, complete lines are written
// at once (in bar mode: bar cleared, lines, bar redrawn) and a trailing
// partial line waits for the rest.
func (d *display) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.running { // nothing drawn: pass through (pending is empty here)
		return d.w.Write(p)
	}

	d.pending = append(d.pending, p...)
	i := bytes.LastIndexByte(d.pending, '\n')
	if i < 0 && len(d.pending) < maxPending {
		return len(p), nil
	}
	var out []byte
	if i < 0 { // an endless line: print it rather than hold it forever
		out = append(d.takePending(), '\n')
	} else {
		out = bytes.Clone(d.pending[:i+1])
		d.pending = append(d.pending[:0], d.pending[i+1:]...)
	}
	err := d.writeAboveBar(out)
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (d *display) takePending() []byte {
	p := d.pending
	d.pending = nil
	return p
}

// writeAboveBar writes complete lines; in bar mode it clears the frame first
// and redraws it after. progressbar's own Clear cannot be used: a frame drawn
// at 100% is rendered without recording its width, and Clear then erases
// nothing. Callers hold d.mu.
func (d *display) writeAboveBar(lines []byte) error {
	if d.shown {
		lines = append([]byte(clearLine), lines...)
	}
	_, err := d.w.Write(lines)
	if d.shown {
		d.frame.render(d.w)
	}
	return err
}

// clearLine returns to column 0 and erases the line.
const clearLine = "\r\x1b[2K"

func (d *display) run() {
	defer close(d.done)
	ticks := d.ticks
	if ticks == nil {
		t := time.NewTicker(d.interval)
		defer t.Stop()
		ticks = t.C
	}
	d.update(phaseStart)
	if d.tickDone != nil {
		d.tickDone()
	}
	for {
		select {
		case <-ticks:
			d.update(phaseTick)
			if d.tickDone != nil {
				d.tickDone()
			}
		case <-d.stop:
			d.update(phaseFinal)
			return
		}
	}
}

type phase int

const (
	phaseStart phase = iota
	phaseTick
	phaseFinal
)

// linesKey is what "something changed" means for lines mode: the counters
// and the quota flag, not the clock.
type linesKey struct {
	found, skipped, active, done, failed, up, down int64
	quota                                          bool
}

// update takes a snapshot (outside the lock: Stats may be slow, or log) and
// draws it.
func (d *display) update(ph phase) {
	s := d.stats()
	q := d.quota()
	now := d.now()
	busy := s.Found > s.Finished() || s.Active > 0
	perMin, ok := d.rate.observe(now, s.Done+s.Failed, busy)
	fs := statsFields(s, now, q, perMin, ok)

	switch d.mode {
	case modeLines:
		key := linesKey{s.Found, s.Skipped, s.Active, s.Done, s.Failed, s.Uploaded, s.Downloaded, q}
		changed := key != d.last
		d.last = key
		if ph == phaseStart || (ph == phaseTick && !changed) {
			return
		}
		line := []byte("stats: " + join(fs) + "\n")
		if d.parts != nil {
			line = append(line, partLines(d.parts(), now)...)
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if ph == phaseFinal {
			d.finishLocked()
		}
		_, _ = d.w.Write(line)

	case modeBar:
		f := newFrame(s, fs, d.cols())
		d.mu.Lock()
		defer d.mu.Unlock()
		if ph == phaseFinal {
			d.finishLocked()
		}
		d.frame = f
		f.render(d.w)
		d.shown = true
		if ph == phaseFinal {
			// Leave the final frame on screen; later output starts below it.
			_, _ = io.WriteString(d.w, "\n")
			d.shown = false
		}
	}
}

// finishLocked ends line buffering before the final draw: a partial log line
// is printed with a newline so the final output starts on a line of its own.
func (d *display) finishLocked() {
	if len(d.pending) > 0 {
		_ = d.writeAboveBar(append(d.takePending(), '\n'))
	}
	d.running = false
}
