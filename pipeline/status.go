package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"hotfolder/pipeline/journal"
)

// StatusFile is the snapshot of the journal a run keeps in the state
// folder, for [ReadStatus] while the run holds the journal itself.
const StatusFile = "status.json"

// statusEvery is how often a run refreshes its status snapshot when
// something changed.
const statusEvery = 15 * time.Second

// Status is what a person checks in the morning: how many inputs are in
// each state, every failure with its reason, and the jobs in flight.
type Status struct {
	StateFolder string         `json:"state_folder"`
	AsOf        time.Time      `json:"as_of"`   // when it was read from the journal
	Running     bool           `json:"running"` // a run holds the journal: this is its latest snapshot
	Counts      map[string]int `json:"counts"`  // by journal state: queued, uploaded, submitted, done, failed
	Posts       StatusPosts    `json:"posts"`
	// Projection is what the running run has left and how long that
	// takes at its limits; nil when no run is going.
	Projection *Projection     `json:"projection,omitempty"`
	Failures   []StatusFailure `json:"failures"`
	InFlight   []StatusJob     `json:"in_flight"`
}

// StatusPosts is the quota spent and saved, over every run of the state
// folder.
type StatusPosts struct {
	Spent  int64 `json:"spent"`           // POSTs granted
	Saved  int64 `json:"saved_by_dedupe"` // POSTs not spent: inputs done as copies of others with the same content
	Copies int   `json:"copies"`          // inputs done as copies
}

// Projection is what a run has left: files found and not finished, and
// the time they take at the run's limits (the busiest POST bucket's pace,
// plus the jobs' own time for the last ones).
type Projection struct {
	Pending int64         `json:"pending"`
	PerFile time.Duration `json:"per_file_ns"`
	Takes   time.Duration `json:"takes_ns"`
}

// Project is the projection of pending files at perFile each, or nil when
// nothing is pending or the pace is unknown.
func Project(pending int64, perFile time.Duration) *Projection {
	if pending <= 0 || perFile <= 0 {
		return nil
	}
	return &Projection{Pending: pending, PerFile: perFile, Takes: time.Duration(pending) * perFile}
}

// StatusFailure is one failed input.
type StatusFailure struct {
	Input   string   `json:"input"`
	Outputs []string `json:"outputs,omitempty"`
	Stage   string   `json:"stage"`
	StepInfo
	HTTPStatus int       `json:"http_status,omitempty"`
	Code       string    `json:"code,omitempty"`
	Message    string    `json:"message"`
	Hint       string    `json:"hint,omitempty"`
	Permanent  bool      `json:"permanent"`
	Time       time.Time `json:"time"`
}

// StatusJob is one input on its way: queued, uploaded or submitted.
type StatusJob struct {
	Input   string   `json:"input"`
	Outputs []string `json:"outputs,omitempty"`
	State   string   `json:"state"`
	StepInfo
	JobID     string    `json:"job_id,omitempty"`
	Submitted time.Time `json:"submitted,omitzero"`
	Resubmits int       `json:"resubmits,omitempty"`
}

// StepInfo says where in a recipe of several steps an input is: at step
// Step (1-based) of Steps, operation Op. All are zero for a one-step
// recipe.
type StepInfo struct {
	Step  int    `json:"step,omitempty"`
	Steps int    `json:"steps,omitempty"`
	Op    string `json:"op,omitempty"`
}

// String is "step 2 of 3: composite", or "" for a one-step recipe.
func (s StepInfo) String() string {
	if s.Steps < 2 {
		return ""
	}
	if s.Op == "" {
		return fmt.Sprintf("step %d of %d", s.Step, s.Steps)
	}
	return fmt.Sprintf("step %d of %d: %s", s.Step, s.Steps, s.Op)
}

// stepInfo is where record r is in its recipe.
func stepInfo(r journal.Record) StepInfo {
	if r.Steps < 2 {
		return StepInfo{}
	}
	return StepInfo{Step: r.Step + 1, Steps: r.Steps, Op: r.Op}
}

// statusFailure is the failure of record r as status and the failure
// report show it.
func statusFailure(r journal.Record) StatusFailure {
	f := StatusFailure{Input: DisplayName(r.Rel), Outputs: r.Outputs, StepInfo: stepInfo(r)}
	if fl := r.Failure; fl != nil {
		f.Stage, f.HTTPStatus, f.Code, f.Message, f.Hint, f.Permanent, f.Time =
			fl.Stage, fl.HTTPStatus, fl.Code, fl.Message, fl.Hint, fl.Permanent, fl.Time
	}
	return f
}

