// Package metrics serves Prometheus metrics and a health check for a
// hotfolder run, so that monitoring sees how an unattended night goes and
// can raise an alert when it stalls.
//
// [New] takes the run's counters ([pipeline.Stats]) and, optionally, the
// limiter's ([ratelimit.Stats]) as functions that are read at scrape time.
// The *[Metrics] it returns is also an [uploader.Observer]: give it to the
// uploader's Config.Observer and it counts every request, job and transfer.
// [Metrics.Handler] serves:
//
//	GET /metrics   Prometheus exposition format (text unless the scraper asks for protobuf)
//	GET /healthz   200 or 503, with one line of plain text saying why
//
// Every metric is on a private registry: nothing is global, and the Go
// runtime and process metrics (go_*, process_*) come with it.
//
// # Metrics
//
// Read from the run's counters at each scrape:
//
//	hotfolder_files_found_total                      counter  files handed on by the watcher
//	hotfolder_files_finished_total{outcome}          counter  outcome: done, failed, skipped
//	hotfolder_files_failed_earlier_total             counter  of skipped: failed in an earlier run
//	hotfolder_files_active                           gauge    files a worker holds now
//	hotfolder_files_pending                          gauge    found − finished − active
//	hotfolder_jobs_resumed_total                     counter  jobs of an interrupted run polled again
//	hotfolder_files_copied_total                     counter  of done: copies of another input's content
//	hotfolder_posts_saved_total                      counter  POSTs the copies did not spend
//	hotfolder_uploaded_bytes_total                   counter
//	hotfolder_downloaded_bytes_total                 counter
//	hotfolder_run_start_timestamp_seconds            gauge    0 until the run starts
//	hotfolder_last_finished_timestamp_seconds        gauge    a file done or failed; 0 if none yet
//	hotfolder_last_success_timestamp_seconds         gauge    an output written; 0 if none yet
//	hotfolder_healthy                                gauge    1 when /healthz says 200, else 0
//
// Read from the limiter at each scrape, one series per bucket
// (post, get, remove-background.post, remove-background.get):
//
//	hotfolder_quota_limit_requests_per_second{bucket}  gauge    N/Window of the profile
//	hotfolder_quota_rate_ratio{bucket}                 gauge    share of the limit allowed now (<1 after 429s)
//	hotfolder_quota_waiting{bucket}                    gauge    callers blocked waiting for a slot
//	hotfolder_quota_longest_wait_seconds{bucket}       gauge    how long the longest of them has waited
//	hotfolder_quota_pause_remaining_seconds{bucket}    gauge    what is left of a 429 pause; 0 if none
//	hotfolder_quota_wait_seconds_total{bucket}         counter  time callers spent waiting
//	hotfolder_quota_throttled_total{bucket}            counter  429s (Too Many Requests) reported
//
// Counted as the uploader reports them:
//
//	hotfolder_requests_total{op,code}                  counter    op: token, submit, status, download; code "0" = no answer
//	hotfolder_request_duration_seconds{op}             histogram
//	hotfolder_job_duration_seconds{outcome}            histogram  submission to end; succeeded, failed, gone, timeout
//	hotfolder_transfer_size_bytes{direction}           histogram  up (to storage), down (results)
//	hotfolder_transfer_duration_seconds{direction}     histogram
//
// Counts of files are counters where they only grow, so that rate() and
// increase() work and a restart of the service reads as a counter reset.
//
// # Health
//
// /healthz and hotfolder_healthy say the run is stalled when work waits
// (found > finished: files are active or pending) and no file has finished,
// done or failed, for Options.StallAfter (default 15 minutes). It is failing
// when files do finish but none was written successfully for that long:
// every one fails. The clock starts at the latest of the run's start, the
// last finish (or success), and the last time this package saw nothing
// waiting, so a file dropped after hours of idle watching is not a stall.
// Before the run has started it is healthy ("starting").
//
// Waiting on Adobe's quota does not excuse a stall: a single 429 pause lasts
// at most a minute, so a quarter of an hour with nothing finished is a night
// going wrong whatever the cause, and the studio should hear of it (another
// client may be eating the organization's quota). The body then says so, for
// example:
//
//	stalled: no file finished for 16m0s while 212 wait (4 active); waiting on quota: remove-background.post paused for 38s more after 429s (57 so far)
//
// The body is one line of plain text starting with "ok", "starting",
// "stalled" or "failing", so a probe can match on it.
//
// Alert rules to go with it, for example:
//
//	groups:
//	  - name: hotfolder
//	    rules:
//	      - alert: HotfolderStalled
//	        expr: hotfolder_healthy == 0
//	        for: 2m
//	      - alert: HotfolderDown
//	        expr: up{job="hotfolder"} == 0
//	        for: 2m
//	      - alert: HotfolderThrottled
//	        expr: increase(hotfolder_quota_throttled_total[15m]) > 10
package metrics
