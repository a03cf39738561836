package uploader

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// tokenFetchTimeout bounds one shared token fetch, which runs detached from
// the callers that wait for it (see tokenSource.get).
const tokenFetchTimeout = 3 * time.Minute

// assumedLifetime is used when IMS gives no expires_in.
const assumedLifetime = time.Hour

// accessToken is an IMS access token and when it expires.
type accessToken struct {
	value    string
	expires  time.Time
	lifetime time.Duration
}

// fresh reports whether tok may still be used without a refresh at now:
// a refresh is due when less than max(5 min, 10% of its lifetime) remains,
// but never earlier than half its lifetime, so short-lived tokens are still
// reused.
func (tok accessToken) fresh(now time.Time) bool {
	if tok.value == "" {
		return false
	}
	margin := min(max(5*time.Minute, tok.lifetime/10), tok.lifetime/2)
	return now.Before(tok.expires.Add(-margin))
}

// tokenSource caches the access token shared by every caller of a Client.
// Concurrent callers that find it due share one fetch.
type tokenSource struct {
	c *Client

	mu     sync.Mutex
	cur    accessToken
	flight *tokenFlight // the fetch in progress, if any
}

type tokenFlight struct {
	done chan struct{} // closed when tok and err are set
	tok  accessToken
	err  error
}

// get returns a token to send. rejected is the token the API just answered
// 401 to, or "": a rejected token is replaced even if it looks fresh, unless
// another caller already replaced it.
//
// The fetch runs in its own goroutine under a detached context, so one
// caller giving up does not fail the others waiting for the same fetch.
func (ts *tokenSource) get(ctx context.Context, rejected string) (string, error) {
	ts.mu.Lock()
	now := ts.c.cfg.Now()
	cur := ts.cur
	if rejected == "" && cur.fresh(now) ||
		rejected != "" && cur.value != "" && cur.value != rejected && now.Before(cur.expires) {
		ts.mu.Unlock()
		return cur.value, nil
	}
	f := ts.flight
	if f == nil {
		f = &tokenFlight{done: make(chan struct{})}
		ts.flight = f
		go ts.fetch(context.WithoutCancel(ctx), f)
	}
	ts.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return "", fmt.Errorf("%s: %w", opToken, ctx.Err())
	}
	if f.err == nil {
		return f.tok.value, nil
	}
	// A refresh that failed for a passing reason (IMS unreachable, 5xx)
	// is no reason to drop a token that is still valid.
	if rejected == "" && cur.value != "" && ts.c.cfg.Now().Before(cur.expires) && !IsFatal(f.err) {
		ts.c.log.Warn("could not refresh the Adobe access token; using the current one until it expires",
			"expires", cur.expires, "err", f.err)
		return cur.value, nil
	}
	return "", f.err
}

func (ts *tokenSource) fetch(ctx context.Context, f *tokenFlight) {
	ctx, cancel := context.WithTimeout(ctx, tokenFetchTimeout)
	defer cancel()
	tok, err := ts.c.fetchToken(ctx)
	ts.mu.Lock()
	if err == nil {
		ts.cur = tok
	}
	f.tok, f.err = tok, err
	ts.flight = nil
	ts.mu.Unlock()
	close(f.done)
}

// fetchToken asks IMS for a new token (client credentials grant).
func (c *Client) fetchToken(ctx context.Context) (accessToken, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.cfg.ClientID},
		"client_secret": {c.cfg.ClientSecret},
		"scope":         {"openid,AdobeID,read_organizations"},
	}
	ans, err := c.call(ctx, apiCall{
		op:          opToken,
		method:      http.MethodPost,
		url:         c.cfg.IMSURL,
		body:        []byte(form.Encode()),
		contentType: "application/x-www-form-urlencoded",
	})
	if err != nil {
		return accessToken{}, err
	}
	var v struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(ans.body, &v); err != nil || v.AccessToken == "" {
		// Never echo the answer: it may hold a token after all.
		return accessToken{}, fmt.Errorf("%s: %s answered HTTP %d without an access_token", opToken, redact(c.cfg.IMSURL), ans.status)
	}
	if t := strings.ToLower(v.TokenType); t != "" && t != "bearer" {
		c.log.Warn("unexpected IMS token type", "token_type", v.TokenType)
	}
	lifetime := assumedLifetime
	if s, err := json.Number(strings.Trim(string(v.ExpiresIn), `"`)).Float64(); err == nil && s > 0 {
		lifetime = time.Duration(s * float64(time.Second))
	}
	now := c.cfg.Now()
	c.log.Debug("access token fetched", "expires_in", lifetime)
	return accessToken{value: v.AccessToken, expires: now.Add(lifetime), lifetime: lifetime}, nil
}

// CheckAuth fetches an access token now, so that bad credentials stop the
// run before any file is touched. A rejection is a fatal error.
func (c *Client) CheckAuth(ctx context.Context) error {
	_, err := c.tokens.get(ctx, "")
	return err
}
