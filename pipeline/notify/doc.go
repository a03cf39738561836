// Package notify tells someone how a run went: it POSTs a JSON [Summary]
// to a webhook (-notify URL) when a run ends, once a day at a set time
// while a run watches the hot folder, and at once when failures pile up
// past a threshold.
//
// The summary is plain JSON, for any receiver; its text field is a short
// human line, which is what Slack-compatible incoming webhooks show.
//
// Delivery never holds up the run. The daily and threshold notifications
// are sent from a goroutine of their own; the end-of-run one is sent
// within a fixed budget ([EndBudget]), so a receiver that is down or hangs
// delays the exit by at most that long. Each attempt has a hard timeout,
// failed attempts are retried with exponential back-off, and a
// notification that still fails is logged, never returned to the run: the
// run's result and exit status do not depend on a webhook.
package notify
