package uploader

import (
	"fmt"
	"net/http"
	"strings"
)

// What a person can do about each error, kept beside one another so the
// wording reads as one text: what failed is in Error, what to do in Hint.

// Hint says what to do about the error.
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
	rb := e.removeBackground()
	switch e.StatusCode {
	case http.StatusBadRequest:
		if e.Op == opStatus {
			return "Adobe refused the status request (a malformed job id or status URL?); the job was not resubmitted"
		}
		if !rb {
			return "Adobe rejected the request: check the recipe's options and outputs (Adobe's raw answer is kept with the error)"
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
		if e.Op == opSubmit && e.imageHost() {
			return fmt.Sprintf("no API at %s: check -image-api-url (Adobe's is %s)", e.URL, DefaultImageAPIURL)
		}
		if e.Op == opSubmit {
			return fmt.Sprintf("no API at %s: check -photoshop-api-url (Adobe's is %s)", e.URL, DefaultPhotoshopAPIURL)
		}
	case http.StatusRequestEntityTooLarge:
		return "the input is too large for Adobe"
	case http.StatusUnsupportedMediaType:
		if !rb {
			return "Adobe did not accept the input's format: see the formats the operation reads (hotfolder's check lists them)"
		}
		return "Adobe did not accept the input's format: use JPEG, PNG, WebP or TIFF"
	case http.StatusUnprocessableEntity:
		if !e.imageHost() {
			return "Adobe could not process the input: Adobe must be able to fetch its URL and those of the recipe's files, " +
				"and the recipe's options must suit the image (Adobe's raw answer is kept with the error)"
		}
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

// imageHost reports whether the request went to an image.adobe.io
// operation (remove background, auto-crop), whose input URLs must be on
// Adobe's allow-listed storage domains.
func (e *APIError) imageHost() bool {
	return e.removeBackground() || strings.HasSuffix(e.URL, endpoint(OpAutoCrop))
}

// removeBackground reports whether the request was a remove background
// submit (or one whose endpoint is unknown, as before other operations).
func (e *APIError) removeBackground() bool {
	for _, op := range Ops() {
		if op != OpRemoveBackground && strings.HasSuffix(e.URL, endpoint(op)) {
			return false
		}
	}
	return true
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

func (e *jobGoneError) Hint() string {
	return "Adobe no longer has the job's status; the file can be processed again"
}

// Hint says what to do about a job that timed out.
func (e *TimeoutError) Hint() string {
	return "Adobe was slow or the status could not be read; raise -job-timeout, or put the file in the hot folder again later"
}

// Hint says what to do about the input.
func (e *RejectedError) Hint() string { return e.Suggestion }

func (e *netError) Hint() string {
	if e.op == opDownload {
		return "the result's host could not be reached: check the network connection, then process the file again"
	}
	return "Adobe could not be reached: check the network connection and any proxy (HTTPS_PROXY), and the API URLs"
}
