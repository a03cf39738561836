package progress

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"hotfolder/pipeline"
)

// syncBuffer lets a test read what a running display has written so far.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// source is a pipeline stand-in: stats, quota and a clock the test moves.
type source struct {
	mu    sync.Mutex
	s     pipeline.Stats
	quota bool
	now   time.Time
	calls int
	each  func(*pipeline.Stats) // if set, runs on every Stats call
}

func newSource() *source {
	return &source{s: pipeline.Stats{Started: t0}, now: t0}
}

func (src *source) set(f func(s *pipeline.Stats, quota *bool, now *time.Time)) {
	src.mu.Lock()
	defer src.mu.Unlock()
	f(&src.s, &src.quota, &src.now)
}

func (src *source) options(interval time.Duration) Options {
	return Options{
		Stats: func() pipeline.Stats {
			src.mu.Lock()
			defer src.mu.Unlock()
			src.calls++
			if src.each != nil {
				src.each(&src.s)
			}
			return src.s
		},
		Quota: func() bool {
			src.mu.Lock()
			defer src.mu.Unlock()
			return src.quota
		},
		Now: func() time.Time {
			src.mu.Lock()
			defer src.mu.Unlock()
			return src.now
		},
		Interval: interval,
		Redraw:   interval,
	}
}

func newDisplay(t *testing.T, w io.Writer, mode string, opt Options) *display {
	t.Helper()
	d, err := New(w, mode, opt)
	if err != nil {
		t.Fatalf("New(%q): %v", mode, err)
	}
	return d.(*display)
}

// startManual starts d with a tick the test fires; it returns once the
// display has drawn its first state, and tick returns once the display has
// handled the tick.
func startManual(d *display) (tick func()) {
	ticks := make(chan time.Time)
	handled := make(chan struct{})
	d.ticks = ticks
	d.tickDone = func() { handled <- struct{}{} }
	d.Start()
	<-handled
	return func() {
		ticks <- time.Time{}
		<-handled
	}
}

// screen replays out the way a terminal would (\r, \n, "erase line" and
// "erase to end of line") and returns the lines left on screen, the last one
// being the cursor's. Remnants of an overwritten bar show up here exactly as
// they would for a person.
func screen(t *testing.T, out string) []string {
	t.Helper()
	var lines []string
	var cur []rune
	col := 0
	rs := []rune(out)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '\r':
			col = 0
		case '\n':
			lines = append(lines, string(cur))
			cur, col = nil, 0
		case '\x1b':
			if i+1 >= len(rs) || rs[i+1] != '[' {
				t.Fatalf("output has an escape that is not CSI at %d: %q", i, out)
			}
			j := i + 2
			for j < len(rs) && (rs[j] >= '0' && rs[j] <= '9' || rs[j] == ';') {
				j++
			}
			if j >= len(rs) {
				t.Fatalf("truncated escape at %d", i)
			}
			switch param := string(rs[i+2 : j]); {
			case rs[j] == 'K' && (param == "" || param == "0"):
				cur = cur[:min(col, len(cur))]
			case rs[j] == 'K' && param == "2":
				cur = []rune(strings.Repeat(" ", col))
			default:
				t.Fatalf("unexpected escape %q", string(rs[i:j+1]))
			}
			i = j
		default:
			for len(cur) < col {
				cur = append(cur, ' ')
			}
			if col < len(cur) {
				cur[col] = r
			} else {
				cur = append(cur, r)
			}
			col++
		}
	}
	return append(lines, string(cur))
}

