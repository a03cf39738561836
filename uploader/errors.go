package uploader

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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

// Hint says what to do about the error.
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

func (e *APIError) Hint() string {
	if e.resultGone() {
		return "the hosted result expired before it was downloaded (Adobe keeps results for a limited time, " +
			"about an hour): process the file again"
	}
	switch e.Op {
	case opToken:
		switch {
		case e.StatusCode == http.StatusNotFound:
			return fmt.Sprintf("no token endpoint at %s: check -ims-url (Adobe's is %s)", e.URL, DefaultIMSURL)
		case e.StatusCode >= 400 && e.StatusCode < 500:
			return "Adobe IMS rejected the credentials: check ADOBE_CLIENT_ID and ADOBE_CLIENT_SECRET " +
				"(an OAuth Server-to-Server credential from the Adobe Developer Console)"
		case e.StatusCode >= 500:
			return "Adobe IMS had trouble issuing a token; try again later"
		}
	case opDownload:
		if e.StatusCode >= 500 {
			return "the server hosting the result had trouble; process the file again later"
		}
	}
	switch e.StatusCode {
	case http.StatusBadRequest:
		if e.Op == opStatus {
			return "Adobe refused the status request (a malformed job id or status URL?); the job was not resubmitted"
		}
		return "Adobe rejected the request: check -mode, -format and -background (Adobe's raw answer is kept with the error)"
	case http.StatusUnauthorized:
		return "Adobe refused the access token even after a fresh one: check ADOBE_CLIENT_ID and ADOBE_CLIENT_SECRET, " +
			"and that the credential's project in the Adobe Developer Console includes the Photoshop API"
	case http.StatusForbidden:
		switch e.AccessError {
		case "quota_exhausted":
			return "your organization's Photoshop API quota is used up: wait until it renews or ask Adobe for more"
		case "user_not_entitled":
			return "the credential's organization is not entitled to the Photoshop API: add the API to the project " +
				"in the Adobe Developer Console, or ask your Adobe administrator about the licence"
		case "invalid_ims_scope":
			return "the access token lacks a scope the API needs: the credential must grant openid, AdobeID and " +
				"read_organizations (add the Photoshop API to the credential's project)"
		}
		if e.Code == "unauthorized_legal_reasons" {
			return "Adobe refused to process this input for legal reasons"
		}
		return "Adobe refused the request: check that the credential's project includes the Photoshop API and that " +
			"the organization's quota is not used up"
	case http.StatusNotFound:
		if e.Op == opSubmit {
			return fmt.Sprintf("no API at %s: check -image-api-url (Adobe's is %s)", e.URL, DefaultImageAPIURL)
		}
	case http.StatusRequestEntityTooLarge:
		return "the input is too large for Adobe"
	case http.StatusUnsupportedMediaType:
		return "Adobe did not accept the input's format: use JPEG, PNG, WebP or TIFF"
	case http.StatusUnprocessableEntity:
		return "Adobe could not process the input: Adobe must be able to fetch its URL, which must be on a domain " +
			"Adobe allow-lists (*.amazonaws.com, *.windows.net, *.dropboxusercontent.com; S3-compatible servers such " +
			"as MinIO or R2 are not); and the file must be a valid JPEG, PNG, WebP or TIFF of at most 6000×6000 px"
	case http.StatusTooManyRequests:
		return "Adobe's rate limit for the organization was hit: use -limits soft or a lower -limit, " +
			"or stop other jobs sharing the credential"
	}
	if e.StatusCode >= 500 {
		return "Adobe had trouble (a server error, retried); try again later"
	}
	return ""
}

