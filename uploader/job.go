package uploader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	"hotfolder/ratelimit"
)

// buckets returns the quotas op's submit and status requests are charged to
// ("" is remove background, the only operation so far).
func buckets(op string) (post, get ratelimit.Bucket) {
	if op == OpRemoveBackground || op == "" {
		return ratelimit.RemoveBackgroundPost, ratelimit.RemoveBackgroundGet
	}
	return ratelimit.Post, ratelimit.Get
}

// removeBackgroundRequest is the body of POST /v2/remove-background.
type removeBackgroundRequest struct {
	Image struct {
		Source struct {
			URL string `json:"url"`
		} `json:"source"`
	} `json:"image"`
	Mode   string `json:"mode,omitempty"`
	Output *struct {
		MediaType string `json:"mediaType"`
	} `json:"output,omitempty"`
	BackgroundColor *Color `json:"backgroundColor,omitempty"`
}

// Submit starts a remove background job on up (POST /v2/remove-background)
// with the Config's options. The job is not resubmitted by anything in this
// package: a retried submit (5xx, network error) is the only way one input
// can start two jobs.
func (c *Client) Submit(ctx context.Context, up Upload) (Job, error) {
	if up.URL == "" {
		return Job{}, errors.New("submit: the source has no URL (upload it first)")
	}
	var body removeBackgroundRequest
	body.Image.Source.URL = up.URL
	rb := c.cfg.RemoveBackground
	body.Mode = rb.Mode
	if rb.MediaType != "" {
		body.Output = &struct {
			MediaType string `json:"mediaType"`
		}{rb.MediaType}
	}
	body.BackgroundColor = rb.BackgroundColor
	data, err := json.Marshal(body)
	if err != nil {
		return Job{}, fmt.Errorf("submit: %w", err)
	}
	endpoint := c.cfg.ImageAPIURL + "/v2/remove-background"
	post, _ := buckets(OpRemoveBackground)
	ans, err := c.call(ctx, apiCall{
		op:          opSubmit,
		method:      http.MethodPost,
		url:         endpoint,
		bucket:      post,
		auth:        true,
		body:        data,
		contentType: "application/json",
	})
	if err != nil {
		return Job{}, err
	}
	var v struct {
		JobID     string `json:"jobId"`
		StatusURL string `json:"statusUrl"`
		Links     struct {
			Self struct {
				Href string `json:"href"`
			} `json:"self"`
		} `json:"_links"` // v1 answers
	}
	if err := json.Unmarshal(ans.body, &v); err != nil {
		return Job{}, fmt.Errorf("submit: %s answered HTTP %d with no job (%v): %s", redact(endpoint), ans.status, err, trimBody(ans.body))
	}
	job := Job{ID: v.JobID, StatusURL: v.StatusURL, Op: OpRemoveBackground, Submitted: c.cfg.Now(), API: c.apiName(OpRemoveBackground)}
	if job.StatusURL == "" {
		job.StatusURL = v.Links.Self.Href
	}
	if job.ID == "" && job.StatusURL != "" {
		if p, err := url.Parse(job.StatusURL); err == nil {
			job.ID = path.Base(p.Path)
		}
	}
	if job.ID == "" {
		return Job{}, fmt.Errorf("submit: %s answered HTTP %d without a jobId: %s", redact(endpoint), ans.status, trimBody(ans.body))
	}
	if ref, err := url.Parse(job.StatusURL); err == nil && job.StatusURL != "" && !ref.IsAbs() {
		base, _ := url.Parse(c.cfg.ImageAPIURL + "/")
		job.StatusURL = base.ResolveReference(ref).String()
	}
	if job.StatusURL != "" && !c.apiOrigin(job.StatusURL) {
		c.log.Warn("the API named a status URL that is not on a configured API host; polling the job on the configured one",
			"job", job.ID, "status_url", redact(job.StatusURL), "polled", redact(c.statusURL(job)))
	}
	job.StatusURL = c.pollURL(job)
	c.log.Debug("job submitted", "job", job.ID, "status_url", redact(job.StatusURL))
	return job, nil
}

