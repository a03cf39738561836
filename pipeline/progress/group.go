package progress

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"hotfolder/ratelimit/redisquota"
)

// WriteGroup prints the quota an organization's hotfolders share through
// Redis, as hotfolder status -redis does:
//
//	quota group org-3f2a…: 2 hotfolders alive, 412 POSTs today (2026-12-06, cap 20000)
//	  studio-a pid 4121, /srv/hot → /srv/done, v1.4.0, up 3h12m, seen 2s ago
//	  remove-background.post: 39 grants in the last minute, rate 100%
//	  remove-background.post: paused for 4s more after a 429
//
// Write errors are ignored, as in WriteSummary.
func WriteGroup(w io.Writer, st redisquota.Status, now time.Time) {
	var b strings.Builder
	fmt.Fprintf(&b, "quota group %s: %d hotfolder%s alive, %d POSTs today (%s", st.Group, len(st.Processes),
		plural(len(st.Processes)), st.PostsToday, st.Day)
	if st.DailyCap > 0 {
		fmt.Fprintf(&b, ", cap %d", st.DailyCap)
	}
	b.WriteString(")\n")
	for _, p := range st.Processes {
		fmt.Fprintf(&b, "  %s pid %d, %s → %s, %s, up %s, seen %s ago\n", p.Host, p.PID, oneLine(p.In), oneLine(p.Out),
			p.Version, formatDuration(now.Sub(p.Started)), formatDuration(max(0, now.Sub(p.Seen))))
	}
	for _, name := range slices.Sorted(maps.Keys(st.Buckets)) {
		bs := st.Buckets[name]
		fmt.Fprintf(&b, "  %s: %d grants in the last minute, rate %.0f%%\n", name, bs.GrantsLastMinute, 100*bs.Rate)
		if left := bs.PausedUntil.Sub(now); left > 0 {
			fmt.Fprintf(&b, "  %s: paused for %s more after a 429\n", name, formatDuration(left))
		}
	}
	_, _ = io.WriteString(w, b.String())
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
