// Package uploader is hotfolder's client of Adobe's Photoshop API v2: it
// checks an input locally, uploads it to [Storage], submits the job, polls
// its status and downloads the hosted result.
//
// # Use
//
// Build one [Client] with [New] and share it between workers; it is safe for
// concurrent use. For each file:
//
//	img, err := c.Validate(ctx, path) // local checks, no request
//	src, err := c.Upload(ctx, path)   // Storage.Put + PresignGet
//	job, err := c.Submit(ctx, src)    // POST /v2/remove-background
//	out, err := c.Wait(ctx, job)      // GET the status until done or the deadline
//	n, err := c.Download(ctx, out, f) // GET the hosted result into f
//	err = c.Discard(ctx, src)         // delete the uploaded input
//
// Call [Client.CheckAuth] once at start-up so that bad credentials stop the
// run before any file is touched.
//
// # Retries
//
// One loop (Client.pace) decides for every request, following Adobe's seed
// document: 5xx answers and network errors are retried [RetryPolicy.Retries]
// times with exponential back-off and full jitter; a 429 is reported to the
// [Limiter] (every worker sharing the quota pauses) and sent again, never
// counted as a retry and never failing the file; a 401 gets one fresh token
// and one more try; every other 4xx fails at once.
//
// # Errors
//
// Errors start with the operation that failed (token, submit, status,
// download, upload, validate, discard) and never contain a token, the client
// secret or a URL's query string (presigned URLs carry signatures there).
// Fatal ones (rejected credentials, no entitlement, a wrong base URL) have a
// Fatal() bool method returning true; most carry a Hint() string saying what
// to do. Callers branch with errors.Is ([ErrJobGone], [ErrJobTimeout]) and
// errors.As ([*APIError], [*JobFailedError], [*RejectedError],
// [*TimeoutError]).
package uploader