// newAPIError reads what it can of an error answer. The body may be empty
// or not JSON (429 and 5xx answers often are).
func newAPIError(op, method, rawURL string, resp *http.Response, body []byte, now time.Time) *APIError {
	e := &APIError{
		Op:          op,
		Method:      method,
		URL:         redact(rawURL),
		StatusCode:  resp.StatusCode,
		AccessError: resp.Header.Get("X-Access-Error"),
		RequestID:   resp.Header.Get("X-Request-Id"),
		RetryAfter:  retryAfter(resp.Header.Get("Retry-After"), now),
		Body:        trimBody(body),
	}
	var v struct {
		ErrorCode        string          `json:"error_code"`
		Error            json.RawMessage `json:"error"`
		ErrorDescription string          `json:"error_description"`
		Code             json.RawMessage `json:"code"`
		Title            string          `json:"title"`
		Message          string          `json:"message"`
		Errors           json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(body, &v) != nil {
		return e
	}
	e.Code = firstNonEmpty(v.ErrorCode, scalar(v.Error), scalar(v.Code))
	e.Message = firstNonEmpty(v.Message, v.ErrorDescription, v.Title)
	if e.Code == "" || e.Message == "" {
		if d := parseErrors(v.Errors); len(d) > 0 {
			e.Code = firstNonEmpty(e.Code, d[0].code)
			e.Message = firstNonEmpty(e.Message, d[0].message)
		}
	}
	return e
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(h, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

func trimBody(b []byte) string {
	if len(b) > maxBody {
		b = b[:maxBody]
		// Do not cut a character in half.
		for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	return strings.ToValidUTF8(strings.TrimSpace(string(b)), "?")
}

// scalar returns a JSON string or number as text ("" for anything else).
func scalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// detail is one failure reason, whatever shape Adobe sent it in.
type detail struct{ code, message string }

func (d detail) String() string {
	switch {
	case d.code == "":
		return d.message
	case d.message == "":
		return d.code
	}
	return d.code + ": " + d.message
}

// parseErrors reads an "errors" member: a v2 array [{error_code, message}]
// or {errorCode, message}, or a v1 object {type, code, title, details[]}.
func parseErrors(raw json.RawMessage) []detail {
	if len(raw) == 0 {
		return nil
	}
	type item struct {
		ErrorCode  string          `json:"error_code"`
		ErrorCode2 string          `json:"errorCode"`
		Code       json.RawMessage `json:"code"`
		Type       string          `json:"type"`
		Title      string          `json:"title"`
		Message    string          `json:"message"`
		Reason     string          `json:"reason"`
		Details    json.RawMessage `json:"details"`
	}
	conv := func(it item) detail {
		return detail{
			code:    firstNonEmpty(it.ErrorCode, it.ErrorCode2, scalar(it.Code), it.Type),
			message: firstNonEmpty(it.Message, it.Title, it.Reason),
		}
	}
	var list []item
	if json.Unmarshal(raw, &list) == nil {
		var out []detail
		for _, it := range list {
			if d := conv(it); d.code != "" || d.message != "" {
				out = append(out, d)
			}
		}
		return out
	}
	var one item
	if json.Unmarshal(raw, &one) != nil {
		return nil
	}
	out := []detail{conv(one)}
	// v1: details is a list of {name, reason} or of strings.
	var sub []struct {
		Name   string `json:"name"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(one.Details, &sub) == nil {
		for _, s := range sub {
			if s.Name != "" || s.Reason != "" {
				out = append(out, detail{code: s.Name, message: s.Reason})
			}
		}
	} else {
		var strs []string
		if json.Unmarshal(one.Details, &strs) == nil {
			for _, s := range strs {
				out = append(out, detail{message: s})
			}
		}
	}
	if out[0].code == "" && out[0].message == "" {
		out = out[1:]
	}
	return out
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

// Hint says what to do about a failed job, by its error code.
func (e *JobFailedError) Hint() string {
	if h, ok := jobFailedHints[strings.ToLower(strings.TrimSpace(e.Code))]; ok {
		return h + "; " + notResubmitted
	}
	return notResubmitted + ": check the image, then put it in the hot folder again to retry"
}

// notResubmitted ends the hint of a failed job: hotfolder never submits a
// failed job again by itself, since each submission spends quota.
const notResubmitted = "the job was not resubmitted (that would spend quota again)"

// requiredFieldsHint is for Adobe's two "required fields missing" codes.
const requiredFieldsHint = "Adobe says required fields are missing from the job's request, which points to a bug in " +
	"hotfolder or an option it sent empty: check -mode, -format and -background, and report it with Adobe's raw " +
	"answer (kept with the error)"

// jobFailedHints says what to do about a failed job, by its error code in
// lower case: matched whole, since a code such as input_unreadable has
// nothing to do with input_fetch_failed. They are Adobe's documented
// errorCode values of asynchronous jobs, and the codes of the built-in
// emulator (emulator/jobs.go).
var jobFailedHints = map[string]string{
	"400400": "Adobe could not read the job's request (invalid JSON), which points to a bug in hotfolder rather " +
		"than in the image: report it with Adobe's raw answer (kept with the error)",
	"400401": fmt.Sprintf("Adobe found a value in the request not valid, most often the input file or one of the "+
		"options: check that the file opens and is a JPEG, PNG, WebP or TIFF of at most %d×%d px, and check -mode, "+
		"-format and -background, then put the file in the hot folder again", MaxSide, MaxSide),
	"400410": requiredFieldsHint,
	"400420": requiredFieldsHint,
	"400411": "Adobe's content filters blocked the request: Adobe will not process this image's content, so " +
		"leave it out (put in again, it would fail again)",
	"403401": "Adobe says the credential is not authorized for this operation: check that the credential's " +
		"project in the Adobe Developer Console includes the Photoshop API, then put the file in the hot folder again",
	"403421": "your organization's Photoshop API quota is used up, and other files will fail the same way: wait " +
		"until it renews or ask Adobe for more, then put the file in the hot folder again",
	"404": "Adobe lost the job while running it (job not found): put the file in the hot folder again to retry",
	"422404": "Adobe could not produce the job's output (\"Unable to process outputs\": a problem with the output's " +
		"destination, which Adobe hosts, or its options): check -format and -background, then put the file in the " +
		"hot folder again, later if Adobe is at fault",
	"500600": "Adobe had an internal error running the job: put the file in the hot folder again later to retry",

	"input_fetch_failed": "the service could not download the input from its storage URL (or the stored copy was " +
		"gone): the URL must be reachable from the internet and on a domain Adobe allow-lists (*.amazonaws.com, " +
		"*.windows.net, *.dropboxusercontent.com); check the storage settings, then put the file in the hot folder again",
	"input_unreadable": "the image could not be decoded: the file is damaged or incomplete; open it and export it " +
		"again, then put it in the hot folder again",
	"input_too_large": fmt.Sprintf("the image is larger than %d×%d px: scale it down to at most %d px on each side, "+
		"then put it in the hot folder again", MaxSide, MaxSide, MaxSide),
	"unsupported_input": "the input is not a JPEG, PNG, WebP or TIFF image: convert it to one of them, then put " +
		"it in the hot folder again",
	"unsupported_option": "the emulator makes PNG and JPEG only (no WebP or PSD, no -mode psd): use -format png " +
		"or -format jpeg, or Adobe's API, then put the file in the hot folder again",
	"runtime_error": "the service failed while running the job (an internal error): put the file in the hot " +
		"folder again later to retry",
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

func (e *jobGoneError) Hint() string {
	return "Adobe no longer has the job's status; the file can be processed again"
}

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

// Hint says what to do about a job that timed out.
func (e *TimeoutError) Hint() string {
	return "Adobe was slow or the status could not be read; raise -job-timeout, or put the file in the hot folder again later"
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

// Hint says what to do about the input.
func (e *RejectedError) Hint() string { return e.Suggestion }

// netError is a request that got no answer (connection refused, reset,
// timed out) even after retries.
type netError struct {
	op  string
	err error
}

func (e *netError) Error() string { return e.op + ": " + e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

func (e *netError) Hint() string {
	if e.op == opDownload {
		return "the result's host could not be reached: check the network connection, then process the file again"
	}
	return "Adobe could not be reached: check the network connection and any proxy (HTTPS_PROXY), and the API URLs"
}
