package uploader

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	pathpkg "path"
	"strings"
	"time"
)

// Submit starts a job of step on the input at src: the input's presigned
// URL ([Upload]), or a previous job's hosted result when step
// [Step.AcceptsAnyURL]. It builds the operation's request body from the
// step's options and outputs (see body.go), uploading the files the step
// refers to if they are not in storage yet, and POSTs it to the
// operation's endpoint under [Step.Buckets]. Call [Recipe.Normalize]
// first: Submit checks the options again but fills in no rendition (a
// remove background step without one gets Adobe's default, the input's
// format). The job is not resubmitted by anything in this package: a
// retried submit (5xx, network error) is the only way one input can start
// two jobs.
func (c *Client) Submit(ctx context.Context, step Step, src string) (Job, error) {
	if src == "" {
		return Job{}, errors.New("submit: the source has no URL (upload it first)")
	}
	if err := step.checkSubmit(); err != nil {
		return Job{}, fmt.Errorf("submit: %w", err)
	}
	body, err := c.body(ctx, step, src)
	if err != nil {
		return Job{}, err
	}
	data, err := json.Marshal(body)
	if err != nil {
		return Job{}, fmt.Errorf("submit: %w", err)
	}
	endpoint := c.apiBase(step.Op) + endpoint(step.Op)
	post, _ := step.Buckets()
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
	job := Job{ID: v.JobID, StatusURL: v.StatusURL, Op: step.Op, Submitted: c.cfg.Now(), API: c.apiName(step.Op)}
	for _, r := range step.Outputs {
		job.MediaTypes = append(job.MediaTypes, r.MediaType())
	}
	if mt := mediaTypeOfURL(src); step.Op == OpAutoCrop && mt != "" {
		job.MediaTypes = []string{mt} // the crops are of the input's type
	}
	if job.StatusURL == "" {
		job.StatusURL = v.Links.Self.Href
	}
	if job.ID == "" && job.StatusURL != "" {
		if p, err := url.Parse(job.StatusURL); err == nil {
			job.ID = pathpkg.Base(p.Path)
		}
	}
	if job.ID == "" {
		return Job{}, fmt.Errorf("submit: %s answered HTTP %d without a jobId: %s", redact(endpoint), ans.status, trimBody(ans.body))
	}
	if ref, err := url.Parse(job.StatusURL); err == nil && job.StatusURL != "" && !ref.IsAbs() {
		base, _ := url.Parse(c.apiBase(step.Op) + "/")
		job.StatusURL = base.ResolveReference(ref).String()
	}
	if job.StatusURL != "" && !c.apiOrigin(job.StatusURL) {
		c.log.Warn("the API named a status URL that is not on a configured API host; polling the job on the configured one",
			"job", job.ID, "status_url", redact(job.StatusURL), "polled", redact(c.statusURL(job)))
	}
	job.StatusURL = c.pollURL(job)
	c.log.Debug("job submitted", "job", job.ID, "op", job.Op, "status_url", redact(job.StatusURL))
	return job, nil
}

// checkSubmit checks a step before its request is built: its operation,
// options and renditions, as Normalize does (without its defaults and
// files).
func (s Step) checkSubmit() error {
	if err := s.checkOp(""); err != nil {
		return err
	}
	if other := s.otherOptions(); len(other) > 0 {
		return errNotOp("", s.Op, other)
	}
	c := s
	if opts := s.options(false); opts == nil { // check the zero options
		c.options(true)
	}
	if err := c.checkOptions(""); err != nil {
		return err
	}
	rule := outputRules(s.Op)
	switch n := len(s.Outputs); {
	case s.Op == OpAutoCrop && n > 0:
		return errors.New("outputs: auto-crop takes no outputs")
	case n == 0 && s.Op != OpAutoCrop && s.Op != OpRemoveBackground:
		return fmt.Errorf("outputs: %s needs at least one (normalize the recipe first)", s.Op)
	case n > maxOutputs || s.Op == OpRemoveBackground && n > 1:
		return fmt.Errorf("outputs: %d is too many", n)
	}
	for i, r := range s.Outputs {
		if err := s.checkRendition(path("outputs").index(i), r, rule); err != nil {
			return err
		}
	}
	return nil
}

// apiName is Job.API for a job of op submitted now.
func (c *Client) apiName(op string) string {
	if c.cfg.APIName != "" {
		return c.cfg.APIName
	}
	return c.apiBase(op)
}

