// Package emulator imitates, in-process or standalone, the parts of Adobe's
// services hotfolder talks to: the IMS token endpoint, the Photoshop API v2
// remove-background job and its status, Adobe-hosted results, and an upload
// store that hands out presigned GET URLs the way S3 does.
//
// It exists so that hotfolder runs on a fresh machine with no Adobe account
// (and really removes backgrounds, approximately, with package
// [hotfolder/uploader/emulator/cutout]), and so that the client's tests and
// benchmarks have a faithful, strict and observable Adobe to talk to:
//
//   - Adobe's documented v2 contract: IMS token and error shapes, gateway
//     checks in order (auth, rate limit, validation), URN job ids, status
//     and error bodies, expiring hosted results, and the known black
//     background of a JPEG output requested without a backgroundColor;
//   - Adobe's rate limits enforced as exact sliding windows
//     ([ratelimit.Window]), answered with 429, Retry-After and
//     X-Access-Rate-Limit-Level like Adobe's gateway;
//   - injectable faults ([Faults]): 5xx, spurious 429s, missing Retry-After,
//     empty bodies, failed jobs;
//   - counters ([Stats], also served as JSON at GET /emulator/stats) that
//     show duplicate submissions, polling per job and the achieved rate.
//
// # Endpoints
//
//	POST /ims/token/v3                    client-credentials token
//	POST /v2/remove-background            202 {"jobId","statusUrl"}
//	GET  /v2/status/{jobId}               pending → running → succeeded | failed
//	*    /v1/…, /v2/… (anything else)     404 not supported (after auth, charged to post/get)
//	PUT  /storage/{key}                   upload (single streamed PUT, Content-Length required)
//	POST /storage/{key}?presign=SECONDS   a signed GET URL for key
//	GET  /storage/{key}?expires=&sig=     download with a signed URL
//	DELETE /storage/{key}                 remove (missing is fine)
//	GET  /results/{name}?expires=&sig=    a job's hosted result
//	GET  /emulator/stats                  [Stats] as JSON
//
// The upload store needs no credentials: it is meant for the loopback
// interface. Source URLs are not allow-listed by domain as Adobe's are: a
// job fetches any http(s) URL, so the emulator also works with a presigned
// URL of a local S3-compatible server.
//
// # Time
//
// Limits apply per [ratelimit.Bucket] exactly as the client charges them:
// POST /v2/remove-background and GET /v2/status/… to the remove-background
// buckets, other API calls to post and get; IMS, storage and result
// downloads are free.
//
// Every time-dependent behaviour (token expiry, rate windows, job progress,
// URL expiry, result retention) reads [Config].Now, so tests can drive the
// emulator with a fake clock. Image processing itself runs at real speed in
// background goroutines; a job reports running until both its simulated
// latency has passed on that clock and its processing has finished.
//
// # Persistence
//
// With a [Config].Dir the emulator answers for the jobs of the earlier
// emulators on that directory, as Adobe answers for a job whatever became
// of the client that submitted it. Every job is saved (written to a
// temporary file, synced, renamed) under Dir/jobs before its 202 and again
// when it ends; the next emulator on Dir loads them: finished ones report
// the same status and result, unfinished ones (the process was killed, or
// Close stopped them) are run again with their original creation time and
// latency. The URL-signing secret and [Server.ID] are kept in Dir too, so
// URLs signed before a restart still verify after it, and a job whose
// source is one of the emulator's own storage URLs reads its input from
// the storage folder rather than from the port the URL names, which may
// belong to a dead process. Job files (and results) are deleted once the
// results expire ([Config].ResultTTL), at run time and at start. An
// exclusive lock on Dir/lock keeps a second emulator off the directory
// ([ErrDirInUse]). Stats are not kept: they count what one process saw.
package emulator
