package uploader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"hotfolder/ratelimit"
)

// maxAnswer bounds a JSON answer read into memory (a status answer can
// embed small outputs).
const maxAnswer = 8 << 20

// maxRetryAfter caps how long a Retry-After on a 5xx answer delays a retry.
const maxRetryAfter = 5 * time.Minute

// How one attempt ended, as the attempt function tells pace. Any other
// non-nil error is final.
type (
	// retryable: a 5xx answer or a network error. Retried with back-off,
	// counted against RetryPolicy.Retries; after (Retry-After) when known.
	retryable struct {
		err   error
		after time.Duration
	}
	// throttled: a 429. Reported to the Limiter and sent again; never
	// counted as a retry.
	throttled struct {
		err   error
		after time.Duration
	}
	// unauthorized: a 401 to token. One fresh token and one more try.
	unauthorized struct {
		err   error
		token string
	}
)

func (e *retryable) Error() string    { return e.err.Error() }
func (e *throttled) Error() string    { return e.err.Error() }
func (e *unauthorized) Error() string { return e.err.Error() }

// pace runs try until it succeeds, fails for good, or ctx is done: the one
// place where the retry policy lives (rclone's pacer and shouldRetry idea).
// Before each attempt it waits on bucket's limiter ("" charges none). try
// gets the attempt number (from 1) and the token a 401 rejected ("" if
// none), and reports the attempt's end as described at [retryable]. A
// non-zero deadline (on the Now clock) ends 429 pauses and retries once it
// has passed, with the last attempt's error.
func (c *Client) pace(ctx context.Context, op string, bucket ratelimit.Bucket, deadline time.Time,
	try func(ctx context.Context, attempt int, rejected string) error) error {
	var (
		retries, throttles int
		rejected           string
		refreshed          bool
	)
	for attempt := 1; ; attempt++ {
		if bucket != "" {
			if err := c.cfg.Limiter.Wait(ctx, bucket); err != nil {
				return fmt.Errorf("%s: waiting for the rate limiter: %w", op, err)
			}
		}
		err := try(ctx, attempt, rejected)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			// Aborted: say so (errors.Is finds ctx's error) and keep the
			// last answer, whichever the transport noticed first.
			last := unwrapVerdict(err)
			if errors.Is(last, ctx.Err()) {
				return last
			}
			return fmt.Errorf("%s: %w (last answer: %w)", op, ctx.Err(), last)
		}
		late := !deadline.IsZero() && !c.cfg.Now().Before(deadline)
		switch v := err.(type) {
		case *throttled:
			if late {
				return v.err
			}
			throttles++
			if bucket != "" {
				// The limiter pauses every worker on the bucket; the
				// next Wait above serves out the pause.
				c.cfg.Limiter.Throttled(bucket, v.after)
				c.log.Debug("throttled", "op", op, "bucket", bucket, "retry_after", v.after, "attempt", attempt)
				continue
			}
			d := v.after
			if d <= 0 {
				d = c.cfg.Retry.ceiling(throttles)
			}
			c.log.Debug("throttled", "op", op, "wait", d, "attempt", attempt)
			if err := c.sleep(ctx, d); err != nil {
				return fmt.Errorf("%s: %w (while throttled: %w)", op, err, v.err)
			}
		case *unauthorized:
			if refreshed {
				return v.err
			}
			refreshed, rejected = true, v.token
			c.log.Debug("token refused; fetching a new one", "op", op, "attempt", attempt)
		case *retryable:
			if retries >= c.cfg.Retry.Retries || late {
				return v.err
			}
			retries++
			d := time.Duration(c.cfg.Rand() * float64(c.cfg.Retry.ceiling(retries)))
			d = max(d, min(v.after, maxRetryAfter))
			c.log.Debug("retrying", "op", op, "retry", retries, "wait", d, "err", v.err)
			if err := c.sleep(ctx, d); err != nil {
				return fmt.Errorf("%s: %w (while retrying: %w)", op, err, v.err)
			}
		default:
			return err
		}
	}
}

// unwrapVerdict returns the error inside a retry verdict.
func unwrapVerdict(err error) error {
	switch e := err.(type) {
	case *retryable:
		return e.err
	case *throttled:
		return e.err
	case *unauthorized:
		return e.err
	}
	return err
}