// apiName is Job.API for a job of op submitted now.
func (c *Client) apiName(op string) string {
	if c.cfg.APIName != "" {
		return c.cfg.APIName
	}
	return c.apiBase(op)
}

// apiBase is the configured base URL of op's endpoint and status.
func (c *Client) apiBase(op string) string {
	if op == OpRemoveBackground || op == "" {
		return c.cfg.ImageAPIURL
	}
	return c.cfg.PhotoshopAPIURL
}

// statusURL is where job's status is when Adobe gave no statusUrl, or one
// that is not on a configured API host.
func (c *Client) statusURL(job Job) string {
	return c.apiBase(job.Op) + "/v2/status/" + url.PathEscape(job.ID)
}

// pollURL is the URL job's status is polled at: the statusUrl Adobe gave,
// if it is on a configured API host, else one built from the job id.
func (c *Client) pollURL(job Job) string {
	if job.StatusURL == "" {
		return c.statusURL(job)
	}
	if !c.apiOrigin(job.StatusURL) {
		return c.statusURL(job)
	}
	return job.StatusURL
}

// Wait polls job's status until it succeeds, fails, or its deadline
// (JobTimeout after job.Submitted) passes. The first GET is Poll.Initial
// after the call, each later wait Poll.Factor times longer, at most
// Poll.Max, and never past the deadline; one GET is made at the deadline.
//
// The status is asked of the configured API host only (see origin.go): at
// job.StatusURL when it is on it, else at the URL built from the job id. A
// job of another API (see [Job.API]) fails at once with an
// [*OtherAPIError], which matches [ErrJobGone]: no request is sent.
//
// It returns the hosted result, or: a [*JobFailedError] (terminal: never
// resubmit), an error matching [ErrJobGone] (status 404), a [*TimeoutError]
// matching [ErrJobTimeout], a fatal [*APIError] (credentials), or any other
// 4xx status answer. A status request that fails for a passing reason (5xx
// or network errors after their retries, an unreadable answer) does not end
// the wait: the job is still running at Adobe and already paid for, so
// polling goes on until the deadline. 429s are waited out (through the
// Limiter) up to the deadline, not past it.
func (c *Client) Wait(ctx context.Context, job Job) (Result, error) {
	if err := c.sameAPI(job); err != nil {
		return Result{}, err
	}
	statusURL := c.pollURL(job)
	_, bucket := buckets(job.Op)
	submitted := job.Submitted
	if submitted.IsZero() {
		submitted = c.cfg.Now()
	}
	deadline := submitted.Add(c.cfg.JobTimeout)
	gets := 0
	var last error
	for delay := c.cfg.Poll.Initial; ; delay = c.cfg.Poll.next(delay) {
		wait := min(delay, deadline.Sub(c.cfg.Now()))
		if err := c.sleep(ctx, wait); err != nil {
			return Result{}, fmt.Errorf("status: job %s: %w", job.ID, err)
		}
		ans, err := c.call(ctx, apiCall{
			op:       opStatus,
			method:   http.MethodGet,
			url:      statusURL,
			bucket:   bucket,
			auth:     true,
			sent:     &gets,
			deadline: deadline,
		})
		if err == nil {
			st, err := c.parseStatus(job, ans.body)
			switch {
			case err != nil:
				last = err
			case st.state == stateSucceeded:
				c.cfg.Observer.JobEnded("succeeded", c.cfg.Now().Sub(submitted))
				c.log.Debug("job done", "job", job.ID, "gets", gets, "took", c.cfg.Now().Sub(submitted))
				return st.output, nil
			case st.state == stateFailed:
				c.cfg.Observer.JobEnded("failed", c.cfg.Now().Sub(submitted))
				c.log.Debug("job failed", "job", job.ID, "gets", gets, "code", st.failure.Code)
				return Result{}, st.failure
			default:
				c.log.Debug("job running", "job", job.ID, "status", st.raw, "gets", gets)
				last = nil
			}
		} else {
			if ctx.Err() != nil {
				return Result{}, err
			}
			var ae *APIError
			if errors.As(err, &ae) && ae.Op == opStatus && ae.StatusCode == http.StatusNotFound {
				c.cfg.Observer.JobEnded("gone", c.cfg.Now().Sub(submitted))
				c.log.Debug("job gone", "job", job.ID, "gets", gets)
				return Result{}, &jobGoneError{jobID: job.ID, api: ae}
			}
			if errors.As(err, &ae) && ae.StatusCode < 500 && ae.StatusCode != http.StatusTooManyRequests {
				c.log.Debug("job status refused", "job", job.ID, "gets", gets, "status", ae.StatusCode)
				return Result{}, err
			}
			if !errors.As(err, &ae) && !isNetError(err) {
				return Result{}, err // e.g. a token error
			}
			c.log.Warn("job status unavailable; still polling", "job", job.ID, "err", err)
			last = err
		}
		if now := c.cfg.Now(); !now.Before(deadline) {
			c.log.Debug("job timed out", "job", job.ID, "gets", gets)
			c.cfg.Observer.JobEnded("timeout", now.Sub(submitted))
			return Result{}, &TimeoutError{JobID: job.ID, Waited: now.Sub(submitted), Gets: gets, Last: last}
		}
	}
}

