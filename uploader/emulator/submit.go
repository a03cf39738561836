package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

// maxRequestBody bounds a submission's JSON body: Adobe asks for "overall
// request payload size below 1 MB".
const maxRequestBody = 1 << 20

// request is a parsed, schema-valid request body of an operation.
type request interface {
	// rules reports what the spec states in prose only.
	rules() []fieldError
}

// operation is one POST endpoint that starts a job.
type operation struct {
	name string
	path string
	// removeBackground: validated with the remove-background revision of
	// the spec, charged to the remove-background buckets.
	removeBackground bool
	parse            func() request
}

// operations by path.
var operations = map[string]*operation{}

func init() {
	for _, op := range []*operation{
		{name: opRemoveBackground, path: removeBackgroundPath, removeBackground: true, parse: func() request { return new(rbRequest) }},
		{name: opEdit, path: "/v2/edit", parse: func() request { return new(editRequest) }},
		{name: opActions, path: "/v2/execute-actions", parse: func() request { return new(actionsRequest) }},
		{name: opComposite, path: "/v2/create-composite", parse: func() request { return new(compositeRequest) }},
		{name: opManifest, path: "/v2/generate-manifest", parse: func() request { return new(manifestRequest) }},
		{name: opAutoCrop, path: "/v1/auto-crop", parse: func() request { return new(autoCropRequest) }},
	} {
		operations[op.path] = op
	}
}

// opByName returns the operation a job records ("" is remove background).
func opByName(name string) *operation {
	if name == "" {
		name = opRemoveBackground
	}
	for _, op := range operations {
		if op.name == name {
			return op
		}
	}
	return nil
}

// schema is the operation's request body schema.
func (op *operation) schema() *openapi3.Schema {
	sp := specs()
	if op.removeBackground {
		return requestSchema(sp.removeBackground, op.path)
	}
	return requestSchema(sp.current, op.path)
}

// validate checks a request body against the operation's schema, the
// fields it defines and its rules, returning the parsed request or what
// is wrong, field by field. Rule violations replace the unknown-field
// entries of the same fields (quality on a PNG output is "not supported
// for PNG format", not merely unknown).
func (op *operation) validate(body []byte) (request, []fieldError) {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, []fieldError{{"invalid_json", "body: " + err.Error()}}
	}
	schema := op.schema()
	var schemaErrs []fieldError
	if err := schema.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		schemaErrs = schemaFieldErrors(err)
	}
	var unknown []fieldError
	unknownFields(schema, v, nil, &unknown)
	req := op.parse()
	var ruleErrs []fieldError
	if len(schemaErrs) == 0 {
		if err := json.Unmarshal(body, req); err != nil {
			return nil, []fieldError{{errType, "body: " + err.Error()}}
		}
		ruleErrs = req.rules()
	}
	covered := make(map[string]bool)
	for _, e := range ruleErrs {
		covered[errorPath(e)] = true
	}
	errs := append(schemaErrs, ruleErrs...)
	for _, e := range unknown {
		if !covered[errorPath(e)] {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, dedupe(errs)
	}
	return req, nil
}

// errorPath is the field path an error message starts with.
func errorPath(e fieldError) string {
	p, _, _ := strings.Cut(e.Message, ": ")
	return p
}

// readBody reads a submission's JSON body, answering 400 itself when the
// content type, size or syntax is wrong.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeAPIError(w, http.StatusBadRequest, "invalid_content_type",
			"Unsupported media type: Content-Type must be application/json, got "+quoteOrNone(r.Header.Get("Content-Type")))
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_json", "the request body could not be read")
		return nil, false
	}
	if len(body) > maxRequestBody {
		writeAPIError(w, http.StatusBadRequest, "invalid_json", "the request body is larger than 1 MiB")
		return nil, false
	}
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		writeAPIError(w, http.StatusBadRequest, "invalid_json", "The request payload is having invalid JSON: "+err.Error())
		return nil, false
	}
	var c bytes.Buffer
	if err := json.Compact(&c, body); err == nil {
		body = c.Bytes()
	}
	return body, true
}

func quoteOrNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "none"
	}
	return fmt.Sprintf("%q", s)
}

