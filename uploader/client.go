package uploader

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// OpRemoveBackground is the [Job.Op] of a remove background job.
const OpRemoveBackground = "remove-background"

// Default endpoints, used when the Config leaves them empty.
const (
	DefaultIMSURL          = "https://ims-na1.adobelogin.com/ims/token/v3"
	DefaultImageAPIURL     = "https://image.adobe.io"
	DefaultPhotoshopAPIURL = "https://photoshop-api.adobe.io"
)

// MaxSide is the largest width or height remove background accepts.
const MaxSide = 6000

// Config configures a [Client]. ClientID, ClientSecret, Storage and Limiter
// are required; every other zero field takes the default its comment names.
type Config struct {
	// ClientID and ClientSecret are the OAuth server-to-server credential
	// (ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET). Neither is ever logged or put
	// in an error.
	ClientID, ClientSecret string

	IMSURL          string // full token URL; default DefaultIMSURL
	ImageAPIURL     string // base of /v2/remove-background, /v1/auto-crop and their /v2/status/{id}; default DefaultImageAPIURL
	PhotoshopAPIURL string // base of /v2/edit, /v2/execute-actions, /v2/create-composite, /v2/generate-manifest and their status; default DefaultPhotoshopAPIURL

	// APIName names the service jobs are submitted to, for [Job.API]: a
	// later run polls a journaled job only if its API has the same name.
	// Default: the endpoint's base URL. The built-in emulator, whose URL
	// changes with every run, gives its stable identity here.
	APIName string

	// HTTPClient sends every request. Nil means a client with dial, TLS and
	// response-header timeouts but no overall timeout, since results can be
	// large.
	HTTPClient *http.Client

	Storage Storage // where inputs are uploaded for Adobe to fetch
	Limiter Limiter // paces API requests (not token, storage or download requests)

	KeyPrefix string // storage key prefix, e.g. "hotfolder"

	// ResultValidity is how long Adobe keeps a job's hosted outputs
	// (validityPeriod, 1 minute to 24 hours); default 1 hour.
	ResultValidity time.Duration

	// KeepUploads leaves the auxiliary files (action files, presets,
	// watermarks…) in storage at Close.
	KeepUploads bool

	JobTimeout time.Duration // deadline of a job, from its submission; default 10m
	Poll       PollPolicy    // status polling until JobTimes knows better; zero fields take its defaults
	// JobTimes, when set, learns how long jobs take and times the status
	// GETs by it; shared by every client of a process, it may be seeded
	// from an earlier run's journal. nil polls by Poll alone.
	JobTimes *JobTimes
	Retry    RetryPolicy // retries of 5xx and network errors; zero fields take its defaults

	// StallTimeout abandons, and retries, an API request that gets no answer
	// or a download that receives no bytes for this long; default 2m.
	StallTimeout time.Duration

	// Test seams. Now defaults to time.Now, After to time.After (every
	// wait goes through it) and Rand, which draws the jitter in [0, 1), to
	// math/rand/v2's Float64.
	Now   func() time.Time
	After func(d time.Duration) <-chan time.Time
	Rand  func() float64

	Logger *slog.Logger // default: discard

	// Observer is told of every request, job end and transfer, for
	// metrics; nil means none.
	Observer Observer
}

// JobTimes is the client's memory of job durations (Config.JobTimes), nil
// when it has none.
func (c *Client) JobTimes() *JobTimes { return c.cfg.JobTimes }

// PollPolicy is how a job's status is polled: the first GET Initial after
// submission, then each wait Factor times the previous one, at most Max.
// The defaults are Adobe's guidance.
type PollPolicy struct {
	Initial time.Duration // default 2s
	Factor  float64       // default 1.5; values below 1 take the default
	Max     time.Duration // default 30s
}

// RetryPolicy is how 5xx answers and network errors are retried: up to
// Retries more attempts after the first, the nth after a random wait in
// [0, min(Max, Base·2^(n-1))) (exponential back-off with full jitter).
type RetryPolicy struct {
	Retries int           // default 3; negative means none
	Base    time.Duration // default 1s
	Max     time.Duration // default 20s
}

