package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Delivery defaults.
const (
	defaultAttempts       = 4
	defaultBackoff        = 2 * time.Second
	defaultAttemptTimeout = 10 * time.Second
)

// Sender POSTs summaries to one webhook.
type Sender struct {
	url            string
	client         *http.Client
	attempts       int
	backoff        time.Duration
	attemptTimeout time.Duration
}

// SenderOptions tunes a [Sender]; every field has a default.
type SenderOptions struct {
	Client         *http.Client  // default: a client of its own
	Attempts       int           // tries per summary (default 4)
	Backoff        time.Duration // wait before the second try, doubling after (default 2s)
	AttemptTimeout time.Duration // hard limit on one try (default 10s)
}

// NewSender returns a Sender to the webhook rawURL, which must be an
// http or https URL.
func NewSender(rawURL string, opt SenderOptions) (*Sender, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("notify: the webhook must be an http:// or https:// URL")
	}
	s := &Sender{url: rawURL, client: opt.Client, attempts: opt.Attempts, backoff: opt.Backoff, attemptTimeout: opt.AttemptTimeout}
	if s.client == nil {
		s.client = &http.Client{}
	}
	if s.attempts <= 0 {
		s.attempts = defaultAttempts
	}
	if s.backoff <= 0 {
		s.backoff = defaultBackoff
	}
	if s.attemptTimeout <= 0 {
		s.attemptTimeout = defaultAttemptTimeout
	}
	return s, nil
}

// Host is rawURL's scheme and host only: a webhook's path is often its
// secret (Slack's is), so logs and errors name no more than this.
func Host(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "(not a URL)"
	}
	return u.Scheme + "://" + u.Host
}

// errPermanent marks an answer that another try would not change.
var errPermanent = errors.New("the receiver refused the summary")

// Send POSTs s, trying again after a failure (a network error, a timeout,
// a 5xx, 408 or 429) with exponential back-off, until it is delivered, the
// tries run out, or ctx ends.
func (sd *Sender) Send(ctx context.Context, s Summary) error {
	body, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	wait, try := sd.backoff, 1
	for ; ; try++ {
		err = sd.post(ctx, body)
		if err == nil || errors.Is(err, errPermanent) || try == sd.attempts {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("notify %s: %s: %w (last try: %w)", Host(sd.url), tries(try), context.Cause(ctx), err)
		case <-t.C:
		}
		wait *= 2
	}
	if err != nil {
		return fmt.Errorf("notify %s: %s: %w", Host(sd.url), tries(try), err)
	}
	return nil
}

func tries(n int) string {
	if n == 1 {
		return "1 try"
	}
	return fmt.Sprintf("%d tries", n)
}

// post makes one try.
func (sd *Sender) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, sd.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sd.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hotfolder")
	resp, err := sd.client.Do(req)
	if err != nil {
		// The URL may hold the webhook's secret: report the cause only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return fmt.Errorf("HTTP %d", c)
	default:
		return fmt.Errorf("%w: HTTP %d", errPermanent, c)
	}
}
