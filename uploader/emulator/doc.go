// Package emulator imitates, in-process or standalone, the parts of Adobe's
// services hotfolder talks to: the IMS token endpoint, every per-image job
// of the Photoshop API v2 (remove background, edit, execute actions,
// create composite, generate manifest, auto crop) and their status,
// Adobe-hosted results, and an upload store that hands out presigned GET
// URLs the way S3 does.
//
// It exists so that hotfolder runs on a fresh machine with no Adobe account
// (and really processes images, approximately: backgrounds are removed with
// package [hotfolder/uploader/emulator/cutout], the other operations have
// the deterministic stand-ins described below), and so that the client's
// tests and benchmarks have a faithful, strict and observable Adobe to
// talk to:
//
//   - Adobe's documented v2 contract: IMS token and error shapes, gateway
//     checks in order (auth, rate limit, validation), request bodies
//     validated against Adobe's own OpenAPI specs (spec/), URN job ids,
//     status and error bodies, expiring hosted results, and the known
//     black background of a JPEG output requested without a
//     backgroundColor;
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
//	POST /v2/edit                         202 (Lightroom edits)
//	POST /v2/execute-actions              202 (actions, ActionJSON, product crop)
//	POST /v2/create-composite             202 (resize, crop, trim, layers, formats)
//	POST /v2/generate-manifest            202 (document and layer manifest)
//	POST /v1/auto-crop                    202 (crops and boxes)
//	POST /v2/create-artboard              501 not emulated (many-to-one)
//	GET  /v2/status/{jobId}               pending → running → succeeded | failed, any job
//	*    /v1/…, /v2/… (anything else)     404 not supported, 405 for a wrong method
//	PUT  /storage/{key}                   upload (single streamed PUT, Content-Length required)
//	POST /storage/{key}?presign=SECONDS   a signed GET URL for key
//	GET  /storage/{key}?expires=&sig=     download with a signed URL
//	DELETE /storage/{key}                 remove (missing is fine)
//	GET  /results/{name}?expires=&sig=    a job's hosted result
//	GET  /emulator/stats                  [Stats] as JSON
//
// Both of Adobe's hosts (photoshop-api.adobe.io, image.adobe.io) are this
// one server, so every statusUrl is <base>/v2/status/<jobId>.
//
// The upload store needs no credentials: it is meant for the loopback
// interface. Source URLs are not allow-listed by domain as Adobe's are: a
// job fetches any http(s) URL, so the emulator also works with a presigned
// URL of a local S3-compatible server. Output URL destinations may be
// http too (Adobe requires https), so that a job can PUT to the
// emulator's own store or a test server.
//
// # Validation
//
// A POST's body is checked, before any job exists, against the request
// schema of its operation in Adobe's published OpenAPI spec, embedded
// from spec/ (the current spec; its remove-background revision for
// /v2/remove-background), with github.com/getkin/kin-openapi. The spec is
// adjusted where, as published, it cannot validate any request or
// contradicts the guides (spec/README.md lists how). Fields the schema
// does not define are refused too (a misspelt field must fail loudly),
// and so is what the spec states only in prose: at least one of actions
// or uxp; scriptOutputPattern only on execute-actions and with hosted or
// embedded destinations; quality only on JPEG, compression only on PNG;
// inline content up to 51200 bytes, inline ActionJSON a JSON array with
// contentType application/json; layer_bounds for one layer only; one of
// id or name per layer reference; no ICC profile on cloud documents;
// absolute http(s) URLs; Azure URLs with storageType azure; auto-crop's
// aspectRatio, focus and zoom rules; remove background's whole-number
// colours. The answer is 400 with Adobe's ErrorResponse,
// {"error_code":"validation_error","message":"Validation failed",
// "errors":[{"error_code","message"}]}, one entry per problem; each
// message starts with the field's path (outputs[0].quality) and uses
// the wording Adobe's guides quote where there is one ("Array size must
// be between 1 and 25 at path 'outputs'"). Entry codes are missing_field,
// invalid_value, invalid_type and unknown_field.
//
// # Jobs and results
//
// A succeeded job's result.outputs has one entry per requested output, in
// order, echoing the request's fields with the destination rewritten: a
// hosted output (validityPeriod, default 3600) becomes {"url"} signed for
// validityPeriod seconds; a URL destination is PUT the bytes and echoed;
// an embedded one becomes {"embedded","content"}, content a string, a
// base64 string, or a JSON value. Remove background keeps its single
// output, hosted for ResultTTL; auto crop's one output is an
// AutoCropOutput whose box URLs are hosted for ResultTTL. A failed job
// has errorDetails with Adobe's codes (400401 invalid value, 422404
// unable to process outputs, 500600 internal error) or, where none fits,
// the emulator's own: input_fetch_failed, input_unreadable,
// input_too_large, unsupported_input, unsupported_option, runtime_error.
//
// Inputs are JPEG, PNG, TIFF, WebP and PSD on the Photoshop endpoints
// (8- or 16-bit RGB or grayscale PSDs, raw or RLE, layers skipped; other
// PSDs fail input_unreadable), JPEG, PNG, WebP and TIFF for remove
// background, JPEG, PNG and WebP for auto crop. Auxiliary inputs (action
// files, presets, XMP, masks, layer images, ICC profiles, fonts…) come by
// URL the same way. Outputs are JPEG (quality enum: very_poor 10, poor
// 25, low 40, medium 60, high 75, maximum 90, photoshop_max 100 on
// image/jpeg's scale; default photoshop_max; flattened over white), PNG
// (compression enum as zlib levels 0–9, default 6), TIFF (Deflate), flat
// PSD (see psd.go), lossless WebP (remove background), XMP and JSON.
//
// # Stand-ins
//
// The renders are deterministic, plausible and fast (well under a second
// a step on a 2000×1500 photo); they are not Photoshop's:
//
//   - remove background: the cutout; mode psd and output
//     image/vnd.adobe.photoshop write a flat PSD, the mask as its alpha
//     channel; output image/webp a lossless WebP with alpha.
//   - edit: see edit.go: autoTone is a per-channel 1st–99th percentile
//     levels stretch, exposure a gain in stops, contrast an S-curve,
//     saturation and vibrance scale chroma around luma, vignette darkens
//     the corners; autoStraighten changes no geometry; clarity, texture,
//     sharpening and noise reduction are not rendered; presets and the
//     XMP are fetched and their content ignored, except that the XMP
//     output (application/rdf+xml, a Camera Raw settings packet) records
//     the settings applied and the digests of the presets and XMP.
//   - execute-actions: see actions.go: an action file or UXP script is a
//     tint keyed by its bytes; inline ActionJSON runs convertMode to
//     grayscale, placeEvent of an additional content, and Adobe's
//     product-crop recipe (subject box plus canvasSize padding,
//     transparent outside the subject); other steps are tints keyed by
//     the step. scriptOutputPattern outputs give one file, the document.
//   - create-composite: see composite.go: image layers, then resize, crop
//     and trim, then per-output trim, size, format options.
//   - generate-manifest: see manifest.go: the document's real size, mode,
//     depth and bounds, one layer for a flat input.
//   - auto-crop: see autocrop.go: per aspect ratio, the largest box of
//     that ratio centred on the cutout's subject, scaled by zoom.
//
// Not emulated (the job fails with unsupported_option, or the POST is
// answered 501): DNG and cloud-document (PSDC) outputs, Creative Cloud
// and Lightroom inputs and destinations, layer operations other than
// adding an image layer, distance_unit resizes, ICC conversions (a
// profile changes nothing but a grayscale one's mode), layer thumbnails
// in manifests, and /v2/create-artboard.
//
// # Time
//
// Limits apply per [ratelimit.Bucket] exactly as the client charges them:
// POST /v2/remove-background and the status GETs of remove-background jobs
// (and of unknown ones) to the remove-background buckets, other API calls,
// the other operations' POSTs and status GETs included, to post and get;
// IMS, storage and result downloads are free.
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
// latency. Job files keep each operation's request, so every operation's
// jobs resume. The URL-signing secret and [Server.ID] are kept in Dir too,
// so URLs signed before a restart still verify after it, and a job whose
// inputs are the emulator's own storage or result URLs reads them from its
// folders rather than from the port the URL names, which may belong to a
// dead process. Job files (and results) are deleted once the results
// expire ([Config].ResultTTL, or a hosted output's longer validityPeriod),
// at run time and at start. An exclusive lock on Dir/lock keeps a second
// emulator off the directory
// ([ErrDirInUse]). Stats are not kept: they count what one process saw.
package emulator