// apiBase is the configured base URL of op's endpoint and status:
// image.adobe.io for remove background and auto-crop (the status of a job
// is asked of the host it was submitted to, unless Adobe names another
// statusUrl on a configured host), photoshop-api.adobe.io for the rest.
func (c *Client) apiBase(op string) string {
	if onImageHost(op) {
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
// It returns every output of the job, in the order of the request's
// outputs (remove background: one; auto-crop: one per crop, in the order
// of the aspect ratios): hosted ones with their URL, embedded ones (the
// manifest) with their Content. A status naming fewer outputs than
// job.MediaTypes, or one without a URL or content, is a failed job. The
// status GETs are charged to the bucket of job.Op ([Step.Buckets]).
//
// Or it returns: a [*JobFailedError] (terminal: never resubmit), an error
// matching [ErrJobGone] (status 404), a [*TimeoutError]
// matching [ErrJobTimeout], a fatal [*APIError] (credentials), or any other
// 4xx status answer. A status request that fails for a passing reason (5xx
// or network errors after their retries, an unreadable answer) does not end
// the wait: the job is still running at Adobe and already paid for, so
// polling goes on until the deadline. 429s are waited out (through the
// Limiter) up to the deadline, not past it.
func (c *Client) Wait(ctx context.Context, job Job) ([]Result, error) {
	if err := c.sameAPI(job); err != nil {
		return nil, err
	}
	statusURL := c.pollURL(job)
	_, bucket := buckets(job.Op)
	submitted := job.Submitted
	if submitted.IsZero() {
		submitted = c.cfg.Now()
	}
	deadline := submitted.Add(c.cfg.JobTimeout)
	key := c.apiName(job.Op) + " " + job.Op
	// Planned afresh before each GET: what other jobs taught meanwhile
	// counts for this one's next.
	plan := func() pollPlan { return c.cfg.JobTimes.plan(key, c.cfg.Poll) }
	seen := seenRunning{}
	gets := 0
	var last error
	for delay := plan().first - c.cfg.Now().Sub(submitted); ; delay = plan().next(c.cfg.Now().Sub(submitted), delay) {
		wait := min(max(delay, 0), deadline.Sub(c.cfg.Now()))
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("status: job %s: %w", job.ID, err)
		}
		asked := c.cfg.Now()
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
				c.cfg.JobTimes.learnFrom(key, st, seen, asked.Sub(submitted))
				c.cfg.Observer.JobEnded("succeeded", c.cfg.Now().Sub(submitted))
				c.log.Debug("job done", "job", job.ID, "gets", gets, "took", c.cfg.Now().Sub(submitted))
				return st.outputs, nil
			case st.state == stateFailed:
				c.cfg.Observer.JobEnded("failed", c.cfg.Now().Sub(submitted))
				c.log.Debug("job failed", "job", job.ID, "gets", gets, "code", st.failure.Code)
				return nil, st.failure
			default:
				c.log.Debug("job running", "job", job.ID, "status", st.raw, "gets", gets)
				seen = seenRunning{at: asked.Sub(submitted), ok: true}
				last = nil
			}
		} else {
			if ctx.Err() != nil {
				return nil, err
			}
			var ae *APIError
			if errors.As(err, &ae) && ae.Op == opStatus && ae.StatusCode == http.StatusNotFound {
				c.cfg.Observer.JobEnded("gone", c.cfg.Now().Sub(submitted))
				c.log.Debug("job gone", "job", job.ID, "gets", gets)
				return nil, &jobGoneError{jobID: job.ID, api: ae}
			}
			if errors.As(err, &ae) && ae.StatusCode < 500 && ae.StatusCode != http.StatusTooManyRequests {
				c.log.Debug("job status refused", "job", job.ID, "gets", gets, "status", ae.StatusCode)
				return nil, err
			}
			if !errors.As(err, &ae) && !isNetError(err) {
				return nil, err // e.g. a token error
			}
			c.log.Warn("job status unavailable; still polling", "job", job.ID, "err", err)
			last = err
		}
		if now := c.cfg.Now(); !now.Before(deadline) {
			c.log.Debug("job timed out", "job", job.ID, "gets", gets)
			c.cfg.Observer.JobEnded("timeout", now.Sub(submitted))
			return nil, &TimeoutError{JobID: job.ID, Waited: now.Sub(submitted), Gets: gets, Last: last}
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
	outputs []Result
	failure *JobFailedError
	took    time.Duration // modifiedTime - createdTime, when the answer gives both; else 0
}

// seenRunning is when, since its submission, a job was last seen running.
type seenRunning struct {
	at time.Duration
	ok bool
}

// learnFrom learns how long a job of key took from its status st, which
// came at since its submission: modifiedTime - createdTime, or else the
// middle of the last GET that saw it running and this one.
func (t *JobTimes) learnFrom(key string, st jobStatus, seen seenRunning, since time.Duration) {
	switch {
	case t == nil:
	case st.took > 0:
		t.learn(key, st.took)
	case seen.ok:
		t.learn(key, (seen.at+since)/2)
	}
}

// statusOutput is one output in any of the shapes Adobe has used, or an
// auto-crop result (AutoCropOutput).
type statusOutput struct {
	Status      string `json:"status"`
	MediaType   string `json:"mediaType"`
	Type        string `json:"type"`
	URL         string `json:"url"`
	Href        string `json:"href"`
	Destination *struct {
		URL      string          `json:"url"`
		Href     string          `json:"href"`
		Embedded string          `json:"embedded"`
		Content  json.RawMessage `json:"content"`
	} `json:"destination"`
	Links struct {
		Renditions []statusOutput `json:"renditions"`
	} `json:"_links"`
	Errors       json.RawMessage `json:"errors"`
	ErrorDetails json.RawMessage `json:"errorDetails"`
	autoCropOutput
}

// autoCropOutput is what auto-crop returns: crops (one per aspect ratio),
// the subject's, and detected objects, each with bounding boxes whose url
// is the cropped image.
type autoCropOutput struct {
	Crops   []autoCropItem `json:"crops"`
	Subject []autoCropItem `json:"subject"`
	Objects []autoCropItem `json:"objects"`
}

type autoCropItem struct {
	BoundingBoxes []struct {
		URL string `json:"url"`
	} `json:"boundingBoxes"`
}

// statusAnswer is a status answer, v2 or v1, read tolerantly.
type statusAnswer struct {
	Status       string `json:"status"`
	JobID        string `json:"jobId"`
	CreatedTime  string `json:"createdTime"`
	ModifiedTime string `json:"modifiedTime"`
	Result       struct {
		Outputs json.RawMessage `json:"outputs"` // an array; Adobe's spec says an object (§9 #1)
		autoCropOutput
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
	var outs []statusOutput
	if len(a.Result.Outputs) > 0 {
		var list []statusOutput
		var one statusOutput
		switch {
		case json.Unmarshal(a.Result.Outputs, &list) == nil:
			outs = list
		case json.Unmarshal(a.Result.Outputs, &one) == nil:
			outs = []statusOutput{one}
		}
	}
	outs = append(outs, a.Outputs...)
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
	st := jobStatus{raw: raw, took: jobTook(a.CreatedTime, a.ModifiedTime)}
	switch strings.ToLower(raw) {
	case "succeeded":
		var f *JobFailedError
		switch job.Op {
		case OpRemoveBackground, "":
			want := ""
			if len(job.MediaTypes) > 0 {
				want = job.MediaTypes[0]
			}
			if out, ok := pickOutput(a, outs, want); ok {
				st.outputs = []Result{out}
			} else {
				f = &JobFailedError{Code: "no_output", Message: "the job succeeded but its status names no http(s) output URL"}
			}
		case OpAutoCrop:
			st.outputs, f = autoCropResults(job, a, outs)
		default:
			st.outputs, f = jobResults(job, outs)
		}
		if f != nil {
			f.JobID, f.Body = job.ID, trimBody(body)
			st.state, st.failure = stateFailed, f
			return st, nil
		}
		st.state = stateSucceeded
	case "failed":
		st.state, st.failure = stateFailed, jobFailure(job, a, outs, body)
	default:
		st.state = stateRunning
	}
	return st, nil
}

// jobResults reads the outputs of a photoshop-api job: one per output of
// the request, in its order (the status mirrors the request's outputs),
// each hosted (a URL) or embedded (its content).
func jobResults(job Job, outs []statusOutput) ([]Result, *JobFailedError) {
	if len(outs) == 0 {
		return nil, &JobFailedError{Code: "no_output", Message: "the job succeeded but its status names no output"}
	}
	if n := len(job.MediaTypes); n > 0 && len(outs) != n {
		return nil, &JobFailedError{Code: "no_output",
			Message: fmt.Sprintf("the job succeeded but its status names %d outputs for the %d requested", len(outs), n)}
	}
	var res []Result
	for i, o := range outs {
		r := Result{MediaType: firstNonEmpty(o.MediaType, o.Type)}
		if r.MediaType == "" && i < len(job.MediaTypes) {
			r.MediaType = job.MediaTypes[i]
		}
		if d := o.Destination; d != nil && len(d.Content) > 0 && string(d.Content) != "null" {
			content, err := embedded(d.Embedded, d.Content)
			if err != nil {
				return nil, &JobFailedError{Code: "no_output", Message: fmt.Sprintf("output %d: %v", i+1, err)}
			}
			r.Content = content
			res = append(res, r)
			continue
		}
		var urls []string
		if d := o.Destination; d != nil {
			urls = append(urls, d.URL, d.Href)
		}
		urls = append(urls, o.URL, o.Href)
		for _, l := range o.Links.Renditions {
			urls = append(urls, l.Href, l.URL)
		}
		for _, u := range urls {
			if httpURL(u) {
				r.URL = u
				break
			}
		}
		if r.URL == "" {
			return nil, &JobFailedError{Code: "no_output",
				Message: fmt.Sprintf("the job succeeded but output %d of its status has no http(s) URL or content", i+1)}
		}
		res = append(res, r)
	}
	return res, nil
}

// embedded decodes an embedded output's content: a string as it is,
// base64 decoded, json as its JSON text.
func embedded(kind string, content json.RawMessage) ([]byte, error) {
	var s string
	isString := json.Unmarshal(content, &s) == nil
	switch {
	case kind == "base64":
		if !isString {
			return nil, errors.New("base64 content that is not a string")
		}
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("base64 content that does not decode: %v", err)
		}
		return b, nil
	case isString:
		return []byte(s), nil // string, or JSON sent as its text
	}
	return bytes.TrimSpace(bytes.Clone(content)), nil
}

// autoCropResults reads an auto-crop status: the URL of each crop's
// image, in the order of the aspect ratios, then those of the subject and
// objects detected (the detection modes). Where the AutoCropOutput sits
// is undocumented (photoshop-v2-ops.md §6): it is looked for in
// result.outputs[] and in result; plain outputs with URLs are taken too.
func autoCropResults(job Job, a statusAnswer, outs []statusOutput) ([]Result, *JobFailedError) {
	mt := ""
	if len(job.MediaTypes) > 0 {
		mt = job.MediaTypes[0]
	}
	var res []Result
	add := func(items []autoCropItem) {
		for _, it := range items {
			for _, b := range it.BoundingBoxes {
				if httpURL(b.URL) {
					res = append(res, Result{URL: b.URL, MediaType: mt})
				}
			}
		}
	}
	groups := append([]autoCropOutput{a.Result.autoCropOutput}, func() []autoCropOutput {
		var g []autoCropOutput
		for _, o := range outs {
			g = append(g, o.autoCropOutput)
		}
		return g
	}()...)
	for _, g := range groups {
		add(g.Crops)
	}
	for _, g := range groups {
		add(g.Subject)
		add(g.Objects)
	}
	if len(res) == 0 {
		for _, o := range outs {
			for _, u := range []string{o.URL, o.Href} {
				if httpURL(u) {
					res = append(res, Result{URL: u, MediaType: firstNonEmpty(o.MediaType, mt)})
				}
			}
			if d := o.Destination; d != nil && httpURL(d.URL) {
				res = append(res, Result{URL: d.URL, MediaType: firstNonEmpty(o.MediaType, mt)})
			}
		}
	}
	if len(res) == 0 {
		return nil, &JobFailedError{Code: "no_output", Message: "the job succeeded but its status names no cropped image"}
	}
	return res, nil
}

// httpURL reports whether u is an absolute http(s) URL.
func httpURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "https" || p.Scheme == "http") && p.Host != ""
}

// pickOutput chooses the hosted result of a remove background job: the
// first http(s) URL, preferring one of the requested media type.
func pickOutput(a statusAnswer, outs []statusOutput, want string) (Result, bool) {
	var cands []Result
	add := func(u, mt string) {
		if httpURL(u) {
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

// jobTook is modified - created, both RFC 3339 times, or 0 when either is
// missing or unreadable.
func jobTook(created, modified string) time.Duration {
	c, err1 := time.Parse(time.RFC3339Nano, created)
	m, err2 := time.Parse(time.RFC3339Nano, modified)
	if err1 != nil || err2 != nil || !m.After(c) {
		return 0
	}
	return m.Sub(c)
}