// sameAPI checks that job was submitted to this client's API: a job
// journaled by a run with other endpoints (or an earlier emulator) cannot
// be polled here. A job that does not say (journaled before Job.API
// existed) is taken as this API's unless its status URL is on another
// host.
func (c *Client) sameAPI(job Job) error {
	now := c.apiName(job.Op)
	switch {
	case job.API == now:
		return nil
	case job.API == "" && (job.StatusURL == "" || c.apiOrigin(job.StatusURL)):
		return nil
	}
	was := job.API
	if was == "" && job.StatusURL != "" {
		was = redact(job.StatusURL)
	}
	c.log.Debug("job of another API", "job", job.ID, "was", was, "now", now)
	return &OtherAPIError{JobID: job.ID, Was: was, Now: now}
}

func isNetError(err error) bool {
	var ne *netError
	return errors.As(err, &ne)
}

// Job states, from Adobe's free-form status string.
const (
	stateRunning = iota // pending, running, or anything unknown
	stateSucceeded
	stateFailed
)

type jobStatus struct {
	state   int
	raw     string
	output  Result
	failure *JobFailedError
}

// statusOutput is one output in any of the shapes Adobe has used.
type statusOutput struct {
	Status      string `json:"status"`
	MediaType   string `json:"mediaType"`
	Type        string `json:"type"`
	URL         string `json:"url"`
	Href        string `json:"href"`
	Destination *struct {
		URL  string `json:"url"`
		Href string `json:"href"`
	} `json:"destination"`
	Links struct {
		Renditions []statusOutput `json:"renditions"`
	} `json:"_links"`
	Errors       json.RawMessage `json:"errors"`
	ErrorDetails json.RawMessage `json:"errorDetails"`
}

// statusAnswer is a status answer, v2 or v1, read tolerantly.
type statusAnswer struct {
	Status string `json:"status"`
	JobID  string `json:"jobId"`
	Result struct {
		Outputs []statusOutput `json:"outputs"`
	} `json:"result"`
	Outputs []statusOutput `json:"outputs"` // top level (some guides, v1 psdService)
	Output  *statusOutput  `json:"output"`  // v1 sensei: one object
	Links   struct {
		Renditions []statusOutput `json:"renditions"`
	} `json:"_links"`
	ErrorDetails json.RawMessage `json:"errorDetails"`
	ErrorCode    json.RawMessage `json:"error_code"`
	Message      string          `json:"message"`
	Errors       json.RawMessage `json:"errors"`
}