func TestNewModes(t *testing.T) {
	t.Setenv("TERM", "xterm-256color") // only the writer can rule out the bar
	file, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()

	stats := newSource().options(0)
	tests := []struct {
		name     string
		w        io.Writer
		mode     string
		opt      Options
		want     mode
		interval time.Duration
		wantErr  bool
	}{
		{"auto on a buffer", &bytes.Buffer{}, "auto", stats, modeLines, DefaultLinesInterval, false},
		{"auto on a regular file", file, "auto", stats, modeLines, DefaultLinesInterval, false},
		{"auto on a pipe", pw, "auto", stats, modeLines, DefaultLinesInterval, false},
		{"empty means auto", &bytes.Buffer{}, "", stats, modeLines, DefaultLinesInterval, false},
		{"forced bar", &bytes.Buffer{}, "bar", stats, modeBar, DefaultBarInterval, false},
		{"lines", &bytes.Buffer{}, "lines", stats, modeLines, DefaultLinesInterval, false},
		{"none needs no stats", &bytes.Buffer{}, "none", Options{}, modeNone, DefaultLinesInterval, false},
		{"redraw kept", &bytes.Buffer{}, "bar", Options{Stats: stats.Stats, Redraw: time.Second}, modeBar, time.Second, false},
		{"bar ignores the stats interval", &bytes.Buffer{}, "bar", Options{Stats: stats.Stats, Interval: time.Minute}, modeBar, DefaultBarInterval, false},
		{"lines interval kept", &bytes.Buffer{}, "lines", Options{Stats: stats.Stats, Interval: 5 * time.Second, Redraw: time.Second}, modeLines, 5 * time.Second, false},
		{"unknown mode", &bytes.Buffer{}, "fancy", stats, 0, 0, true},
		{"lines without stats", &bytes.Buffer{}, "lines", Options{}, 0, 0, true},
		{"nil writer", nil, "none", Options{}, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.w, tt.mode, tt.opt)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("New(%q) succeeded, want an error", tt.mode)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q): %v", tt.mode, err)
			}
			if got := d.(*display); got.mode != tt.want || got.interval != tt.interval {
				t.Errorf("New(%q) = %v mode every %v, want %v every %v", tt.mode, got.mode, got.interval, tt.want, tt.interval)
			}
		})
	}
}

func TestTermCanRedraw(t *testing.T) {
	for term, want := range map[string]bool{"": false, "dumb": false, "xterm-256color": true, "screen": true} {
		if got := termCanRedraw(term); got != want {
			t.Errorf("termCanRedraw(%q) = %v, want %v", term, got, want)
		}
	}
}

func TestIsTerminal(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	for name, w := range map[string]io.Writer{"file": file, "pipe": pw, "buffer": &bytes.Buffer{}} {
		if IsTerminal(w) {
			t.Errorf("IsTerminal(%s) = true", name)
		}
	}
}

// A log file or journald gets lines only: no \r and no escapes, however much
// is logged and however often the display ticks.
func TestAutoOnFileNeverRedraws(t *testing.T) {
	t.Setenv("TERM", "xterm-256color")
	path := filepath.Join(t.TempDir(), "hotfolder.log")
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()

	src := newSource()
	const ticks = 30
	enough := make(chan struct{})
	src.each = func(s *pipeline.Stats) { // every snapshot differs
		s.Found += 2
		s.Done++
		s.Active = s.Found - s.Done
		if s.Found == 2*ticks {
			close(enough)
		}
	}
	d := newDisplay(t, file, "auto", src.options(time.Millisecond))
	d.Start()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				fmt.Fprintf(d, "level=INFO msg=\"processed\" worker=%d file=%d\n", g, i)
			}
		})
	}
	wg.Wait()
	<-enough
	d.Stop()

	out, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.IndexAny(out, "\r\x1b"); i >= 0 {
		t.Fatalf("lines mode wrote a control byte at %d: %q", i, out[max(0, i-40):min(len(out), i+40)])
	}
	var logs, stats int
	for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "level=INFO msg=\"processed\" worker="):
			logs++
		case strings.HasPrefix(l, "stats: "):
			stats++
		default:
			t.Errorf("torn or unexpected line %q", l)
		}
	}
	if logs != 400 || stats < ticks {
		t.Errorf("got %d log lines and %d stats lines, want 400 and at least %d", logs, stats, ticks)
	}
}

