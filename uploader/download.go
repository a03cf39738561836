package uploader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Download streams the hosted result res.URL into w and returns the bytes
// written; an embedded result (res.Content set) is written as it is,
// without a request. The URL is presigned, possibly on another host: it is fetched
// with no Authorization or x-api-key header, and it is not charged to any
// API quota. 5xx answers and broken transfers are retried under the retry
// policy, each retry starting over at offset 0 of w (truncated to 0 when w
// has a Truncate(int64) error method, as *os.File does). An expired URL
// (401, 403, 404, 410) fails at once with a hint to process the file again.
func (c *Client) Download(ctx context.Context, res Result, w io.WriteSeeker) (int64, error) {
	if res.Content != nil {
		n, err := w.Write(res.Content)
		if err == nil && n < len(res.Content) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return int64(n), fmt.Errorf("download: writing the result: %w", err)
		}
		return int64(n), nil
	}
	if res.URL == "" {
		return 0, errors.New("download: the output has no URL")
	}
	var written int64
	err := c.pace(ctx, opDownload, "", time.Time{}, func(ctx context.Context, attempt int, _ string) error {
		if attempt > 1 {
			if err := rewind(w); err != nil {
				return fmt.Errorf("download: starting over: %w", err)
			}
		}
		written = 0
		// The watchdog abandons a transfer that stops making progress; a
		// large result may otherwise rightly take long.
		dctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		watchdog := time.AfterFunc(c.cfg.StallTimeout, func() { cancel(errStalled) })
		defer watchdog.Stop()
		stalled := func(err error) error {
			if context.Cause(dctx) == errStalled && ctx.Err() == nil {
				return fmt.Errorf("no data for %s: %w", c.cfg.StallTimeout, err)
			}
			return err
		}

		req, err := http.NewRequestWithContext(dctx, http.MethodGet, res.URL, nil)
		if err != nil {
			return fmt.Errorf("download: %w", redactURLError(err))
		}
		start := c.cfg.Now()
		resp, err := c.hc.Do(req)
		if err != nil {
			c.cfg.Observer.Request(opDownload, 0, c.cfg.Now().Sub(start))
			c.log.Debug("request", "op", opDownload, "method", http.MethodGet, "url", redact(res.URL), "attempt", attempt,
				"duration", c.cfg.Now().Sub(start), "err", redactURLError(err))
			return c.transportError(ctx, opDownload, stalled(err))
		}
		defer resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			c.cfg.Observer.Request(opDownload, resp.StatusCode, c.cfg.Now().Sub(start))
			data, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
			c.log.Debug("request", "op", opDownload, "method", http.MethodGet, "url", redact(res.URL), "status", resp.StatusCode,
				"attempt", attempt, "duration", c.cfg.Now().Sub(start))
			ae := newAPIError(opDownload, http.MethodGet, res.URL, resp, data, c.cfg.Now())
			switch {
			case resp.StatusCode == http.StatusTooManyRequests:
				return &throttled{err: ae, after: ae.RetryAfter}
			case resp.StatusCode >= 500:
				return &retryable{err: ae, after: ae.RetryAfter}
			}
			return ae
		}
		cw := &countingWriter{w: w}
		_, err = io.Copy(cw, &progressReader{r: resp.Body, progress: func() { watchdog.Reset(c.cfg.StallTimeout) }})
		written = cw.n
		c.cfg.Observer.Request(opDownload, resp.StatusCode, c.cfg.Now().Sub(start))
		if err == nil && cw.err == nil {
			c.cfg.Observer.Transferred("down", written, c.cfg.Now().Sub(start))
		}
		c.log.Debug("request", "op", opDownload, "method", http.MethodGet, "url", redact(res.URL), "status", resp.StatusCode,
			"attempt", attempt, "duration", c.cfg.Now().Sub(start), "bytes", written)
		switch {
		case cw.err != nil:
			// The disk, not the network: retrying would not help.
			return fmt.Errorf("download: writing the result: %w", cw.err)
		case err != nil:
			return c.transportError(ctx, opDownload, stalled(fmt.Errorf("reading %s: %w", redact(res.URL), err)))
		case resp.ContentLength >= 0 && written != resp.ContentLength:
			return c.transportError(ctx, opDownload, fmt.Errorf("reading %s: got %d of %d bytes", redact(res.URL), written, resp.ContentLength))
		}
		return nil
	})
	return written, err
}

// rewind moves w back to offset 0 and empties it when it can.
func rewind(w io.WriteSeeker) error {
	if _, err := w.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if t, ok := w.(interface{ Truncate(int64) error }); ok {
		return t.Truncate(0)
	}
	return nil
}

// countingWriter counts the bytes written and keeps the write error, so a
// failing disk is told apart from a failing network.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		cw.err = err
	}
	return n, err
}

// progressReader calls progress after every read that returned bytes.
type progressReader struct {
	r        io.Reader
	progress func()
}

func (pr *progressReader) Read(p []byte) (int, error) {
	n, err := pr.r.Read(p)
	if n > 0 {
		pr.progress()
	}
	return n, err
}
