package s3store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Error is a failed storage operation. It is fatal (the run stops) when no
// other file could succeed either: rejected or missing credentials, no
// access, no such bucket. Any other failure belongs to one file.
type Error struct {
	Op      string // config, check, put, presign or delete
	Bucket  string
	Key     string // storage key, if any
	Code    string // S3 error code, e.g. AccessDenied
	Status  int    // HTTP status, if S3 answered
	Message string // S3's message, if any
	Err     error  // the SDK's error

	fatal bool
	hint  string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "s3: %s s3://%s", e.Op, e.Bucket)
	if e.Key != "" {
		b.WriteString("/" + e.Key)
	}
	b.WriteString(": ")
	if e.Code == "" {
		// No S3 answer: the SDK's message says what happened.
		b.WriteString(e.Err.Error())
		return b.String()
	}
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Fatal reports whether the error stops the whole run.
func (e *Error) Fatal() bool { return e.fatal }

// Hint says what to do about the error.
func (e *Error) Hint() string { return e.hint }

// credentialsError marks a failure to get AWS credentials at all.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }

// markedCredentials wraps the SDK's credentials provider so that failing to
// find credentials can be told from other errors without reading strings.
type markedCredentials struct{ aws.CredentialsProvider }

func (m markedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := m.CredentialsProvider.Retrieve(ctx)
	if err != nil && ctx.Err() == nil {
		return c, &credentialsError{err}
	}
	return c, err
}

const credsHint = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) to credentials that may read and write the bucket"

// wrap turns an SDK error into an *Error, deciding whether it is fatal.
func (s *Store) wrap(op, key string, err error) *Error {
	e := &Error{Op: op, Bucket: s.bucket, Key: key, Err: err}
	var ce *credentialsError
	if errors.As(err, &ce) {
		e.fatal, e.hint = true, "no AWS credentials were found: "+credsHint
		return e
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		e.Status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		e.Code, e.Message = ae.ErrorCode(), ae.ErrorMessage()
	}
	switch e.Code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired",
		"AuthorizationHeaderMalformed", "InvalidClientTokenId", "XAdminUserNotFound":
		e.fatal, e.hint = true, "S3 rejected the AWS credentials: "+credsHint+"; check AWS_REGION is the bucket's region"
	case "AccessDenied", "AllAccessDisabled", "AccountProblem":
		e.fatal, e.hint = true, "the AWS credentials may not use this bucket: allow s3:PutObject, s3:GetObject and s3:DeleteObject on it"
	case "NoSuchBucket":
		e.fatal, e.hint = true, fmt.Sprintf("bucket %q does not exist: create it or fix -storage (and -s3-endpoint)", s.bucket)
	case "PermanentRedirect", "AuthorizationQueryParametersError", "IllegalLocationConstraintException":
		e.fatal, e.hint = true, "the bucket is in another region: set AWS_REGION to the bucket's region"
	case "":
		if e.Status == 0 && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			e.hint = "the S3 endpoint could not be reached: check the network and -s3-endpoint"
		}
	}
	if e.Code == "" || e.Code == "Forbidden" || e.Code == "NotFound" || e.Code == "MovedPermanently" {
		// HEAD answers have no body, hence no code: go by the status.
		switch e.Status {
		case http.StatusForbidden:
			e.fatal, e.hint = true, "S3 refused access (HTTP 403): check the AWS credentials ("+credsHint+") and that they may use the bucket"
		case http.StatusNotFound:
			if op == "check" {
				e.fatal, e.hint = true, fmt.Sprintf("bucket %q does not exist: create it or fix -storage (and -s3-endpoint)", s.bucket)
			}
		case http.StatusMovedPermanently:
			e.fatal, e.hint = true, "the bucket is in another region: set AWS_REGION to the bucket's region"
		case http.StatusBadRequest:
			if op == "check" {
				e.fatal, e.hint = true, "S3 refused the request (HTTP 400): check AWS_REGION is the bucket's region and the credentials are right"
			}
		}
	}
	return e
}