// submit answers the POST of op: validation, then a job saved before its
// 202.
func (s *Server) submit(w http.ResponseWriter, r *http.Request, op *operation) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	req, errs := op.validate(body)
	if errs != nil {
		writeAPIError(w, http.StatusBadRequest, "validation_error", "Validation failed", errs...)
		return
	}
	j := &job{op: op.name, body: body, req: req, done: make(chan struct{})}
	if op.name == opRemoveBackground {
		j.op = "" // the job files of earlier emulators have no op
		j.spec = rbSpec(req.(*rbRequest))
		j.body = nil
	}
	j.local = s.localRefs(j.sources())
	if k, ok := strings.CutPrefix(j.local[j.spec.source], storageRef); ok && j.op == "" {
		j.key = k
	}
	source := j.primarySource()

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeAPIError(w, http.StatusServiceUnavailable, "runtime_error", "the emulator is shutting down")
		return
	}
	now := s.now()
	s.sweep(now)
	j.id = "urn:ff:jobs:emulator:" + uuid()
	j.created = now
	j.latency = s.cfg.MinLatency + time.Duration(s.rng.Int64N(int64(s.cfg.MaxLatency-s.cfg.MinLatency)+1))
	j.injectFail = s.roll(s.cfg.Faults.JobFailureRate)
	s.jobs[j.id] = j
	s.wg.Add(1)
	s.mu.Unlock()
	// Saved before the 202: a job the client has heard of outlives a crash.
	if err := s.saveJob(j, false); err != nil {
		s.mu.Lock()
		delete(s.jobs, j.id)
		s.mu.Unlock()
		s.wg.Done()
		s.log.Error("emulator cannot record a job", "err", err)
		writeAPIError(w, http.StatusInternalServerError, "runtime_error", "the job could not be recorded")
		return
	}
	s.count(func(st *Stats) {
		st.Jobs++
		st.PostsPerSource[sourceKey(source)]++
		st.Accepted = append(st.Accepted, Accepted{At: now, Source: sourceKey(source)})
	})
	go s.run(j)
	writeJSON(w, http.StatusAccepted, struct {
		JobID     string `json:"jobId"`
		StatusURL string `json:"statusUrl"`
	}{j.id, s.baseFor(r) + statusPrefix + url.PathEscape(j.id)})
}

// rbSpec is the remove-background job a valid request asks for.
func rbSpec(q *rbRequest) jobSpec {
	spec := jobSpec{source: q.Image.Source.URL, mode: modeCutout, trim: q.Trim}
	if q.Mode != "" {
		spec.mode = q.Mode
	}
	if q.Output != nil {
		spec.mediaType = q.Output.MediaType
	}
	if bc := q.BackgroundColor; bc != nil {
		spec.background = &color.NRGBA{uint8(bc.Red), uint8(bc.Green), uint8(bc.Blue), uint8(math.Round(bc.Alpha * 255))}
	}
	return spec
}

// sources lists every URL in j's request: the image, and the auxiliary
// inputs (and destination URLs, which are harmless here).
func (j *job) sources() []string {
	if j.op == "" {
		return []string{j.spec.source}
	}
	var v any
	json.Unmarshal(j.body, &v)
	var urls []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if u, ok := v["url"].(string); ok {
				urls = append(urls, u)
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	slices.Sort(urls)
	return slices.Compact(urls)
}

// primarySource is the URL of the job's input image, "" for a blank
// document.
func (j *job) primarySource() string {
	switch q := j.req.(type) {
	case *editRequest:
		return q.Image.Source.URL
	case *actionsRequest:
		if q.Image.Source != nil {
			return q.Image.Source.URL
		}
	case *compositeRequest:
		if q.Image.Source != nil {
			return q.Image.Source.URL
		}
	case *manifestRequest:
		return q.Image.Source.URL
	case *autoCropRequest:
		return q.Image.Source.URL
	}
	return j.spec.source
}

// parseRecorded rebuilds the parsed request of a job file's body.
func parseRecorded(opName string, body []byte) (request, error) {
	op := opByName(opName)
	if op == nil {
		return nil, fmt.Errorf("unknown operation %q", opName)
	}
	req, errs := op.validate(body)
	if errs != nil {
		return nil, errors.New("the recorded request is no longer valid: " + errs[0].Message)
	}
	return req, nil
}
