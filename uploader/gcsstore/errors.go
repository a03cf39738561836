package gcsstore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
)

// Error is a failed storage operation. It is fatal (the run stops) when no
// other file could succeed either: rejected or missing credentials, no
// access, no such bucket. Any other failure belongs to one file.
type Error struct {
	Op     string // config, check, put, presign or delete
	Bucket string
	Key    string // storage key, if any
	Status int    // HTTP status, if GCS answered
	Err    error  // the client library's error

	fatal bool
	hint  string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "gcs: %s gs://%s", e.Op, e.Bucket)
	if e.Key != "" {
		b.WriteString("/" + e.Key)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Fatal reports whether the error stops the whole run.
func (e *Error) Fatal() bool { return e.fatal }

// Hint says what to do about the error.
func (e *Error) Hint() string { return e.hint }

const credsHint = "set GOOGLE_APPLICATION_CREDENTIALS to a service account key file (or run as a service account) " +
	"that may create, read and delete objects in the bucket (roles/storage.objectUser)"

// wrap turns a client library error into an *Error, deciding whether it
// is fatal.
func (s *Store) wrap(op, key string, err error) *Error {
	e := &Error{Op: op, Bucket: s.bucket, Key: key, Err: err}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		e.Status = ge.Code
	}
	switch {
	case errors.Is(err, storage.ErrBucketNotExist) || (op == "check" && e.Status == http.StatusNotFound):
		e.fatal, e.hint = true, fmt.Sprintf("bucket %q does not exist: create it or fix -storage", s.bucket)
	case e.Status == http.StatusUnauthorized:
		e.fatal, e.hint = true, "Google Cloud Storage rejected the credentials: "+credsHint
	case e.Status == http.StatusForbidden:
		e.fatal, e.hint = true, "the credentials may not use this bucket: "+credsHint
	case e.Status == 0 && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
		e.hint = "Google Cloud Storage could not be reached: check the network (and -gcs-endpoint)"
	}
	return e
}
