package pipeline

import (
	"errors"
	"hotfolder/uploader"
	"io/fs"
	"syscall"
)

// Hints for the fatal errors the pipeline raises itself.
const (
	outHint   = "check that -out is writable and has free space"
	stateHint = "check that the state folder (-state, default OUT/.hotfolder) is writable and has free space"
)

// fatalError is an error that stops the run instead of failing one file: the
// output or state folder cannot be written. It satisfies the project-wide
// convention (a Fatal() bool method) and carries a hint for the person
// reading it.
type fatalError struct {
	err  error
	hint string
}

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }
func (e *fatalError) Fatal() bool   { return true }
func (e *fatalError) Hint() string  { return e.hint }

// hintedError is a per-file error with a hint for the person.
type hintedError struct {
	err  error
	hint string
}

func (e *hintedError) Error() string { return e.err.Error() }
func (e *hintedError) Unwrap() error { return e.err }
func (e *hintedError) Hint() string  { return e.hint }

// isDiskError reports whether err means a folder cannot take our writes at
// all (no permission, read-only file system, no space, quota exceeded), as
// opposed to one file going wrong. Retrying the next file would fail the
// same way, so these stop the run.
func isDiskError(err error) bool {
	return errors.Is(err, fs.ErrPermission) ||
		errors.Is(err, syscall.EROFS) ||
		errors.Is(err, syscall.ENOSPC) ||
		errors.Is(err, syscall.EDQUOT)
}

// outputError marks err fatal when it is a disk error in the output folder;
// any other error stays a failure of the one file.
func outputError(err error) error {
	if err != nil && isDiskError(err) && !uploader.IsFatal(err) {
		return &fatalError{err: err, hint: outHint}
	}
	return err
}

// stateError marks err, a failure to write the state folder, fatal: without
// durable claims an output name could be given away twice.
func stateError(err error) error {
	if err == nil || uploader.IsFatal(err) {
		return err
	}
	return &fatalError{err: err, hint: stateHint}
}
