package journal

import (
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// State is how far an input has got.
type State string

// The states of a record, in the order an input goes through them; see the
// package documentation.
const (
	Queued    State = "queued"    // taken by the run; its output name is claimed
	Uploaded  State = "uploaded"  // stored where the API can fetch it (UploadKey, SHA256)
	Submitted State = "submitted" // a job was started on it (JobID, StatusURL, Op, Submitted)
	Done      State = "done"      // its outputs are written (OutputSHA256s)
	Failed    State = "failed"    // it ended failed (Failure)
)

// States lists every state, in order; [Journal.Counts] has a key for each.
var States = [...]State{Queued, Uploaded, Submitted, Done, Failed}

// Valid reports whether s is one of [States].
func (s State) Valid() bool { return s.code() != 0 }

// code is the state's byte in the encoding; 0 for an unknown state.
func (s State) code() byte {
	for i, t := range States {
		if s == t {
			return byte(i + 1)
		}
	}
	return 0
}

// Record is one input's entry in the journal, keyed by Rel. The zero value
// is not a valid record: it needs at least Rel and State. Times are kept to
// the nanosecond and come back in the local time zone (the zero time as
// the zero time): compare them with Equal.
type Record struct {
	Rel string // input path relative to the hot folder, slash-separated: the key

	Size    int64     // the input as last seen: a different size or
	ModTime time.Time // modification time means new work (see Changed)
	SHA256  string    // the input's content hash, hex; set once uploaded ("" before)

	State         State
	Outputs       []string // output paths relative to the output folder, slash-separated, one per rendition; claimed when queued
	OutputSHA256s []string // the outputs' content hashes, hex, in the order of Outputs; set when done
	Recipe        string   // fingerprint of the recipe (operations, settings, auxiliary files) the outputs are made with

	// A recipe of several steps goes through them one after the other:
	// Step is the one the record is at (0-based), and Intermediate the
	// previous step's result, kept in the state folder (a path relative
	// to it) until the input is done, so that a stopped run goes on at
	// the step it was in and never pays again for a finished one.
	Step         int
	Steps        int // the recipe's number of steps; 0 in records from before recipes (one)
	Intermediate string

	UploadKey string // storage key of the uploaded input, for cleanup; "" once deleted

	JobID     string    // set when submitted: the job of step Step
	StatusURL string    // where the job's status is polled
	Op        string    // the operation of step Step, e.g. "remove-background" (the job's, once submitted)
	API       string    // the API the job was submitted to (its endpoint, or the emulator's identity); "" in records of format 1
	Submitted time.Time // when the job was submitted
	Resubmits int       // times the job was submitted again because Adobe no longer knew it

	Failure *Failure // why it failed; set when failed

	// CopyOf is the input whose results this one's outputs are copies of:
	// the same content through the same recipe (content dedupe), so no job
	// was paid for. "" for an input processed itself.
	CopyOf string

	Updated time.Time // when the record was last written; set by Put
}

// Failure is why an input failed, as the next run (and a status command)
// needs to know it.
type Failure struct {
	Stage      string // where it failed: a pipeline.Stage, as text
	HTTPStatus int    // the API's HTTP status, if it answered
	Code       string // the API's error code, if any
	Message    string // what went wrong
	Hint       string // what to do about it, if known
	Permanent  bool   // retrying the same input cannot succeed (the API rejected it); else a rerun may
	Time       time.Time
}

// Changed reports whether the input on disk, of the given size and
// modification time, differs from the one the record is about: it is then
// new work, whatever the record's state.
func (r Record) Changed(size int64, mod time.Time) bool {
	return r.Size != size || !r.ModTime.Equal(mod)
}

// errInvalid marks a record Put refuses; it is not fatal.
var errInvalid = errors.New("journal: invalid record")

// validRel reports whether rel can be a key: a clean, unrooted,
// slash-separated path, short enough for bbolt. Unlike fs.ValidPath it
// takes names that are not UTF-8: Unix file names are bytes.
func validRel(rel string) bool {
	if rel == "" || len(rel) > bolt.MaxKeySize || strings.IndexByte(rel, 0) >= 0 {
		return false
	}
	for elem := range strings.SplitSeq(rel, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return false
		}
	}
	return true
}

// validate checks what recovery depends on.
func (r *Record) validate() error {
	switch {
	case !validRel(r.Rel):
		return fmt.Errorf("%w: %q is not a clean path relative to the hot folder", errInvalid, r.Rel)
	case !r.State.Valid():
		return fmt.Errorf("%w: %q: unknown state %q", errInvalid, r.Rel, r.State)
	case r.State == Submitted && r.JobID == "" && r.StatusURL == "":
		return fmt.Errorf("%w: %q: submitted without a job ID or status URL", errInvalid, r.Rel)
	case r.State == Failed && r.Failure == nil:
		return fmt.Errorf("%w: %q: failed without a failure", errInvalid, r.Rel)
	}
	return nil
}
