package azstore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Error is a failed storage operation. It is fatal (the run stops) when no
// other file could succeed either: rejected or missing credentials, no
// access, no such container. Any other failure belongs to one file.
type Error struct {
	Op        string // config, check, put, presign or delete
	Container string
	Key       string // storage key, if any
	Code      string // Azure error code, e.g. AuthorizationFailure
	Status    int    // HTTP status, if Azure answered
	Err       error  // the SDK's error

	fatal bool
	hint  string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "azblob: %s container %s", e.Op, e.Container)
	if e.Key != "" {
		b.WriteString(" blob " + e.Key)
	}
	b.WriteString(": ")
	if e.Code == "" && e.Status == 0 {
		b.WriteString(e.Err.Error())
		return b.String()
	}
	b.WriteString(e.Code)
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

const credsHint = "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY, " +
	"or sign in for the default Azure credential chain (az login, AZURE_CLIENT_ID…, a managed identity)"

// credentialsError marks a failure to get an Azure token at all.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }

// markedCredential wraps a token credential so that failing to get a
// token can be told from other errors without reading strings.
type markedCredential struct{ azcore.TokenCredential }

func (m markedCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	t, err := m.TokenCredential.GetToken(ctx, o)
	if err != nil && ctx.Err() == nil {
		return t, &credentialsError{err}
	}
	return t, err
}

// wrap turns an SDK error into an *Error, deciding whether it is fatal.
func (s *Store) wrap(op, key string, err error) *Error {
	e := &Error{Op: op, Container: s.container, Key: key, Err: err}
	var ce *credentialsError
	if errors.As(err, &ce) {
		e.fatal, e.hint = true, "no Azure credentials were found: "+credsHint
		return e
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			e.hint = "the Azure blob endpoint could not be reached: check the network and -azure-endpoint"
		}
		return e
	}
	e.Code, e.Status = re.ErrorCode, re.StatusCode
	switch {
	case e.Code == "AuthenticationFailed" || e.Code == "InvalidAuthenticationInfo" || e.Status == http.StatusUnauthorized:
		e.fatal, e.hint = true, "Azure rejected the credentials: "+credsHint
	case e.Code == "AuthorizationPermissionMismatch":
		e.fatal, e.hint = true, "the Azure identity may not use this container: give it the role Storage Blob Data Contributor on it"
	case e.Code == "AuthorizationFailure" || e.Code == "AccountIsDisabled":
		e.fatal, e.hint = true, "Azure refused the request: check that the key (AZURE_STORAGE_KEY or the connection string) is "+
			"the account's, or that the Azure identity has Storage Blob Data Contributor, and that the account's firewall lets this machine in"
	case e.Code == "ContainerNotFound" || (op == "check" && e.Status == http.StatusNotFound):
		e.fatal, e.hint = true, fmt.Sprintf("container %q does not exist in account %s: create it or fix -storage", s.container, s.account)
	case e.Status == http.StatusForbidden:
		e.fatal, e.hint = true, "Azure refused access (HTTP 403): "+credsHint
	}
	return e
}