// sleep waits d on the After seam, or until ctx is done.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-c.cfg.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// apiCall is one JSON request to IMS or the API.
type apiCall struct {
	op          string
	method      string
	url         string
	bucket      ratelimit.Bucket // "" charges no API bucket (token requests)
	auth        bool             // send Authorization and x-api-key
	body        []byte           // nil: no body
	contentType string
	sent        *int      // if set, counts the requests sent
	deadline    time.Time // if set, no 429 pause or retry starts after it
}

// apiAnswer is a 2xx answer.
type apiAnswer struct {
	status int
	header http.Header
	body   []byte
}

// call sends ac under the retry policy and returns the first 2xx answer.
func (c *Client) call(ctx context.Context, ac apiCall) (*apiAnswer, error) {
	hc := c.hc
	if ac.auth {
		if !c.apiOrigin(ac.url) {
			return nil, fmt.Errorf("%s: %s: %w", ac.op, redact(ac.url), errForeignHost)
		}
		hc = c.apiHC
	}
	var ans *apiAnswer
	err := c.pace(ctx, ac.op, ac.bucket, ac.deadline, func(ctx context.Context, attempt int, rejected string) error {
		var body io.Reader
		if ac.body != nil {
			body = bytes.NewReader(ac.body)
		}
		// A stalled server must not hold a worker: each attempt has its
		// own deadline, and running out of it is retried like a timeout.
		actx, cancel := context.WithTimeoutCause(ctx, c.cfg.StallTimeout, errStalled)
		defer cancel()
		req, err := http.NewRequestWithContext(actx, ac.method, ac.url, body)
		if err != nil {
			return fmt.Errorf("%s: %w", ac.op, redactURLError(err))
		}
		var tok string
		if ac.auth {
			if tok, err = c.tokens.get(ctx, rejected); err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("x-api-key", c.cfg.ClientID)
		}
		if ac.body != nil {
			req.Header.Set("Content-Type", ac.contentType)
		}
		req.Header.Set("Accept", "application/json")
		if ac.sent != nil {
			*ac.sent++
		}
		start := c.cfg.Now()
		resp, err := hc.Do(req)
		if err != nil {
			c.cfg.Observer.Request(ac.op, 0, c.cfg.Now().Sub(start))
			c.log.Debug("request", "op", ac.op, "method", ac.method, "url", redact(ac.url), "attempt", attempt,
				"duration", c.cfg.Now().Sub(start), "err", redactURLError(err))
			if context.Cause(actx) == errStalled && ctx.Err() == nil {
				err = fmt.Errorf("no answer within %s: %w", c.cfg.StallTimeout, err)
			}
			return c.transportError(ctx, ac.op, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		resp.Body.Close()
		c.cfg.Observer.Request(ac.op, resp.StatusCode, c.cfg.Now().Sub(start))
		c.log.Debug("request", "op", ac.op, "method", ac.method, "url", redact(ac.url), "status", resp.StatusCode,
			"attempt", attempt, "duration", c.cfg.Now().Sub(start))
		if err != nil {
			return c.transportError(ctx, ac.op, fmt.Errorf("reading the answer to %s %s: %w", ac.method, redact(ac.url), err))
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			ans = &apiAnswer{status: resp.StatusCode, header: resp.Header, body: data}
			return nil
		}
		ae := newAPIError(ac.op, ac.method, ac.url, resp, data, c.cfg.Now())
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			return &throttled{err: ae, after: ae.RetryAfter}
		case resp.StatusCode == http.StatusUnauthorized && ac.auth:
			return &unauthorized{err: ae, token: tok}
		case resp.StatusCode >= 500:
			return &retryable{err: ae, after: ae.RetryAfter}
		}
		return ae
	})
	return ans, err
}

// errStalled is the cause of an attempt abandoned after StallTimeout.
var errStalled = errors.New("no progress within the stall timeout")

// transportError classifies a request that got no (complete) answer: the
// caller's context ending is final, anything else (refused, reset, timed
// out, stalled) is retried.
func (c *Client) transportError(ctx context.Context, op string, err error) error {
	if errors.Is(err, errForeignHost) {
		return fmt.Errorf("%s: %w", op, redactURLError(err)) // refused here: retrying cannot help
	}
	err = &netError{op: op, err: redactURLError(err)}
	if ctx.Err() != nil {
		return err
	}
	return &retryable{err: err}
}

// redactURLError strips the query from the URL net/http puts in its errors.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = redact(ue.URL)
	}
	return err
}
