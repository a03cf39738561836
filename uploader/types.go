package uploader

import (
	"context"
	"io"
	"time"

	"hotfolder/ratelimit"
)

// Storage holds input files where the Photoshop API can fetch them.
// Implementations: s3store.Store (AWS S3 and S3-compatible servers),
// azstore.Store (Azure Blob Storage), gcsstore.Store (Google Cloud
// Storage) and emulator.Store (the built-in emulator's upload store).
type Storage interface {
	// Put stores size bytes of body under key in one single-part request
	// (azstore stages blocks beyond Put Blob's 5000 MiB limit), streamed:
	// it may read body more than once (seeking back to the start first)
	// but never holds it whole in memory.
	Put(ctx context.Context, key string, body io.ReadSeeker, size int64, contentType string) error
	// PresignGet returns a URL from which anyone may GET key until at least
	// ttl from now.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Limiter paces requests against the organization's shared quotas.
// *ratelimit.Set implements it.
type Limiter interface {
	// Wait blocks until one request may be sent on bucket b, or ctx is done.
	Wait(ctx context.Context, b ratelimit.Bucket) error
	// Throttled reports a 429 on bucket b: every caller of Wait on b pauses
	// for retryAfter (or a back-off of the limiter's choosing when it is 0).
	Throttled(b ratelimit.Bucket, retryAfter time.Duration)
}

// Upload is an input file uploaded to [Storage], as a job refers to it.
type Upload struct {
	Path        string    // local input file
	Key         string    // storage key
	URL         string    // presigned GET URL handed to the API
	Expires     time.Time // URL valid until at least then
	Size        int64     // bytes uploaded
	SHA256      string    // hex digest of the bytes uploaded
	ContentType string    // sniffed media type, e.g. image/jpeg
}

// Job is a submitted, asynchronous Photoshop API job.
type Job struct {
	ID        string // as Adobe returned it, often a URN with colons
	StatusURL string // where to poll; built from the job id when Adobe gave none
	Op        string // operation, e.g. "remove-background" ("" is too); picks the host and the GET bucket
	Submitted time.Time
	// API names the service the job lives in (Config.APIName): the status
	// of a job is asked only of the API it was submitted to. "" for jobs
	// journaled before it was recorded.
	API string
	// MediaTypes are the media types of the outputs requested, in order
	// (auto-crop: none requested, so the input's, when Submit could tell
	// it). Optional, and worth journaling: Wait checks that the status
	// names as many outputs, fills in a media type the status leaves out,
	// and prefers remove background's output of the requested type.
	MediaTypes []string
}

// Result is one output of a job that succeeded: hosted at URL, or
// embedded in the status (Content set, URL empty: the manifest).
type Result struct {
	URL       string // Adobe-hosted, expires (download promptly)
	MediaType string
	// Content is an embedded output: text as it is, base64 decoded, JSON
	// as its JSON text. Download writes it without a request.
	Content []byte
}

// Observer sees what a [Client] does, for metrics. Its methods must be
// quick and safe for concurrent use.
type Observer interface {
	// Request is one HTTP exchange with IMS, the API or a hosted result:
	// op is token, submit, status or download; status is the HTTP status,
	// 0 when no answer came (a network error or timeout).
	Request(op string, status int, d time.Duration)
	// JobEnded is a job seen to end, d after it was submitted: outcome is
	// succeeded, failed, gone (404) or timeout.
	JobEnded(outcome string, d time.Duration)
	// Transferred is a finished upload ("up") or download ("down") of n
	// bytes that took d.
	Transferred(direction string, n int64, d time.Duration)
}

// noObserver is the Observer of a Client configured without one.
type noObserver struct{}

func (noObserver) Request(string, int, time.Duration)       {}
func (noObserver) JobEnded(string, time.Duration)           {}
func (noObserver) Transferred(string, int64, time.Duration) {}