// parseStatus reads a status answer. The status is compared without regard
// to case; anything but succeeded or failed means still running.
func (c *Client) parseStatus(job Job, body []byte) (jobStatus, error) {
	var a statusAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return jobStatus{}, fmt.Errorf("status: job %s: the answer is not JSON (%v): %s", job.ID, err, trimBody(body))
	}
	outs := append(append([]statusOutput{}, a.Result.Outputs...), a.Outputs...)
	if a.Output != nil {
		outs = append(outs, *a.Output)
	}
	raw := strings.TrimSpace(a.Status)
	if raw == "" {
		// v1 psdService: the status is per output.
		for _, o := range outs {
			if o.Status != "" {
				raw = strings.TrimSpace(o.Status)
				break
			}
		}
	}
	st := jobStatus{raw: raw}
	switch strings.ToLower(raw) {
	case "succeeded":
		out, ok := pickOutput(a, outs, c.cfg.RemoveBackground.MediaType)
		if !ok {
			st.state, st.failure = stateFailed, &JobFailedError{JobID: job.ID, Code: "no_output",
				Message: "the job succeeded but its status names no http(s) output URL", Body: trimBody(body)}
			return st, nil
		}
		st.state, st.output = stateSucceeded, out
	case "failed":
		st.state, st.failure = stateFailed, jobFailure(job, a, outs, body)
	default:
		st.state = stateRunning
	}
	return st, nil
}

// pickOutput chooses the hosted result: the first http(s) URL, preferring
// one of the requested media type.
func pickOutput(a statusAnswer, outs []statusOutput, want string) (Result, bool) {
	var cands []Result
	add := func(u, mt string) {
		if p, err := url.Parse(u); err == nil && (p.Scheme == "https" || p.Scheme == "http") && p.Host != "" {
			cands = append(cands, Result{URL: u, MediaType: mt})
		}
	}
	addOutput := func(o statusOutput) {
		mt := firstNonEmpty(o.MediaType, o.Type)
		if o.Destination != nil {
			add(o.Destination.URL, mt)
			add(o.Destination.Href, mt)
		}
		add(o.URL, mt)
		add(o.Href, mt)
		for _, r := range o.Links.Renditions {
			add(firstNonEmpty(r.Href, r.URL), firstNonEmpty(r.MediaType, r.Type, mt))
		}
	}
	for _, o := range outs {
		addOutput(o)
	}
	for _, r := range a.Links.Renditions {
		add(firstNonEmpty(r.Href, r.URL), firstNonEmpty(r.MediaType, r.Type))
	}
	if len(cands) == 0 {
		return Result{}, false
	}
	for _, o := range cands {
		if want != "" && strings.EqualFold(o.MediaType, want) {
			return o, true
		}
	}
	o := cands[0]
	if o.MediaType == "" {
		o.MediaType = want
	}
	return o, true
}

// jobFailure reads the reasons of a failed job from any of the shapes
// Adobe has used: errorDetails[], error_code + message, v1 errors{}, or
// errors on the outputs.
func jobFailure(job Job, a statusAnswer, outs []statusOutput, body []byte) *JobFailedError {
	var ds []detail
	ds = append(ds, parseErrors(a.ErrorDetails)...)
	if code, msg := scalar(a.ErrorCode), strings.TrimSpace(a.Message); code != "" || msg != "" {
		ds = append(ds, detail{code: code, message: msg})
	}
	ds = append(ds, parseErrors(a.Errors)...)
	for _, o := range outs {
		ds = append(ds, parseErrors(o.ErrorDetails)...)
		ds = append(ds, parseErrors(o.Errors)...)
	}
	e := &JobFailedError{JobID: job.ID, Body: trimBody(body)}
	for _, d := range ds {
		e.Details = append(e.Details, d.String())
		if e.Code == "" {
			e.Code = d.code
		}
		if e.Message == "" {
			e.Message = d.message
		}
	}
	return e
}
