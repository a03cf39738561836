package metrics

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"hotfolder/pipeline"
	"hotfolder/ratelimit"
)

// Health reports whether the run is making progress, with a one-line
// reason starting with "ok", "starting", "stalled", "failing" or
// "blocked" (the shared quota, Options.Shared, cannot be reached).
//
// While files wait (found > finished, active ones included) the run is
// stalled once none has finished, done or failed, for Options.StallAfter,
// and failing once files finish but none succeeded for that long. The clock
// starts no earlier than the run's start and the last time Health (or a
// scrape) saw nothing waiting, so new work after an idle spell gets the
// full StallAfter. Waiting on Adobe's quota does not make a stall healthy;
// the reason says so when it is the case. Before the run starts, and while
// nothing waits, it is healthy.
func (m *Metrics) Health() (ok bool, reason string) {
	return m.health(m.stats(), m.quotaStats(), m.now())
}

func (m *Metrics) health(s pipeline.Stats, q ratelimit.Stats, now time.Time) (bool, string) {
	if m.shared != nil {
		if ok, why := m.shared(); !ok {
			// No request may be sent without a grant from the shared
			// limiter: nothing moves until it is back.
			return false, "blocked: the shared quota cannot be reached: " + why
		}
	}
	if s.Started.IsZero() {
		return true, "starting: the run has not begun"
	}
	fin := s.Finished()
	waiting := s.Found - fin
	m.mu.Lock()
	if waiting <= 0 && now.After(m.idleSeen) {
		m.idleSeen = now
	}
	idleSeen := m.idleSeen
	m.mu.Unlock()

	counts := fmt.Sprintf("%d done, %d failed, %d skipped", s.Done, s.Failed, s.Skipped)
	if waiting <= 0 {
		if s.Found == 0 {
			return true, "ok: idle, no files yet"
		}
		return true, fmt.Sprintf("ok: idle, all %d files finished (%s)", s.Found, counts)
	}

	since := later(s.Started, idleSeen)
	quota := quotaNote(q, now)
	if d := now.Sub(later(since, s.LastDone)); d >= m.stallAfter {
		return false, fmt.Sprintf("stalled: no file finished for %s while %d wait (%d active)%s",
			d.Round(time.Second), waiting, s.Active, quota)
	}
	// A source of counters that does not keep LastSuccess is not failing.
	if d := now.Sub(later(since, s.LastSuccess)); d >= m.stallAfter && (s.Done == 0 || !s.LastSuccess.IsZero()) {
		return false, fmt.Sprintf("failing: no output written for %s while files kept failing (%s; %d wait)%s",
			d.Round(time.Second), counts, waiting, quota)
	}
	last := "none finished yet"
	if !s.LastDone.IsZero() {
		last = "last finished " + max(0, now.Sub(s.LastDone)).Round(time.Second).String() + " ago"
	}
	return true, fmt.Sprintf("ok: %d of %d files finished (%s), %d active, %d pending; %s%s",
		fin, s.Found, counts, s.Active, pending(s.Found, fin, s.Active), last, quota)
}

// quotaNote tells which buckets hold workers up: a 429 pause, or a queue
// longer than ordinary pacing (see [ratelimit.BucketStats.WaitingOnQuota]).
// It is empty when none does.
func quotaNote(q ratelimit.Stats, now time.Time) string {
	var notes []string
	for _, b := range slices.Sorted(maps.Keys(q)) {
		bs := q[b]
		switch left := pauseLeft(bs, now); {
		case left > 0:
			notes = append(notes, fmt.Sprintf("%s paused for %s more after 429s (%d so far)",
				b, left.Round(time.Second), bs.Throttles))
		case bs.WaitingOnQuota():
			notes = append(notes, fmt.Sprintf("%s has %d waiting, the longest for %s",
				b, bs.Waiting, bs.LongestWait.Round(time.Second)))
		}
	}
	if len(notes) == 0 {
		return ""
	}
	return "; waiting on quota: " + strings.Join(notes, ", ")
}

// serveHealth answers 200 when healthy, else 503, with the reason as one
// line of plain text.
func (m *Metrics) serveHealth(w http.ResponseWriter, _ *http.Request) {
	ok, reason := m.Health()
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = io.WriteString(w, reason+"\n")
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
