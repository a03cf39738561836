package progress

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"hotfolder/pipeline"
	"hotfolder/uploader"
)

// Priorities of the stats fields: when the bar's line is too narrow, the
// lowest goes first.
const (
	prioBytes = iota + 1
	prioElapsed
	prioRate
	prioETA
	prioQuota
	prioCounts
)

// field is one " | "-separated part of the stats text.
type field struct {
	text string
	prio int
}

// maxETA caps the estimate: beyond it a number means nothing, and the
// float-to-Duration conversion would overflow.
const maxETA = 999 * time.Hour

// FormatStats returns the one-line stats text for s at now, for example
//
//	18/60 files: 14 done, 3 skipped, 1 failed, 4 active | 7.5 files/min | ETA 5m36s | up 48.2 MB, down 12.1 MB | elapsed 2m00s
//
// with " | waiting on quota" appended while quotaWaiting. Skipped, failed and
// active appear only when non-zero; the rate only once a file was processed;
// the ETA only while files remain ("ETA —" while no rate is known); bytes once
// any moved. The rate is files processed (done or failed; skips cost nothing)
// per minute since s.Started. A [Display] shows the same text but with the
// rate over the last few minutes of work, so idle hours in watch mode do not
// drag the ETA out.
func FormatStats(s pipeline.Stats, now time.Time, quotaWaiting bool) string {
	perMin, ok := averageRate(s, now)
	return join(statsFields(s, now, quotaWaiting, perMin, ok))
}

// averageRate is files processed per minute since the run started.
func averageRate(s pipeline.Stats, now time.Time) (perMin float64, ok bool) {
	n := s.Done + s.Failed
	if s.Started.IsZero() || n <= 0 {
		return 0, false
	}
	el := now.Sub(s.Started)
	if el <= 0 {
		return 0, false
	}
	return float64(n) / el.Minutes(), true
}

func statsFields(s pipeline.Stats, now time.Time, quota bool, perMin float64, rateOK bool) []field {
	fin := s.Finished()
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d files: %d done", fin, s.Found, s.Done)
	if s.Skipped > 0 {
		fmt.Fprintf(&b, ", %d skipped", s.Skipped)
	}
	if s.Failed > 0 {
		fmt.Fprintf(&b, ", %d failed", s.Failed)
	}
	if s.Active > 0 {
		fmt.Fprintf(&b, ", %d active", s.Active)
	}
	fs := []field{{b.String(), prioCounts}}

	if rateOK {
		fs = append(fs, field{formatRate(perMin) + " files/min", prioRate})
	}
	if remaining := s.Found - fin; remaining > 0 && s.Halted == "" {
		eta := "ETA —"
		if rateOK && perMin > 0 {
			eta = "ETA " + formatETA(float64(remaining)/perMin)
		}
		fs = append(fs, field{eta, prioETA})
	}
	if s.Uploaded > 0 || s.Downloaded > 0 {
		fs = append(fs, field{"up " + formatBytes(s.Uploaded) + ", down " + formatBytes(s.Downloaded), prioBytes})
	}
	if !s.Started.IsZero() {
		fs = append(fs, field{"elapsed " + formatDuration(now.Sub(s.Started)), prioElapsed})
	}
	if quota {
		fs = append(fs, field{"waiting on quota", prioQuota})
	}
	if s.Halted != "" {
		fs = append(fs, field{"stopped: " + s.Halted, prioQuota})
	}
	return fs
}

func join(fs []field) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.text
	}
	return strings.Join(parts, " | ")
}

// fit joins fs into at most width runes (width < 0: no limit), dropping the
// least important fields first and cutting the last one with "…" if even the
// counts alone are too wide.
func fit(fs []field, width int) string {
	if width < 0 {
		return join(fs)
	}
	fs = slices.Clone(fs)
	s := join(fs)
	for utf8.RuneCountInString(s) > width && len(fs) > 1 {
		low := 0
		for i, f := range fs {
			if f.prio < fs[low].prio {
				low = i
			}
		}
		fs = slices.Delete(fs, low, low+1)
		s = join(fs)
	}
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	if width == 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

// formatRate prints a files-per-minute rate with one decimal while small.
func formatRate(perMin float64) string {
	if perMin < 9.95 {
		return fmt.Sprintf("%.1f", perMin)
	}
	return fmt.Sprintf("%.0f", perMin)
}

// formatETA turns minutes left into a duration, capped at maxETA.
func formatETA(minutes float64) string {
	if math.IsInf(minutes, 0) || math.IsNaN(minutes) || minutes > maxETA.Minutes() {
		return ">" + formatDuration(maxETA)
	}
	return formatDuration(time.Duration(minutes * float64(time.Minute)))
}

// formatDuration rounds d to what a person reads at a glance: "42s",
// "6m24s", "11h05m".
func formatDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int64(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int64(d/time.Minute), int64(d%time.Minute/time.Second))
	default:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%02dm", int64(d/time.Hour), int64(d%time.Hour/time.Minute))
	}
}