// Lines mode, tick by tick: a line only when a counter moved, log lines
// unchanged and never torn, one final line at Stop.
func TestLinesMode(t *testing.T) {
	var out syncBuffer
	src := newSource()
	d := newDisplay(t, &out, "lines", src.options(0))
	tick := startManual(d)
	advance := func(f func(s *pipeline.Stats, quota *bool)) {
		src.set(func(s *pipeline.Stats, quota *bool, now *time.Time) {
			*now = now.Add(time.Minute)
			if f != nil {
				f(s, quota)
			}
		})
	}

	advance(nil)
	tick() // nothing happened since Start: no line
	fmt.Fprint(d, "log 1\n")
	advance(func(s *pipeline.Stats, _ *bool) { s.Found, s.Active = 10, 2 })
	tick()
	advance(nil)
	tick() // only the clock moved: no line
	fmt.Fprint(d, "part")
	advance(func(s *pipeline.Stats, _ *bool) { s.Done = 3 })
	tick()
	fmt.Fprint(d, "ial\n")
	advance(func(_ *pipeline.Stats, quota *bool) { *quota = true })
	tick()
	fmt.Fprint(d, "pending")
	src.set(func(s *pipeline.Stats, quota *bool, now *time.Time) {
		*now = now.Add(30 * time.Second)
		s.Done, s.Active, *quota = 10, 0, false
	})
	d.Stop()
	fmt.Fprint(d, "after stop\n")

	// Work began between the looks at 1m and 2m, so it counts from 1m:
	// at 4m, 3 files in 3m of work = 1.0/min, 7 left; at 5m, 3 in 4m; at
	// the end, 10 in 4m30s = 2.2/min.
	want := "log 1\n" +
		"stats: 0/10 files: 0 done, 2 active | ETA — | elapsed 2m00s\n" +
		"stats: 3/10 files: 3 done, 2 active | 1.0 files/min | ETA 7m00s | elapsed 4m00s\n" +
		"partial\n" +
		"stats: 3/10 files: 3 done, 2 active | 0.8 files/min | ETA 9m20s | elapsed 5m00s | waiting on quota\n" +
		"pending\n" +
		"stats: 10/10 files: 10 done | 2.2 files/min | elapsed 5m30s\n" +
		"after stop\n"
	if got := out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

// With a real ticker: every tick whose snapshot changed prints, exactly.
func TestLinesModeRealInterval(t *testing.T) {
	var out syncBuffer
	src := newSource()
	enough := make(chan struct{})
	src.each = func(s *pipeline.Stats) {
		s.Found++
		if s.Found == 5 {
			close(enough)
		}
	}
	d := newDisplay(t, &out, "lines", src.options(20*time.Millisecond))
	d.Start()
	<-enough
	d.Stop()

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	src.mu.Lock()
	calls := src.calls
	src.mu.Unlock()
	// The snapshot at Start is the baseline; every later one changed.
	if len(lines) != calls-1 {
		t.Errorf("%d stats lines from %d snapshots, want %d:\n%s", len(lines), calls, calls-1, out.String())
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, fmt.Sprintf("stats: 0/%d files: 0 done", calls)) {
		t.Errorf("final line %q does not show the last snapshot (%d found)", last, calls)
	}
}

func TestNoneMode(t *testing.T) {
	var out syncBuffer
	d := newDisplay(t, &out, "none", Options{})
	d.Start()
	fmt.Fprint(d, "one\n")
	fmt.Fprint(d, "tw")
	fmt.Fprint(d, "o\n")
	d.Stop()
	if got, want := out.String(), "one\ntwo\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestBarMode(t *testing.T) {
	var out syncBuffer
	src := newSource()
	src.set(func(s *pipeline.Stats, _ *bool, _ *time.Time) { s.Found, s.Active = 4, 2 })
	d := newDisplay(t, &out, "bar", src.options(0))

	fmt.Fprint(d, "before start\n") // no bar yet: passes through
	if got := out.String(); got != "before start\n" {
		t.Fatalf("before Start: %q", got)
	}
	tick := startManual(d)
	// The frame drawn at Start is on the cursor's line.
	if sc := screen(t, out.String()); !strings.HasPrefix(sc[len(sc)-1], "   0% |") {
		t.Fatalf("no bar after Start: %q", sc)
	}

	fmt.Fprint(d, "level=WARN msg=\"retrying\" file=shoes/red.jpg\n")
	src.set(func(s *pipeline.Stats, quota *bool, now *time.Time) {
		s.Done, *quota, *now = 1, true, now.Add(time.Minute)
	})
	tick()
	sc := screen(t, out.String())
	if got, want := strings.TrimRight(sc[len(sc)-1], " "), "  25% |██████                   |  1/4 files: 1 done, 2 active | 1.0 files/min | ETA 3m00s | elapsed 1m00s | waiting on quota"; got != want {
		t.Errorf("bar line\n  %q\nwant\n  %q", got, want)
	}

	// All found so far is finished: 100%. A watch-mode batch then grows the
	// total, and the bar must come back from 100% (progressbar alone would
	// stay latched at "finished").
	src.set(func(s *pipeline.Stats, quota *bool, _ *time.Time) { s.Done, s.Active, *quota = 4, 0, false })
	tick()
	if sc := screen(t, out.String()); !strings.HasPrefix(sc[len(sc)-1], " 100% |") {
		t.Errorf("all finished, bar line %q", sc[len(sc)-1])
	}
	src.set(func(s *pipeline.Stats, _ *bool, _ *time.Time) { s.Found, s.Active = 8, 1 })
	tick()
	if sc := screen(t, out.String()); !strings.HasPrefix(sc[len(sc)-1], "  50% |") {
		t.Errorf("total grew to 8, bar line %q", sc[len(sc)-1])
	}

	fmt.Fprint(d, "level=INFO msg=\"a partial")
	src.set(func(s *pipeline.Stats, _ *bool, now *time.Time) { s.Done, s.Active, *now = 8, 0, now.Add(time.Minute) })
	d.Stop()
	fmt.Fprint(d, "after stop\n")

	raw := out.String()
	wantScreen := []string{
		"before start",
		"level=WARN msg=\"retrying\" file=shoes/red.jpg",
		"level=INFO msg=\"a partial", // flushed whole at Stop
		" 100% |█████████████████████████|  8/8 files: 8 done | 4.0 files/min | elapsed 2m00s",
		"after stop",
		"",
	}
	sc = screen(t, raw)
	for i := range sc {
		sc[i] = strings.TrimRight(sc[i], " ")
	}
	if strings.Join(sc, "\n") != strings.Join(wantScreen, "\n") {
		t.Errorf("screen:\n%s\nwant:\n%s\nraw: %q", strings.Join(sc, "\n"), strings.Join(wantScreen, "\n"), raw)
	}
	if !strings.HasSuffix(raw, "\x1b[0K\nafter stop\n") {
		t.Errorf("the final frame must end its line before later output; raw tail %q", raw[max(0, len(raw)-60):])
	}
}

// The line never reaches the last column, so the terminal never wraps it and
// \r always returns to the bar's own line.
func TestBarFitsTerminal(t *testing.T) {
	for _, cols := range []int{20, 40, 80, 132} {
		var out syncBuffer
		src := newSource()
		src.set(func(s *pipeline.Stats, quota *bool, now *time.Time) {
			*s = pipeline.Stats{Started: t0, Found: 50_000, Done: 31_000, Skipped: 9_000, Failed: 12, Active: 8,
				Uploaded: 1_234_567_890_123, Downloaded: 987_654_321_000}
			*quota, *now = true, t0.Add(10*time.Hour)
		})
		d := newDisplay(t, &out, "bar", src.options(0))
		d.cols = func() int { return cols }
		startManual(d)
		d.Stop()
		sc := screen(t, out.String())
		bar := sc[len(sc)-2] // the final frame, then the empty line after it
		if w := utf8.RuneCountInString(bar); w > cols-1 {
			t.Errorf("%d columns: line is %d wide: %q", cols, w, bar)
		}
		if cols >= 80 && !strings.Contains(bar, "40012/50000 files") {
			t.Errorf("%d columns: counts dropped: %q", cols, bar)
		}
		if cols >= 132 && !strings.Contains(bar, "waiting on quota") {
			t.Errorf("%d columns: quota dropped: %q", cols, bar)
		}
	}
}

// Several goroutines log while the bar redraws as fast as it can: every log
// line ends up whole on its own screen line and no bar is left behind but
// the final one. Run with -race.
func TestBarConcurrentWrites(t *testing.T) {
	var out syncBuffer
	src := newSource()
	src.each = func(s *pipeline.Stats) {
		if s.Found < 1000 {
			s.Found += 3
		}
		s.Done = min(s.Done+1, s.Found)
	}
	d := newDisplay(t, &out, "bar", src.options(time.Millisecond))
	d.Start()
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				fmt.Fprintf(d, "worker %d line %d\n", g, i)
			}
		})
	}
	wg.Wait()
	d.Stop()

	sc := screen(t, out.String())
	if len(sc) != goroutines*each+2 {
		t.Fatalf("screen has %d lines, want %d log lines + final bar + empty", len(sc), goroutines*each)
	}
	seen := map[string]bool{}
	for _, l := range sc[:len(sc)-2] {
		var g, i int
		if _, err := fmt.Sscanf(l, "worker %d line %d", &g, &i); err != nil || fmt.Sprintf("worker %d line %d", g, i) != l {
			t.Fatalf("torn line %q", l)
		}
		seen[l] = true
	}
	if len(seen) != goroutines*each {
		t.Errorf("%d distinct log lines, want %d", len(seen), goroutines*each)
	}
	if final := sc[len(sc)-2]; !strings.Contains(final, "% |") || !strings.Contains(final, " files: ") {
		t.Errorf("final line is not the bar: %q", final)
	}
}

