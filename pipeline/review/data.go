package review

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"hotfolder/pipeline"
	"hotfolder/pipeline/journal"
)

// Data is what the page shows, as data.js and data.json carry it. Short
// JSON keys on Item: a night has tens of thousands.
type Data struct {
	Version   int64          `json:"v"` // changes whenever the data does (live polling)
	Live      bool           `json:"live"`
	Generated time.Time      `json:"generated"`
	In        string         `json:"in,omitempty"`  // input folder, for links to full-size files
	Out       string         `json:"out,omitempty"` // output folder
	Counts    Counts         `json:"counts"`
	Posts     map[string]int `json:"posts"`     // POSTs granted per quota bucket
	Throttles int64          `json:"throttles"` // 429s
	Started   time.Time      `json:"started,omitzero"`
	Elapsed   float64        `json:"elapsed_s"`  // seconds
	Rate      float64        `json:"rate_per_h"` // inputs finished per hour
	Series    Series         `json:"series"`
	Failures  []Group        `json:"failures"`
	Retry     string         `json:"retry,omitempty"` // the command that retries the failed inputs
	Items     []Item         `json:"items"`           // failed first (by group), then pending, then done
}

// Counts are the inputs by outcome. Skipped is the last run's (-1 when no
// run told): the journal does not know what a run skipped.
type Counts struct {
	Done    int   `json:"done"`
	Failed  int   `json:"failed"`
	Skipped int64 `json:"skipped"`
	Pending int   `json:"pending"`
}

// Series is the night over time, in buckets of Step seconds from Start.
type Series struct {
	Start    time.Time `json:"start,omitzero"`
	Step     int       `json:"step"`
	Finished []int     `json:"finished"` // inputs done or failed
	Posts    []int     `json:"posts"`    // POSTs granted, all buckets
}

// Group is the failures of one reason.
type Group struct {
	Stage   string `json:"stage"`
	Status  int    `json:"status,omitempty"` // HTTP status
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
	Count   int    `json:"count"`
}

// Item is one input.
type Item struct {
	Name   string `json:"n"`           // input path relative to the hot folder
	Status string `json:"s"`           // done, failed or pending
	Op     string `json:"o,omitempty"` // operation (of its last step)
	Before string `json:"b,omitempty"` // thumbnail file of the input, in thumbs/
	After  string `json:"a,omitempty"` // thumbnail file of the first output
	Output string `json:"out,omitempty"`
	More   int    `json:"m,omitempty"` // further outputs (renditions)
	Group  int    `json:"g"`           // index in Failures; -1 if not failed
	Error  string `json:"e,omitempty"` // the failure's own message, when it differs from the group's
	Time   int64  `json:"t,omitempty"` // when it ended, Unix seconds
}

// Night is what a run tells the page that the journal does not keep:
// POSTs per bucket over time, 429s, what it skipped, when it ran. A
// [Recorder] keeps it in STATE/review/night.json; a run started within
// 12 hours of the last one goes on with its night.
type Night struct {
	// The run's folders, to find its files again for thumbnails and
	// full-size views.
	In, Out, Processed, Failed string

	Started   time.Time                `json:"started,omitzero"` // the night's first run's start
	Ended     time.Time                `json:"ended,omitzero"`   // the last run's end
	Updated   time.Time                `json:"updated,omitzero"` // when this was saved
	Skipped   int64                    `json:"skipped"`
	Throttles int64                    `json:"throttles"`
	Posts     map[string]map[int64]int `json:"posts"` // bucket → start of its 10 s slot (Unix seconds) → POSTs
}

// collector turns journal records into Data.
type collector struct {
	th      thumbs
	d       Data
	groups  map[string]int
	ended   []time.Time
	missing func(r *journal.Record, it *Item) // told of results missing a thumbnail, if set
	// unhashed are the thumbnails of inputs the journal has no hash of
	// (they failed before their upload), by Rel.
	unhashed map[string]string
}

func newCollector(th thumbs) *collector {
	return &collector{th: th, groups: map[string]int{}, d: Data{Posts: map[string]int{}, Counts: Counts{Skipped: -1}}}
}

// add takes one record.
func (c *collector) add(r journal.Record) error {
	it := Item{Name: pipeline.DisplayName(r.Rel), Op: r.Op, Group: -1}
	if len(r.Outputs) > 0 {
		it.Output, it.More = r.Outputs[0], len(r.Outputs)-1
	}
	it.Before = c.th.find(r.SHA256)
	if r.SHA256 == "" {
		it.Before = c.unhashed[r.Rel]
	}
	if len(r.OutputSHA256s) > 0 {
		it.After = c.th.find(r.OutputSHA256s[0])
	}
	switch r.State {
	case journal.Done:
		it.Status = "done"
		c.d.Counts.Done++
	case journal.Failed:
		it.Status = "failed"
		c.d.Counts.Failed++
		it.Group, it.Error = c.group(r.Failure)
	default:
		it.Status = "pending"
		c.d.Counts.Pending++
	}
	if r.State == journal.Done || r.State == journal.Failed {
		it.Time = r.Updated.Unix()
		c.ended = append(c.ended, r.Updated)
	}
	if c.missing != nil && (it.Before == "" || it.After == "") {
		c.missing(&r, &it)
	}
	c.d.Items = append(c.d.Items, it)
	return nil
}