// formatBytes prints n in decimal units: "512 B", "48.2 MB".
func formatBytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	units := [...]string{"kB", "MB", "GB", "TB", "PB", "EB"}
	v := float64(n)
	for i, u := range units {
		v /= 1000
		// 999.95 and up would print as "1000.0"; use the next unit instead.
		if v < 999.95 || i == len(units)-1 {
			return fmt.Sprintf("%.1f %s", v, u)
		}
	}
	panic("unreachable")
}

// WriteSummary writes the end-of-run report to w in one Write:
//
//	summary: 52 done, 5 skipped, 3 failed, 4 pending of 64 files in 8m12s (6.7 files/min)
//	  transferred: up 48.2 MB, down 12.1 MB
//	  FAILED shoes/red.jpg (submit): submit: HTTP 400 validation_error: …
//	    hint: …
//
// Pending appears only when the run was stopped early, the rate only when a
// file was processed, the transfer line only when bytes moved. Failures are
// sorted by path (then stage) so two reports of the same run compare equal;
// a failure whose error chain has a Hint() string method gets a hint line.
// There are no failure lines when nothing failed. Write errors are ignored:
// there is nowhere left to report them.
func WriteSummary(w io.Writer, s pipeline.Summary, now time.Time) {
	var b strings.Builder
	fmt.Fprintf(&b, "summary: %d done, %d skipped, %d failed", s.Done, s.Skipped, s.Failed)
	if s.Pending > 0 {
		fmt.Fprintf(&b, ", %d pending", s.Pending)
	}
	fmt.Fprintf(&b, " of %d files", s.Found)
	if !s.Started.IsZero() {
		fmt.Fprintf(&b, " in %s", formatDuration(now.Sub(s.Started)))
	}
	if perMin, ok := averageRate(s.Stats, now); ok {
		fmt.Fprintf(&b, " (%s files/min)", formatRate(perMin))
	}
	b.WriteString("\n")
	if s.Halted != "" {
		fmt.Fprintf(&b, "  stopped: %s; the files left are pending, for the next run\n", s.Halted)
	}
	if s.Resumed > 0 {
		fmt.Fprintf(&b, "  resumed: %d jobs submitted by an earlier run were polled, not submitted again\n", s.Resumed)
	}
	if s.FailedEarlier > 0 {
		fmt.Fprintf(&b, "  skipped: %d files that failed in an earlier run (hotfolder status lists why; -retry-failed takes them again)\n", s.FailedEarlier)
	}
	if s.Posts > 0 || s.PostsSaved > 0 {
		fmt.Fprintf(&b, "  POSTs: %d spent", s.Posts)
		if s.PostsSaved > 0 {
			fmt.Fprintf(&b, ", %d saved by dedupe (%d files were copies of others with the same content)", s.PostsSaved, s.Copies)
		}
		b.WriteString("\n")
	}
	if pr := pipeline.Project(s.Pending, s.PerFile); pr != nil {
		fmt.Fprintf(&b, "  left: %d files, about %s at the current limits\n", pr.Pending, formatDuration(pr.Takes))
	}
	if s.Uploaded > 0 || s.Downloaded > 0 {
		fmt.Fprintf(&b, "  transferred: up %s, down %s\n", formatBytes(s.Uploaded), formatBytes(s.Downloaded))
	}

	failures := slices.Clone(s.Failures)
	slices.SortStableFunc(failures, func(a, b pipeline.Failure) int {
		return cmp.Or(strings.Compare(a.Rel, b.Rel), strings.Compare(string(a.Stage), string(b.Stage)))
	})
	for _, f := range failures {
		b.WriteString("  FAILED ")
		b.WriteString(oneLine(f.Rel))
		switch s := f.StepInfo.String(); {
		case f.Stage != "" && s != "":
			fmt.Fprintf(&b, " (%s, %s)", f.Stage, s)
		case f.Stage != "":
			fmt.Fprintf(&b, " (%s)", f.Stage)
		}
		if f.Err != nil {
			b.WriteString(": ")
			b.WriteString(indent(f.Err.Error(), "    "))
		}
		b.WriteString("\n")
		if hint := uploader.Hint(f.Err); hint != "" {
			fmt.Fprintf(&b, "    hint: %s\n", indent(hint, "      "))
		}
	}
	_, _ = io.WriteString(w, b.String())
}

// oneLine quotes a path that would otherwise break the report's layout (a
// newline in a file name is legal on Unix) or hide its bytes (a name need
// not be UTF-8).
func oneLine(s string) string { return pipeline.DisplayName(s) }

// indent keeps a multi-line message inside its failure's block.
func indent(s, prefix string) string {
	s = strings.TrimRight(s, "\n")
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}
