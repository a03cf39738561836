package notify

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"hotfolder/pipeline"
	"hotfolder/ratelimit"
	"hotfolder/uploader"
)

// Event says why a summary was sent.
type Event string

// The events.
const (
	EventEnd      Event = "run-ended" // the run ended (-once done, or a watch run stopped)
	EventDaily    Event = "daily"     // the daily summary of a watching run (-notify-at)
	EventFailures Event = "failures"  // failures since the last summary reached -notify-failures
)

// topReasons is how many failure reasons a summary lists.
const topReasons = 5

// Summary is the JSON a webhook receives.
type Summary struct {
	// Text is one line for a person, what Slack-compatible webhooks show.
	Text  string `json:"text"`
	Event Event  `json:"event"`
	Host  string `json:"host,omitempty"`
	In    string `json:"in,omitempty"` // the hot folder
	// Since and Until bound what the counts cover: the run's start (or the
	// previous daily summary) to now.
	Since          time.Time `json:"since,omitzero"`
	Until          time.Time `json:"until"`
	Elapsed        string    `json:"elapsed"`
	ElapsedSeconds float64   `json:"elapsed_seconds"`
	Counts         Counts    `json:"counts"`
	// Posts are the POSTs (Adobe's quota) spent, by rate-limit bucket.
	Posts       map[string]int64 `json:"posts"`
	TopFailures []Reason         `json:"top_failures"`
	// Stopped says why the run took no more files or ended early, if it did.
	Stopped string `json:"stopped,omitempty"`
	// Link is the review page.
	Link string `json:"link,omitempty"`
}

// Counts are the inputs by outcome. Pending is the backlog at Until: found
// and not finished (including those in progress).
type Counts struct {
	Found   int64 `json:"found"`
	Done    int64 `json:"done"`
	Failed  int64 `json:"failed"`
	Skipped int64 `json:"skipped"`
	Pending int64 `json:"pending"`
}

// Reason is one failure reason: how many inputs failed for it, and one of
// them.
type Reason struct {
	Reason  string `json:"reason"`
	Count   int    `json:"count"`
	Example string `json:"example"`
	Hint    string `json:"hint,omitempty"`
}

// mark is the state of a run at the start of a summary's period.
type mark struct {
	at    time.Time
	stats pipeline.Stats
	fails int // failures seen by then
	posts map[ratelimit.Bucket]int64
}

// about is what every summary says of where it comes from.
type about struct {
	host, in, link string
	redact         func(string) string
}

// build makes the summary of ev over the period from m to now.
func (a about) build(ev Event, m mark, now time.Time, st pipeline.Stats, fails []pipeline.Failure,
	posts map[ratelimit.Bucket]int64) Summary {
	s := Summary{
		Event: ev, Host: a.host, In: a.in, Link: a.link, Since: m.at, Until: now,
		Counts: Counts{
			Found:   st.Found - m.stats.Found,
			Done:    st.Done - m.stats.Done,
			Failed:  st.Failed - m.stats.Failed,
			Skipped: st.Skipped - m.stats.Skipped,
			Pending: max(0, st.Found-st.Finished()),
		},
		Posts:       map[string]int64{},
		TopFailures: topFailures(fails, a.redact),
		Stopped:     a.redact(st.Halted),
	}
	if !m.at.IsZero() {
		el := now.Sub(m.at)
		s.Elapsed, s.ElapsedSeconds = el.Round(time.Second).String(), el.Seconds()
	}
	for b, n := range posts {
		if d := n - m.posts[b]; d > 0 {
			s.Posts[string(b)] = d
		}
	}
	s.Text = text(s)
	return s
}

// topFailures groups failures by reason, most frequent first.
func topFailures(fails []pipeline.Failure, redact func(string) string) []Reason {
	byReason := map[string]*Reason{}
	for _, f := range fails {
		why := reasonOf(f)
		r := byReason[why]
		if r == nil {
			r = &Reason{Reason: redact(why), Example: redact(pipeline.DisplayName(f.Rel)), Hint: redact(uploader.Hint(f.Err))}
			byReason[why] = r
		}
		r.Count++
	}
	rs := make([]Reason, 0, len(byReason))
	for _, k := range slices.Sorted(maps.Keys(byReason)) {
		rs = append(rs, *byReason[k])
	}
	slices.SortStableFunc(rs, func(a, b Reason) int { return cmp.Compare(b.Count, a.Count) })
	return rs[:min(len(rs), topReasons)]
}

// reasonOf is why f failed, in words that are the same for every input
// that failed the same way: the API's code or status rather than its
// whole answer, the innermost error rather than one naming the file.
func reasonOf(f pipeline.Failure) string {
	var (
		rej *uploader.RejectedError
		jf  *uploader.JobFailedError
		ae  *uploader.APIError
		why string
	)
	switch {
	case f.Err == nil:
		why = "unknown error"
	case errors.As(f.Err, &rej):
		why = rej.Reason
	case errors.As(f.Err, &jf):
		why = "job failed: " + cmp.Or(jf.Code, jf.Message, "no reason given")
	case errors.As(f.Err, &ae):
		why = strings.TrimSpace(fmt.Sprintf("HTTP %d %s", ae.StatusCode, ae.Code))
	default:
		why = innermost(f.Err).Error()
	}
	if f.Stage == "" {
		return why
	}
	return string(f.Stage) + ": " + why
}

// innermost follows err's chain of single wraps to its end.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// text is s as one line for a person.
func text(s Summary) string {
	var b strings.Builder
	b.WriteString("hotfolder")
	if s.Host != "" {
		b.WriteString(" on " + s.Host)
	}
	switch s.Event {
	case EventEnd:
		b.WriteString(": run ended")
		if s.Elapsed != "" { // a run that never started has no start
			b.WriteString(" after " + s.Elapsed)
		}
	case EventDaily:
		fmt.Fprintf(&b, ", daily summary for the last %s", s.Elapsed)
	case EventFailures:
		fmt.Fprintf(&b, ": %d files failed in the last %s", s.Counts.Failed, s.Elapsed)
	}
	c := s.Counts
	fmt.Fprintf(&b, ": %d done, %d failed, %d skipped", c.Done, c.Failed, c.Skipped)
	if c.Pending > 0 {
		fmt.Fprintf(&b, ", %d pending", c.Pending)
	}
	b.WriteString(".")
	if s.Stopped != "" {
		fmt.Fprintf(&b, " Stopped: %s.", s.Stopped)
	}
	if len(s.TopFailures) > 0 {
		r := s.TopFailures[0]
		fmt.Fprintf(&b, " Top failure: %s (%d, e.g. %s).", r.Reason, r.Count, r.Example)
	}
	if s.Link != "" {
		b.WriteString(" Review: " + s.Link)
	}
	return b.String()
}
