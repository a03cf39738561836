package pipeline

import (
	"errors"
	"io/fs"
	"time"

	"hotfolder/pipeline/journal"
	"hotfolder/uploader"
)

// Stage is where on its way a file failed.
type Stage string

// The stages of a file's way, in order (see file.go).
const (
	StageCheck    Stage = "check"    // the local checks: the input, and where its output goes
	StageUpload   Stage = "upload"   // putting the input where the API can fetch it
	StageSubmit   Stage = "submit"   // starting the job (the POST)
	StageProcess  Stage = "process"  // the job, polled until it ends
	StageDownload Stage = "download" // fetching the job's result
	StageWrite    Stage = "write"    // the output, the journal and the claims on disk
)

// stageError is a file's failure, with the stage it happened in.
type stageError struct {
	stage Stage
	err   error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// at marks err as having happened at stage, unless it already names a
// stage (the first one to fail is the one that counts); nil stays nil.
func at(stage Stage, err error) error {
	if err == nil || stageOf(err) != "" {
		return err
	}
	return &stageError{stage: stage, err: err}
}

// stageOf is the stage err happened at, or "" if it names none.
func stageOf(err error) Stage {
	var se *stageError
	if errors.As(err, &se) {
		return se.stage
	}
	return ""
}

// unreadableBefore reports whether r failed only because its file could not
// be read: that is retried whenever the file turns up again.
func unreadableBefore(r journal.Record) bool {
	return r.Failure != nil && Stage(r.Failure.Stage) == StageCheck && !r.Failure.Permanent
}

// failureOf is err, a failure at stage, as the journal keeps it.
func failureOf(stage Stage, err error, now time.Time) *journal.Failure {
	fl := &journal.Failure{Stage: string(stage), Message: err.Error(), Hint: uploader.Hint(err), Time: now}
	var (
		ae  *uploader.APIError
		jf  *uploader.JobFailedError
		rej *uploader.RejectedError
	)
	switch {
	case errors.As(err, &rej):
		fl.Permanent = true
	case errors.As(err, &jf):
		fl.Code, fl.Permanent = jf.Code, true
	case errors.As(err, &ae):
		fl.HTTPStatus, fl.Code = ae.StatusCode, ae.Code
		fl.Permanent = ae.StatusCode >= 400 && ae.StatusCode < 500 && ae.StatusCode != 429
	}
	if stage == StageCheck && (errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, errOutputPath)) {
		// Fixed by a chmod, putting it back or mending -out, which leaves
		// the input's size and time alone: the next sighting must try
		// again, not skip it.
		fl.Permanent = false
	}
	return fl
}
