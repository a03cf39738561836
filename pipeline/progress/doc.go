// Package progress draws a run's progress: a live bar on a terminal, periodic
// stats lines in logs, and the end-of-run summary.
//
// Counting and drawing are separate concerns. Package pipeline counts (its
// [pipeline.Stats] snapshot is the only input); this package only draws, and
// never changes what it is given. A [Display] calls the Stats function from
// its own goroutine at its own pace, so the pipeline never waits on a
// terminal.
//
// A Display owns its output stream. It is also an io.Writer: point the log
// handler at it, and log lines come out whole, never torn by a redraw. The
// modes, chosen by [New]:
//
//   - "bar": one progressbar/v3 bar on the last line, redrawn every Redraw
//     (200ms by default). A log line clears the bar, is printed, and the bar is redrawn
//     below it. Only for terminals: it writes \r and ANSI escapes.
//   - "lines": no \r and no escapes, so it suits journald, files and pipes.
//     Every Interval (1m by default) one "stats: …" line, printed only if a
//     counter moved since the previous one, and always one final line at Stop.
//   - "none": log lines pass through; no progress at all.
//   - "auto": "bar" when the writer is a terminal and TERM is set and is not
//     "dumb" (restic's rule), otherwise "lines".
//
// [FormatStats] makes the one-line stats text both modes show, and
// [WriteSummary] the end-of-run report with each failure and its hint.
package progress
