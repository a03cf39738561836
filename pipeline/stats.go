package pipeline

import "time"

// Stats is a snapshot of a run's counters: what the progress display draws and
// the periodic stats line prints. Counting lives in the pipeline; drawing
// lives in package progress.
type Stats struct {
	Started time.Time // when the run began

	Found   int64 // inputs handed on by the watcher (the total grows in watch mode)
	Skipped int64 // inputs done (or failed) in an earlier run, or whose output was already up to date
	Active  int64 // inputs a worker is processing now
	Done    int64 // inputs whose output was written this run
	Failed  int64 // inputs that ended failed this run

	Uploaded   int64 // bytes uploaded to storage
	Downloaded int64 // bytes of results downloaded

	Resumed       int64 // jobs submitted by an earlier, interrupted run and picked up by this one
	FailedEarlier int64 // of Skipped: inputs that failed in an earlier run (Config.RetryFailed takes them again)

	Copies     int64         // of Done: inputs whose outputs are copies of another's with the same content (no job)
	Posts      int64         // POSTs granted this run (when Config.Quota is set)
	PostsSaved int64         // POSTs the copies did not spend
	PerFile    time.Duration // Config.PerFile: how long one more file takes at the run's limits

	LastDone    time.Time // when an input last finished (done or failed)
	LastSuccess time.Time // when an output was last written

	// Halted says why no new file is taken, when a quota the run may not
	// exceed stopped it (the POST budget, the daily cap); "" otherwise.
	Halted string
}

// Finished is the number of inputs that reached an end state this run.
func (s Stats) Finished() int64 { return s.Skipped + s.Done + s.Failed }

// Failure is one input that ended failed, with the reason.
type Failure struct {
	Rel   string // input path relative to -in
	Stage Stage  // where it failed
	StepInfo
	Err error // what went wrong; may carry a Hint() string method
}

// Summary is the outcome of a run.
type Summary struct {
	Stats
	Failures []Failure // every input that ended failed, in the order they failed
	Pending  int64     // inputs found but not finished because the run was stopped
	// Searched reports whether the source handed on everything it had to
	// find: false when the run was stopped first, e.g. a -once run stopped
	// before its files had settled (Found may then be 0 while work is
	// left).
	Searched bool
}
