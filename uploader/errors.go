package uploader

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Sentinels callers branch on with errors.Is.
var (
	// ErrJobGone: Adobe no longer knows the job (its status expired, or
	// the id is wrong). The input may be submitted again.
	ErrJobGone = errors.New("job unknown to Adobe")
	// ErrJobTimeout: the job did not finish before its deadline. It may
	// still finish at Adobe; it was not resubmitted.
	ErrJobTimeout = errors.New("job not finished before its deadline (it may still finish at Adobe)")
	// ErrResultGone: the hosted result of a finished job can no longer be
	// downloaded (its presigned URL expired: 401, 403, 404 or 410). The
	// input may be submitted again.
	ErrResultGone = errors.New("hosted result expired")
)

// Operations named in errors, as their first word.
const (
	opToken    = "token"
	opSubmit   = "submit"
	opStatus   = "status"
	opDownload = "download"
)

// maxBody is how much of an error answer an [APIError] keeps.
const maxBody = 1024

// APIError is a request that got an HTTP answer other than success, after
// any retries. Its fields are safe to show: URL has no query string and no
// token or secret is ever stored.
type APIError struct {
	Op          string        // token, submit, status or download
	Method      string        // HTTP method
	URL         string        // scheme, host and path only: never the query
	StatusCode  int           // HTTP status
	Code        string        // Adobe's error code (error_code, error, code), if any
	Message     string        // Adobe's message, if any
	AccessError string        // X-Access-Error header (403): quota_exhausted, user_not_entitled, invalid_ims_scope…
	RequestID   string        // x-request-id, for Adobe support
	RetryAfter  time.Duration // Retry-After, when sent
	Body        string        // raw answer, trimmed to 1 KB
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: HTTP %d", e.Op, e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.AccessError != "" {
		b.WriteString(" (" + e.AccessError + ")")
	}
	switch {
	case e.Message != "":
		b.WriteString(": " + e.Message)
	case e.Code == "":
		if t := http.StatusText(e.StatusCode); t != "" {
			b.WriteString(" " + t)
		}
	}
	if e.StatusCode == http.StatusNotFound && e.Op != opStatus {
		fmt.Fprintf(&b, " (%s %s)", e.Method, e.URL)
	}
	return b.String()
}

// Fatal reports whether the error stops the whole run rather than one file:
// the credentials are rejected, the organization has no entitlement, scope
// or quota left, or the submit endpoint does not exist (a wrong base URL).
func (e *APIError) Fatal() bool {
	switch {
	case e.Op == opDownload:
		return false
	case e.Op == opToken:
		return e.StatusCode >= 400 && e.StatusCode < 500 && e.StatusCode != http.StatusTooManyRequests
	case e.StatusCode == http.StatusUnauthorized:
		return true // only returned after a fresh token was refused too
	case e.StatusCode == http.StatusForbidden:
		return e.Code != "unauthorized_legal_reasons"
	case e.StatusCode == http.StatusNotFound:
		return e.Op == opSubmit
	}
	return false
}

// Is makes errors.Is(err, ErrResultGone) true for a download refused as
// expired.
func (e *APIError) Is(target error) bool {
	return target == ErrResultGone && e.resultGone()
}

func (e *APIError) resultGone() bool {
	if e.Op != opDownload {
		return false
	}
	switch e.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusGone:
		return true
	}
	return false
}

// JobFailedError is a job that Adobe reports as failed. It is terminal:
// hotfolder never resubmits it, since that would spend quota again.
type JobFailedError struct {
	JobID   string
	Code    string   // Adobe's error code, if any
	Message string   // Adobe's message, if any
	Details []string // every reason Adobe gave, "code: message"
	Body    string   // raw status answer, trimmed to 1 KB
}

func (e *JobFailedError) Error() string {
	reason := detail{code: e.Code, message: e.Message}.String()
	if reason == "" {
		reason = "no reason given"
	}
	return fmt.Sprintf("job %s failed at Adobe: %s", e.JobID, reason)
}

// jobGoneError is a status answer of 404: errors.Is(err, ErrJobGone), and
// errors.As reaches the *APIError with the raw answer.
type jobGoneError struct {
	jobID string
	api   *APIError
}

func (e *jobGoneError) Error() string {
	return fmt.Sprintf("status: job %s is unknown to Adobe (%s): its status expired or it never existed",
		e.jobID, strings.TrimPrefix(e.api.Error(), opStatus+": "))
}

func (e *jobGoneError) Unwrap() []error { return []error{ErrJobGone, e.api} }

// TimeoutError is a job that had not finished by its deadline; it matches
// [ErrJobTimeout]. The job may still finish at Adobe.
type TimeoutError struct {
	JobID  string
	Waited time.Duration // since submission
	Gets   int           // status requests sent
	Last   error         // the last status request's failure, if it failed
}

func (e *TimeoutError) Error() string {
	s := fmt.Sprintf("status: job %s not finished %s after submission (%d status requests): it may still finish at Adobe",
		e.JobID, e.Waited.Round(time.Second), e.Gets)
	if e.Last != nil {
		s += "; last status error: " + e.Last.Error()
	}
	return s
}

func (e *TimeoutError) Unwrap() []error {
	if e.Last != nil {
		return []error{ErrJobTimeout, e.Last}
	}
	return []error{ErrJobTimeout}
}

// RejectedError is an input that failed the local checks: it would be
// refused by Adobe, so no request is spent on it. It is never fatal.
type RejectedError struct {
	Path       string // the input file
	Reason     string // what is wrong
	Suggestion string // what to do; returned by Hint
	Err        error  // the file system's error, when the file could not be opened or read
}

func (e *RejectedError) Error() string { return "validate: " + e.Reason }

// Unwrap returns Err, so errors.Is(err, fs.ErrPermission) tells a file
// hotfolder may not read.
func (e *RejectedError) Unwrap() error { return e.Err }

// netError is a request that got no answer (connection refused, reset,
// timed out) even after retries.
type netError struct {
	op  string
	err error
}

func (e *netError) Error() string { return e.op + ": " + e.err.Error() }

func (e *netError) Unwrap() error { return e.err }

// IsFatal reports whether err stops the whole run rather than one file:
// something in its chain has a Fatal() bool method that returns true. It
// is the project's convention, for the errors of every package.
func IsFatal(err error) bool {
	var f interface{ Fatal() bool }
	return errors.As(err, &f) && f.Fatal()
}

// Hint returns what to do about err: the hint of the first error in its
// chain with a Hint() string method, or "".
func Hint(err error) string {
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}
