package uploader

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Credentials (the bearer token and the client id in x-api-key) go only to
// the configured API hosts: -image-api-url and -photoshop-api-url. A status
// URL recorded by an earlier run, or named by an answer, may point anywhere
// (an endpoint used before, a dead port of an earlier emulator, plain http);
// the client never sends credentials there. It rebuilds the URL from the
// job id on the configured host instead, and does not follow a redirect off
// the configured hosts with credentials.

// origin returns u's scheme and host, lowercased, with the scheme's default
// port dropped: two URLs with the same origin reach the same server.
func origin(u *url.URL) string {
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if h, port, err := net.SplitHostPort(host); err == nil &&
		(scheme == "https" && port == "443" || scheme == "http" && port == "80") {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	return scheme + "://" + host
}

// apiOrigin reports whether rawURL is on one of the configured API hosts,
// the only ones credentials are sent to.
func (c *Client) apiOrigin(rawURL string) bool {
	u, err := url.Parse(rawURL)
	return err == nil && u.IsAbs() && slices.Contains(c.origins, origin(u))
}

// errForeignHost is a request with credentials to a host that is not a
// configured API host. It is a bug or a stale record, never sent.
var errForeignHost = errors.New("not a configured API host (-image-api-url, -photoshop-api-url): credentials are never sent there")

// checkRedirect stops a request with credentials from following a redirect
// off the configured API hosts (net/http keeps custom headers such as
// x-api-key across hosts).
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.Header.Get("x-api-key") != "" && !slices.Contains(c.origins, origin(req.URL)) {
		return fmt.Errorf("redirected to %s: %w", redact(req.URL.String()), errForeignHost)
	}
	return nil
}

// OtherAPIError is a job an earlier run submitted to another API than this
// run's (another endpoint, or an earlier emulator): this run cannot ask for
// its status without sending credentials elsewhere. It matches [ErrJobGone],
// so the input is submitted again, once, to this run's API.
type OtherAPIError struct {
	JobID    string
	Was, Now string // the API the job was submitted to, and this run's
}

func (e *OtherAPIError) Error() string {
	was := e.Was
	if was == "" {
		was = "an API this run does not use"
	}
	return fmt.Sprintf("status: job %s was submitted to %s, and this run uses %s: its status cannot be asked for here",
		e.JobID, was, e.Now)
}

func (e *OtherAPIError) Unwrap() error { return ErrJobGone }

// Hint says what happens and what to do.
func (e *OtherAPIError) Hint() string {
	return "the file is submitted again, once, to this run's API; to finish the earlier job instead, " +
		"run with the endpoints (-image-api-url, -photoshop-api-url) it was submitted to"
}