// Client talks to the Photoshop API on behalf of hotfolder's workers.
//
// A Client is safe for concurrent use; it caches one access token for all
// callers. Make it with [New]; the zero value is not usable.
type Client struct {
	cfg     Config       // with defaults applied
	hc      *http.Client // uploads' presigning aside, every request goes through it
	apiHC   *http.Client // hc, not following redirects off the API hosts with credentials
	origins []string     // the configured API hosts: the only ones credentials go to
	log     *slog.Logger
	tokens  *tokenSource
	aux     auxStore // auxiliary files uploaded (aux.go)
}

// New checks cfg, applies its defaults and returns a Client. It sends no
// request: call [Client.CheckAuth] to test the credentials.
func New(cfg Config) (*Client, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("uploader: the client id and secret are required (ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET)")
	}
	if cfg.Storage == nil {
		return nil, errors.New("uploader: no storage configured")
	}
	if cfg.Limiter == nil {
		return nil, errors.New("uploader: no rate limiter configured")
	}
	for _, u := range []struct {
		field *string
		name  string
		def   string
	}{
		{&cfg.IMSURL, "IMS URL (-ims-url)", DefaultIMSURL},
		{&cfg.ImageAPIURL, "image API URL (-image-api-url)", DefaultImageAPIURL},
		{&cfg.PhotoshopAPIURL, "Photoshop API URL (-photoshop-api-url)", DefaultPhotoshopAPIURL},
	} {
		if *u.field == "" {
			*u.field = u.def
		}
		p, err := url.Parse(*u.field)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("uploader: %s %q is not an http(s) URL", u.name, redact(*u.field))
		}
	}
	cfg.ImageAPIURL = strings.TrimRight(cfg.ImageAPIURL, "/")
	cfg.PhotoshopAPIURL = strings.TrimRight(cfg.PhotoshopAPIURL, "/")
	switch {
	case cfg.ResultValidity == 0:
		cfg.ResultValidity = defaultValidity * time.Second
	case cfg.ResultValidity < time.Minute || cfg.ResultValidity > 24*time.Hour:
		return nil, fmt.Errorf("uploader: the result validity %s is out of 1m…24h", cfg.ResultValidity)
	}
	if cfg.JobTimeout < 0 || cfg.StallTimeout < 0 {
		return nil, errors.New("uploader: the job and stall timeouts cannot be negative")
	}
	if cfg.JobTimeout == 0 {
		cfg.JobTimeout = 10 * time.Minute
	}
	if cfg.StallTimeout == 0 {
		cfg.StallTimeout = 2 * time.Minute
	}
	cfg.Poll = cfg.Poll.withDefaults()
	cfg.Retry = cfg.Retry.withDefaults()
	cfg.KeyPrefix = strings.Trim(cfg.KeyPrefix, "/")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient()
	}
	c := &Client{cfg: cfg, hc: hc, log: cfg.Logger}
	for _, base := range []string{cfg.ImageAPIURL, cfg.PhotoshopAPIURL} {
		u, _ := url.Parse(base) // checked above
		c.origins = append(c.origins, origin(u))
	}
	api := *hc
	api.CheckRedirect = c.checkRedirect
	c.apiHC = &api
	c.tokens = &tokenSource{c: c}
	return c, nil
}

// defaultHTTPClient bounds every phase of a request except reading the body,
// which for a large result may rightly take long (StallTimeout watches it).
func defaultHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ExpectContinueTimeout: time.Second,
	}}
}

func (p PollPolicy) withDefaults() PollPolicy {
	if p.Initial <= 0 {
		p.Initial = 2 * time.Second
	}
	if p.Factor < 1 {
		p.Factor = 1.5
	}
	if p.Max <= 0 {
		p.Max = 30 * time.Second
	}
	p.Max = max(p.Max, p.Initial)
	return p
}

func (r RetryPolicy) withDefaults() RetryPolicy {
	switch {
	case r.Retries == 0:
		r.Retries = 3
	case r.Retries < 0:
		r.Retries = 0
	}
	if r.Base <= 0 {
		r.Base = time.Second
	}
	if r.Max <= 0 {
		r.Max = 20 * time.Second
	}
	return r
}

// ceiling is the upper bound of the nth retry's random wait (n ≥ 1).
func (r RetryPolicy) ceiling(n int) time.Duration {
	d := r.Base
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}

// redact returns u with only its scheme, host and path: presigned URLs
// carry their signature in the query, which must never reach a log or an
// error.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			return u[:i]
		}
		return u
	}
	p.User, p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = nil, "", false, "", ""
	return p.String()
}
