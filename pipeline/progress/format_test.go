package progress

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"hotfolder/pipeline"
)

var t0 = time.Date(2025, 3, 1, 22, 0, 0, 0, time.UTC)

func TestFormatStats(t *testing.T) {
	midRun := pipeline.Stats{
		Started: t0, Found: 60, Done: 14, Skipped: 3, Failed: 1, Active: 4,
		Uploaded: 48_200_000, Downloaded: 12_100_000,
	}
	tests := []struct {
		name  string
		s     pipeline.Stats
		now   time.Time
		quota bool
		want  string
	}{
		{"zero", pipeline.Stats{}, t0, false,
			"0/0 files: 0 done"},
		{"just started", pipeline.Stats{Started: t0}, t0, false,
			"0/0 files: 0 done | elapsed 0s"},
		{"found, none processed yet: unknown ETA", pipeline.Stats{Started: t0, Found: 60, Active: 4}, t0.Add(30 * time.Second), false,
			"0/60 files: 0 done, 4 active | ETA — | elapsed 30s"},
		// 15 processed (done+failed) in 2m = 7.5/min; 60-18 = 42 left / 7.5 = 5.6m.
		{"mid-run", midRun, t0.Add(2 * time.Minute), false,
			"18/60 files: 14 done, 3 skipped, 1 failed, 4 active | 7.5 files/min | ETA 5m36s | up 48.2 MB, down 12.1 MB | elapsed 2m00s"},
		{"waiting on quota", midRun, t0.Add(2 * time.Minute), true,
			"18/60 files: 14 done, 3 skipped, 1 failed, 4 active | 7.5 files/min | ETA 5m36s | up 48.2 MB, down 12.1 MB | elapsed 2m00s | waiting on quota"},
		{"stopped by the POST budget", pipeline.Stats{Started: t0, Found: 6, Done: 2, Halted: "the POST budget of this run (-max-posts) is spent"},
			t0.Add(time.Minute), false,
			"2/6 files: 2 done | 2.0 files/min | elapsed 1m00s | stopped: the POST budget of this run (-max-posts) is spent"},
		// Skips are not work: 3 skipped in the first second must not make
		// the rate 180/min. 57 done in 83m = 0.69/min.
		{"all finished: no ETA", pipeline.Stats{Started: t0, Found: 60, Done: 57, Skipped: 3}, t0.Add(83 * time.Minute), false,
			"60/60 files: 57 done, 3 skipped | 0.7 files/min | elapsed 1h23m"},
		// 31012 in 600m = 51.69/min; 9988 left = 193.24m = 3h13m14s.
		{"large counts and bytes", pipeline.Stats{
			Started: t0, Found: 50_000, Done: 31_000, Skipped: 9_000, Failed: 12, Active: 8,
			Uploaded: 1_234_567_890_123, Downloaded: 987_654_321_000,
		}, t0.Add(10 * time.Hour), false,
			"40012/50000 files: 31000 done, 9000 skipped, 12 failed, 8 active | 52 files/min | ETA 3h13m | up 1.2 TB, down 987.7 GB | elapsed 10h00m"},
		// 1 file in 10h leaves 99999 for ~6.9 years: capped.
		{"hopeless ETA is capped", pipeline.Stats{Started: t0, Found: 100_000, Done: 1}, t0.Add(10 * time.Hour), false,
			"1/100000 files: 1 done | 0.0 files/min | ETA >999h00m | elapsed 10h00m"},
		{"only downloads", pipeline.Stats{Started: t0, Found: 1, Done: 1, Downloaded: 512}, t0.Add(time.Minute), false,
			"1/1 files: 1 done | 1.0 files/min | up 0 B, down 512 B | elapsed 1m00s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FormatStats(tt.s, tt.now, tt.quota)
			if got != tt.want {
				t.Errorf("FormatStats =\n  %q\nwant\n  %q", got, tt.want)
			}
			if strings.ContainsAny(got, "\r\n\x1b") {
				t.Errorf("FormatStats = %q: must be one plain line", got)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-5 * time.Second, "0s"},
		{0, "0s"},
		{59400 * time.Millisecond, "59s"},
		{59600 * time.Millisecond, "1m00s"},
		{2*time.Minute + 3*time.Second, "2m03s"},
		{59*time.Minute + 59*time.Second, "59m59s"},
		{time.Hour, "1h00m"},
		{11*time.Hour + 5*time.Minute + 29*time.Second, "11h05m"},
		{11*time.Hour + 5*time.Minute + 31*time.Second, "11h06m"},
		{49 * time.Hour, "49h00m"},
	}
	for _, tt := range tests {
		if got := formatDuration(tt.d); got != tt.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{999, "999 B"},
		{1000, "1.0 kB"},
		{48_249_999, "48.2 MB"},
		{999_940, "999.9 kB"},
		{999_960, "1.0 MB"}, // not "1000.0 kB"
		{12_100_000_000, "12.1 GB"},
		{1 << 62, "4.6 EB"},
	}
	for _, tt := range tests {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestFit(t *testing.T) {
	fs := statsFields(pipeline.Stats{
		Started: t0, Found: 60, Done: 14, Skipped: 3, Failed: 1, Active: 4,
		Uploaded: 48_200_000, Downloaded: 12_100_000,
	}, t0.Add(2*time.Minute), true, 7.5, true)
	full := join(fs)
	tests := []struct {
		name  string
		width int
		want  string
	}{
		{"no limit", -1, full},
		{"exactly wide enough", len([]rune(full)), full},
		{"bytes go first", 120,
			"18/60 files: 14 done, 3 skipped, 1 failed, 4 active | 7.5 files/min | ETA 5m36s | elapsed 2m00s | waiting on quota"},
		{"then elapsed", 100,
			"18/60 files: 14 done, 3 skipped, 1 failed, 4 active | 7.5 files/min | ETA 5m36s | waiting on quota"},
		{"then the rate, keeping ETA and quota", 90,
			"18/60 files: 14 done, 3 skipped, 1 failed, 4 active | ETA 5m36s | waiting on quota"},
		{"counts alone, cut", 20, "18/60 files: 14 don…"},
		{"no room", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fit(fs, tt.width)
			if got != tt.want {
				t.Errorf("fit(%d) =\n  %q\nwant\n  %q", tt.width, got, tt.want)
			}
			if tt.width >= 0 && len([]rune(got)) > tt.width {
				t.Errorf("fit(%d) is %d runes wide", tt.width, len([]rune(got)))
			}
		})
	}
}

// hintErr is an error a person can act on, like the uploader's API errors.
type hintErr struct{ msg, hint string }

func (e *hintErr) Error() string { return e.msg }
func (e *hintErr) Hint() string  { return e.hint }

func TestWriteSummary(t *testing.T) {
	tests := []struct {
		name string
		s    pipeline.Summary
		now  time.Time
		want string
	}{
		{"empty run", pipeline.Summary{}, t0,
			"summary: 0 done, 0 skipped, 0 failed of 0 files\n"},
		// 57 processed in 8m12s = 6.95/min.
		{"no failures", pipeline.Summary{Stats: pipeline.Stats{
			Started: t0, Found: 60, Done: 57, Skipped: 3, Uploaded: 48_200_000, Downloaded: 12_100_000,
		}}, t0.Add(8*time.Minute + 12*time.Second),
			"summary: 57 done, 3 skipped, 0 failed of 60 files in 8m12s (7.0 files/min)\n" +
				"  transferred: up 48.2 MB, down 12.1 MB\n"},
		{"stopped by the daily cap", pipeline.Summary{Stats: pipeline.Stats{
			Found: 10, Done: 4, Halted: "the daily POST cap (-daily-posts) is reached",
		}, Pending: 6}, t0,
			"summary: 4 done, 0 skipped, 0 failed, 6 pending of 10 files\n" +
				"  stopped: the daily POST cap (-daily-posts) is reached; the files left are pending, for the next run\n"},
		{"resumed and failed earlier", pipeline.Summary{Stats: pipeline.Stats{
			Found: 10, Done: 4, Skipped: 6, Resumed: 2, FailedEarlier: 1,
		}}, t0,
			"summary: 4 done, 6 skipped, 0 failed of 10 files\n" +
				"  resumed: 2 jobs submitted by an earlier run were polled, not submitted again\n" +
				"  skipped: 1 files that failed in an earlier run (hotfolder status lists why; -retry-failed takes them again)\n"},
		// 56 processed in 8m12s = 6.83/min; failures come out sorted by path.
		{"failures with and without hints, pending", pipeline.Summary{
			Stats: pipeline.Stats{Started: t0, Found: 64, Done: 52, Skipped: 4, Failed: 4},
			Failures: []pipeline.Failure{
				{Rel: "shoes/red.jpg", Stage: "submit", Err: fmt.Errorf("submit: %w",
					&hintErr{"HTTP 400 validation_error: image too small", "use an image at least 64x64 pixels"})},
				{Rel: "bags/blue.png", Stage: "download", Err: errors.New("download: unexpected EOF")},
				{Rel: "shoes/a.tif", Stage: "check", Err: errors.New("decode: line one\nline two\n")},
				{Rel: "hats/c.jpg", Stage: "process", StepInfo: pipeline.StepInfo{Step: 2, Steps: 3, Op: "product-crop"},
					Err: errors.New("job failed")},
			},
			Pending: 4,
		}, t0.Add(8*time.Minute + 12*time.Second),
			"summary: 52 done, 4 skipped, 4 failed, 4 pending of 64 files in 8m12s (6.8 files/min)\n" +
				"  FAILED bags/blue.png (download): download: unexpected EOF\n" +
				"  FAILED hats/c.jpg (process, step 2 of 3: product-crop): job failed\n" +
				"  FAILED shoes/a.tif (check): decode: line one\n" +
				"    line two\n" +
				"  FAILED shoes/red.jpg (submit): submit: HTTP 400 validation_error: image too small\n" +
				"    hint: use an image at least 64x64 pixels\n"},
		{"odd failures: empty hint, no stage, no error, newline in name", pipeline.Summary{
			Stats: pipeline.Stats{Found: 3, Failed: 3},
			Failures: []pipeline.Failure{
				{Rel: "b.jpg", Stage: "write", Err: &hintErr{"disk full", ""}},
				{Rel: "a.jpg"},
				{Rel: "c\n.jpg", Stage: "upload", Err: errors.New("boom")},
			},
		}, t0,
			"summary: 0 done, 0 skipped, 3 failed of 3 files\n" +
				"  FAILED a.jpg\n" +
				"  FAILED b.jpg (write): disk full\n" +
				"  FAILED \"c\\n.jpg\" (upload): boom\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := slices.Clone(tt.s.Failures)
			var b strings.Builder
			WriteSummary(&b, tt.s, tt.now)
			if got := b.String(); got != tt.want {
				t.Errorf("WriteSummary =\n%s\nwant\n%s", got, tt.want)
			}
			for i := range before {
				if tt.s.Failures[i].Rel != before[i].Rel {
					t.Fatalf("WriteSummary reordered the caller's failures")
				}
			}
		})
	}
}

// countingWriter counts Write calls.
type countingWriter struct{ calls int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.calls++
	return len(p), nil
}

// The summary is one Write, so written to a Display it cannot be split by a
// concurrent log line.
func TestWriteSummaryOneWrite(t *testing.T) {
	var w countingWriter
	WriteSummary(&w, pipeline.Summary{
		Stats:    pipeline.Stats{Found: 2, Failed: 2},
		Failures: []pipeline.Failure{{Rel: "a", Err: errors.New("x")}, {Rel: "b", Err: errors.New("y")}},
	}, t0)
	if w.calls != 1 {
		t.Errorf("WriteSummary made %d writes, want 1", w.calls)
	}
}

// The summary says what the quota bought: POSTs spent, those the copies
// saved, and, for a stopped run, what is left and how long it takes.
func TestWriteSummaryPostsAndProjection(t *testing.T) {
	now := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	s := pipeline.Summary{Stats: pipeline.Stats{Started: now.Add(-time.Hour), Found: 360, Done: 60, Copies: 20,
		Posts: 40, PostsSaved: 20, PerFile: 1530 * time.Millisecond}, Pending: 300}
	var b strings.Builder
	WriteSummary(&b, s, now)
	for _, want := range []string{
		"  POSTs: 40 spent, 20 saved by dedupe (20 files were copies of others with the same content)\n",
		"  left: 300 files, about 7m39s at the current limits\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
	b.Reset()
	WriteSummary(&b, pipeline.Summary{Stats: pipeline.Stats{Found: 1, Done: 1}}, now)
	if strings.Contains(b.String(), "POSTs") || strings.Contains(b.String(), "left:") {
		t.Errorf("POSTs or projection lines with nothing to say:\n%s", b.String())
	}
}