// buildStatus reads the whole journal.
func buildStatus(j *journal.Journal, state string, now time.Time) (Status, error) {
	st := Status{StateFolder: state, AsOf: now, Counts: map[string]int{}}
	for _, s := range journal.States {
		st.Counts[string(s)] = 0
	}
	err := j.Each(func(r journal.Record) error {
		st.Counts[string(r.State)]++
		if r.CopyOf != "" && r.State == journal.Done {
			st.Posts.Copies++
		}
		switch r.State {
		case journal.Failed:
			st.Failures = append(st.Failures, statusFailure(r))
		case journal.Queued, journal.Uploaded, journal.Submitted:
			st.InFlight = append(st.InFlight, StatusJob{Input: DisplayName(r.Rel), Outputs: r.Outputs, State: string(r.State),
				StepInfo: stepInfo(r), JobID: r.JobID, Submitted: r.Submitted, Resubmits: r.Resubmits})
		}
		return nil
	})
	slices.SortStableFunc(st.Failures, func(a, b StatusFailure) int { return a.Time.Compare(b.Time) })
	if err != nil {
		return st, err
	}
	st.Posts.Spent, st.Posts.Saved, err = j.Totals()
	return st, err
}

// ReadStatus reads the journal in the state folder. While a run holds it
// (the journal cannot be read by two processes while one writes), it reads
// the snapshot that run keeps instead, at most statusEvery old, and says so
// with Running. It fails with an error matching fs.ErrNotExist when no run
// has used the state folder.
func ReadStatus(state string, now time.Time) (Status, error) {
	j, err := journal.Open(filepath.Join(state, JournalFile), journal.Options{ReadOnly: true})
	if err == nil {
		defer j.Close()
		return buildStatus(j, state, now)
	}
	if !errors.Is(err, journal.ErrLocked) {
		return Status{}, err
	}
	data, rerr := os.ReadFile(filepath.Join(state, StatusFile))
	if rerr != nil {
		return Status{}, fmt.Errorf("%w (and its status snapshot cannot be read: %w)", err, rerr)
	}
	var st Status
	if err := json.Unmarshal(data, &st); err != nil {
		return Status{}, fmt.Errorf("status snapshot %s: %w", filepath.Join(state, StatusFile), err)
	}
	st.Running = true
	return st, nil
}

// keepStatus refreshes the status snapshot every statusEvery while the
// journal changes, until done is closed, then once more.
func (p *Pipeline) keepStatus(done <-chan struct{}) {
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	written := int64(-1)
	write := func() {
		n := p.saves.Load()
		if n == written {
			return
		}
		if err := p.writeStatus(); err != nil {
			p.log.Warn("could not write the status snapshot", "error", err)
			return
		}
		written = n
	}
	write()
	for {
		select {
		case <-t.C:
			write()
		case <-done:
			write()
			return
		}
	}
}

// save writes r to the journal, durably, and notes the change for the
// status snapshot.
func (p *Pipeline) save(r journal.Record) error {
	err := p.j.Put(r)
	p.saves.Add(1)
	return err
}

// writeStatus writes the status snapshot atomically.
func (p *Pipeline) writeStatus() error {
	st, err := buildStatus(p.j, p.cfg.State, p.cfg.Now())
	if err != nil {
		return err
	}
	s := p.Stats()
	st.Projection = Project(s.Found-s.Finished(), s.PerFile)
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	name := filepath.Join(p.cfg.State, StatusFile)
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o666); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// FailureReportFile is the failure report's name in the state folder: one
// JSON object per line per failure, in the order they happened, across
// runs (what a log shipper or a script reads; hotfolder status shows the
// latest failure of each input from the journal).
const FailureReportFile = "failures.jsonl"

// failureReport appends failures to the failure report. It is safe for
// concurrent use.
type failureReport struct {
	name string
	mu   sync.Mutex
	f    *os.File
}

func openFailureReport(name string) (*failureReport, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
	if err != nil {
		return nil, fmt.Errorf("open failure report: %w", err)
	}
	return &failureReport{name: name, f: f}, nil
}

// add appends r's failure as one line, written whole in one write.
func (fr *failureReport) add(r journal.Record) error {
	line, err := json.Marshal(statusFailure(r))
	if err != nil {
		return err
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	_, err = fr.f.Write(append(line, '\n'))
	return err
}

func (fr *failureReport) close() error {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if fr.f == nil {
		return nil
	}
	err := fr.f.Close()
	fr.f = nil
	return err
}