// The reported run: 20,000 tiny images at a steady 7,600 files/min, a stats
// line every 20s. The first snapshot, taken as the display starts, finds
// nothing yet (the watcher has not handed anything on), so the work begins
// between it and the first line. The rate and ETA must be the true ones
// from the first line on: the files of that first interval took its time.
// The bar shares the rate window; at its default 200ms redraw the same
// fault was 200ms short, here it is drawn every 20s to show it.
func TestRateFromTheFirstInterval(t *testing.T) {
	const (
		perMin = 7600
		total  = 20000
		every  = 20 * time.Second
	)
	for _, mode := range []string{"lines", "bar"} {
		t.Run(mode, func(t *testing.T) {
			src := newSource()
			var out syncBuffer
			d := newDisplay(t, &out, mode, src.options(every))
			tick := startManual(d) // at t0: Found 0
			for k := 1; k <= 4; k++ {
				at := time.Duration(k) * every
				src.set(func(s *pipeline.Stats, _ *bool, now *time.Time) {
					*now = t0.Add(at)
					s.Found = total
					s.Done = int64(perMin * at.Minutes())
					s.Active = 8
				})
				tick()
				got := lastRate(t, out.String())
				t.Logf("%s at %v: %s", mode, at, got)
				var done int64
				src.set(func(s *pipeline.Stats, _ *bool, _ *time.Time) { done = s.Done })
				truth := float64(done) / at.Minutes() // steady since t0
				want := fmt.Sprintf("%s files/min | ETA %s", formatRate(truth),
					formatETA(float64(total-done)/truth))
				if got != want {
					t.Errorf("%s at %v: %q, want %q", mode, at, got, want)
				}
			}
			d.Stop()
		})
	}
}

// lastRate is the rate and ETA fields of the last stats drawn, e.g.
// "7600 files/min | ETA 2m00s".
func lastRate(t *testing.T, out string) string {
	t.Helper()
	i := strings.LastIndex(out, " files: ")
	if i < 0 {
		t.Fatalf("no stats drawn yet: %q", out)
	}
	var keep []string
	for _, f := range strings.Split(out[i:], " | ") {
		if strings.HasSuffix(f, " files/min") || strings.HasPrefix(f, "ETA ") {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " | ")
}