// group files failure f under its reason and returns the group's index,
// and f's message when the group's is another.
func (c *collector) group(f *journal.Failure) (int, string) {
	if f == nil {
		f = &journal.Failure{Message: "unknown"}
	}
	// Adobe's code says the reason; without one, the message does.
	key := fmt.Sprintf("%s\x00%d\x00%s", f.Stage, f.HTTPStatus, f.Code)
	if f.Code == "" {
		key += "\x00" + f.Message
	}
	i, ok := c.groups[key]
	if !ok {
		i = len(c.d.Failures)
		c.groups[key] = i
		c.d.Failures = append(c.d.Failures, Group{Stage: f.Stage, Status: f.HTTPStatus, Code: f.Code, Message: f.Message, Hint: f.Hint})
	}
	c.d.Failures[i].Count++
	if f.Message != c.d.Failures[i].Message {
		return i, f.Message
	}
	return i, ""
}

// finish orders the groups (largest first) and the items (failed by
// group, then pending, then done; by name within), and draws the series.
func (c *collector) finish(n Night, stats *pipeline.Stats, now time.Time) Data {
	d := &c.d
	order := make([]int, len(d.Failures))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(d.Failures[b].Count, d.Failures[a].Count) })
	rank := make([]int, len(order))
	groups := make([]Group, len(order))
	for r, i := range order {
		rank[i], groups[r] = r, d.Failures[i]
	}
	d.Failures = groups
	for i := range d.Items {
		if g := d.Items[i].Group; g >= 0 {
			d.Items[i].Group = rank[g]
		}
	}
	statusRank := map[string]int{"failed": 0, "pending": 1, "done": 2}
	slices.SortStableFunc(d.Items, func(a, b Item) int {
		return cmp.Or(cmp.Compare(statusRank[a.Status], statusRank[b.Status]), cmp.Compare(a.Group, b.Group), strings.Compare(a.Name, b.Name))
	})
	d.Generated = now
	c.night(n, stats, now)
	return *d
}

// night fills in what the run told: POSTs, 429s, skipped, times and the
// series; live counters (stats) win over the last saved night.
func (c *collector) night(n Night, stats *pipeline.Stats, now time.Time) {
	d := &c.d
	d.Throttles, d.Started = n.Throttles, n.Started
	end := n.Ended
	if stats != nil {
		d.Counts.Skipped = stats.Skipped
		d.Started, end = stats.Started, now
	} else if !n.Started.IsZero() {
		d.Counts.Skipped = n.Skipped
	}
	var slots []int64
	for b, per := range n.Posts {
		for at, k := range per {
			d.Posts[b] += k
			slots = append(slots, at)
		}
	}
	first, last := spanOf(c.ended, slots)
	if d.Started.IsZero() {
		d.Started = first
	}
	if end.IsZero() || end.Before(last) {
		end = last
	}
	if !d.Started.IsZero() && end.After(d.Started) {
		d.Elapsed = end.Sub(d.Started).Seconds()
		d.Rate = float64(d.Counts.Done+d.Counts.Failed) / d.Elapsed * 3600
	}
	d.Series = series(d.Started, end, c.ended, n.Posts)
}

// spanOf is the earliest and latest of the end times and POST slots.
func spanOf(ended []time.Time, slots []int64) (first, last time.Time) {
	ts := slices.Clone(ended)
	for _, at := range slots {
		ts = append(ts, time.Unix(at, 0))
	}
	if len(ts) == 0 {
		return
	}
	return slices.MinFunc(ts, time.Time.Compare), slices.MaxFunc(ts, time.Time.Compare)
}

// postSlot is how finely a Recorder counts POSTs over time.
const postSlot = 10 * time.Second

// maxBuckets bounds the chart's bars; a longer night gets wider buckets.
const maxBuckets = 120

// series counts finished inputs and POSTs per bucket from start to end.
func series(start, end time.Time, ended []time.Time, posts map[string]map[int64]int) Series {
	if start.IsZero() || !end.After(start) {
		return Series{Step: 60, Finished: []int{}, Posts: []int{}}
	}
	start = start.Truncate(postSlot)
	step := 10
	for _, s := range []int{10, 30, 60, 300, 600, 900, 1800, 3600, 7200} {
		step = s
		if end.Sub(start) < time.Duration(maxBuckets*s)*time.Second {
			break
		}
	}
	n := int(end.Sub(start)/(time.Duration(step)*time.Second)) + 1
	s := Series{Start: start, Step: step, Finished: make([]int, n), Posts: make([]int, n)}
	at := func(t time.Time) int {
		return min(n-1, max(0, int(t.Sub(start)/(time.Duration(step)*time.Second))))
	}
	for _, t := range ended {
		s.Finished[at(t)]++
	}
	for _, per := range posts {
		for t, k := range per {
			s.Posts[at(time.Unix(t, 0))] += k
		}
	}
	return s
}
