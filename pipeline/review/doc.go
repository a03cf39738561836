// Package review makes the morning review page of a night's run: the
// counts, POSTs and throughput at a glance, the failures first, grouped by
// reason, then every result as a before/after pair of thumbnails.
//
// The page is one folder, STATE/review (index.html, app.js, app.css,
// data.js and thumbs/), that works from file:// with no network: data.js
// is a classic script calling a global, since Chromium refuses fetch() and
// modules from file://. [Build] writes it from the journal after a run;
// during a run a [Recorder] makes the thumbnails as outputs land (it is
// the pipeline's Observer) and serves the same page live, polling
// data.json, beside the metrics.
//
// Thumbnails are kept in STATE/review/thumbs, named by the content hash
// the journal records (input SHA-256, output SHA-256), so an image is
// thumbnailed once across runs. File names and API messages are untrusted
// text: the page sets them with textContent only.
package review
