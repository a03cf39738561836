package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"hotfolder/uploader/emulator/cutout"
)

// maxSide is the Remove Background input limit in pixels, per side.
const maxSide = 6000

// maxInput bounds a downloaded input (v2 accepts up to 5 GB).
const maxInput = 5 << 30

// job is one accepted submission of any operation.
type job struct {
	id string
	// op is the operation; "" is remove background (spec describes it),
	// the others have their request in body and req.
	op         string
	spec       jobSpec
	body       []byte  // the request body, compact JSON (not remove background)
	req        request // body, parsed
	key        string  // storage key when spec.source is an own storage URL, else ""
	local      map[string]string
	created    time.Time
	latency    time.Duration
	injectFail bool
	done       chan struct{} // closed when processing has finished

	// Set before done is closed.
	finished  time.Time
	result    string // remove background: file name in the results directory
	mediaType string // remove background: the result's media type
	outputs   []outputRecord
	autoCrop  *autoCropResult
	failure   *jobFailure
}

// outcome is what processing a job produced.
type outcome struct {
	result, mediaType string
	outputs           []outputRecord
	autoCrop          *autoCropResult
}

// jobFailure is what a failed job reports in errorDetails.
type jobFailure struct {
	Code    string `json:"errorCode"`
	Message string `json:"message"`
	// interrupted: Close stopped the job before it could run, which says
	// nothing about the job; a persistent emulator runs it again later.
	interrupted bool
}

func (f *jobFailure) Error() string { return f.Code + ": " + f.Message }

func failf(code, format string, args ...any) *jobFailure {
	return &jobFailure{Code: code, Message: fmt.Sprintf(format, args...)}
}

// cutOff is the failure of a job that Close stopped before it ran.
func cutOff() *jobFailure {
	f := failf("runtime_error", "the emulator shut down before the job ran")
	f.interrupted = true
	return f
}

// sourceKey is the source URL's path: re-signed URLs of one upload share it.
func sourceKey(source string) string {
	u, err := url.Parse(source)
	if err != nil {
		return source
	}
	return u.Path
}

// run processes j and records the outcome. A job Close cut off in a
// persistent directory is left unfinished, on disk as in memory, for the
// next emulator to run.
func (s *Server) run(j *job) {
	defer s.wg.Done()
	out, fail := s.process(j)
	if fail != nil && fail.interrupted && s.persistent {
		s.log.Debug("emulator job left for the next run", "job", j.id)
		return
	}
	s.mu.Lock()
	j.finished = s.now()
	j.result, j.mediaType, j.outputs, j.autoCrop, j.failure = out.result, out.mediaType, out.outputs, out.autoCrop, fail
	if fail != nil {
		s.stats.JobsFailed++
	} else {
		s.stats.JobsSucceeded++
	}
	s.mu.Unlock()
	// Saved before anyone sees the outcome, so that the next emulator
	// reports the same one (and the same result URL).
	if err := s.saveJob(j, true); err != nil {
		s.log.Error("emulator cannot record a job's outcome; the next run will run it again", "job", j.id, "err", err)
	}
	close(j.done)
	if fail != nil {
		s.log.Debug("emulator job failed", "job", j.id, "code", fail.Code, "message", fail.Message)
	} else {
		s.log.Debug("emulator job succeeded", "job", j.id, "op", opByName(j.op).name, "files", j.files())
	}
}

// process runs j: waits for a worker, then does the operation's work.
func (s *Server) process(j *job) (outcome, *jobFailure) {
	if j.injectFail {
		return outcome{}, failf("runtime_error", "the job failed inside the service (failure injected by the hotfolder emulator)")
	}
	s.count(func(st *Stats) { st.JobsWaiting++ })
	select {
	case s.sem <- struct{}{}:
		s.count(func(st *Stats) { st.JobsWaiting-- })
		defer func() { <-s.sem }()
	case <-s.ctx.Done():
		s.count(func(st *Stats) { st.JobsWaiting-- })
		return outcome{}, cutOff()
	}
	// Both cases are ready when Close cancels while a slot frees up:
	// start nothing new then.
	if s.ctx.Err() != nil {
		return outcome{}, cutOff()
	}
	var out outcome
	var fail *jobFailure
	switch q := j.req.(type) {
	case *editRequest:
		out.outputs, fail = s.processEdit(j, q)
	case *actionsRequest:
		out.outputs, fail = s.processActions(j, q)
	case *compositeRequest:
		out.outputs, fail = s.processComposite(j, q)
	case *manifestRequest:
		out.outputs, fail = s.processManifest(j, q)
	case *autoCropRequest:
		out.autoCrop, fail = s.processAutoCrop(j, q)
	default:
		out.result, out.mediaType, fail = s.removeBackground(j)
	}
	if fail != nil {
		return outcome{}, fail
	}
	return out, nil
}

// removeBackground fetches, decodes, cuts out and encodes j's image,
// returning the result's file name and media type, or why the job failed.
func (s *Server) removeBackground(j *job) (name, mediaType string, fail *jobFailure) {
	in, fail := s.openSource(j, j.spec.source)
	if fail != nil {
		return "", "", fail
	}
	defer in.Close()
	src, format, err := cutout.Decode(in, maxSide)
	if fail := decodeFailure(err); fail != nil {
		return "", "", fail
	}
	mediaType = outputMediaType(j.spec, format)
	name = uuid() + extensions[mediaType]
	if err := s.writeResult(name, func(w io.Writer) error { return render(w, src, j.spec, mediaType) }); err != nil {
		return "", "", failf("runtime_error", "the result could not be written: %v", err)
	}
	return name, mediaType, nil
}

// outputMediaType is the media type of a remove-background result: a PSD
// in psd mode, else the requested one, else the input's format (PNG for
// TIFF, which the service does not write).
func outputMediaType(spec jobSpec, f cutout.Format) string {
	switch {
	case spec.mode == modePSD:
		return mediaPSD
	case spec.mediaType != "":
		return spec.mediaType
	}
	switch f {
	case cutout.JPEG:
		return mediaJPEG
	case cutout.WebP:
		return mediaWebP
	}
	return mediaPNG
}

func decodeFailure(err error) *jobFailure {
	var big *cutout.TooLargeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &big):
		return failf("input_too_large", "the input image is %d×%d pixels; Remove Background accepts at most %d×%d",
			big.Width, big.Height, big.Max, big.Max)
	case errors.Is(err, cutout.ErrUnsupportedFormat):
		return failf("unsupported_input", "the input is not a JPEG, PNG, WebP or TIFF image")
	}
	return failf("input_unreadable", "the input image could not be decoded: %v", err)
}

// tempInput is a downloaded input; Close removes it.
type tempInput struct{ *os.File }

func (t tempInput) Close() error {
	err := t.File.Close()
	os.Remove(t.Name())
	return err
}

// fetch downloads a job's input to a temporary file, positioned at its
// start. Messages name the URL without its query, which holds a signature.
func (s *Server) fetch(source string) (io.ReadSeekCloser, *jobFailure) {
	shown := redact(source)
	req, err := http.NewRequestWithContext(s.ctx, http.MethodGet, source, nil)
	if err != nil {
		return nil, failf("input_fetch_failed", "the input could not be downloaded from %s: %v", shown, err)
	}
	resp, err := s.hc.Do(req)
	if s.ctx.Err() != nil {
		if err == nil {
			resp.Body.Close()
		}
		return nil, cutOff()
	}
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, failf("input_fetch_failed", "the input could not be downloaded from %s: %v", shown, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, failf("input_fetch_failed", "the input could not be downloaded from %s: HTTP %s", shown, resp.Status)
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, workDir), "input-*")
	if err != nil {
		return nil, failf("runtime_error", "the input could not be stored: %v", err)
	}
	n, err := io.Copy(f, io.LimitReader(resp.Body, maxInput+1))
	if err == nil && n > maxInput {
		err = errors.New("larger than 5 GB")
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		if s.ctx.Err() != nil {
			return nil, cutOff()
		}
		return nil, failf("input_fetch_failed", "the input could not be downloaded from %s: %v", shown, err)
	}
	return tempInput{f}, nil
}

// redact drops a URL's query (signatures) for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the given URL"
	}
	if u.RawQuery == "" {
		return u.String()
	}
	u.RawQuery, u.User = "", nil
	return u.String() + " (query removed)"
}

// statusBody is the answer of GET /v2/status/{jobId}.
type statusBody struct {
	JobID        string        `json:"jobId"`
	Status       string        `json:"status"`
	CreatedTime  string        `json:"createdTime,omitempty"`
	ModifiedTime string        `json:"modifiedTime,omitempty"`
	Result       *statusResult `json:"result,omitempty"`
	ErrorDetails []*jobFailure `json:"errorDetails,omitempty"`
}

type statusResult struct {
	Outputs []statusOutput `json:"outputs"`
}

// statusOutput is one entry of result.outputs: the request's output
// echoed, with its destination rewritten (or, for auto-crop, a whole
// AutoCropOutput).
type statusOutput struct {
	Destination statusDestination `json:"destination"`
	MediaType   string            `json:"mediaType"`
	echo        json.RawMessage   // the request's other output fields
	whole       json.RawMessage   // replaces everything when set
}

type statusDestination struct {
	URL      string          `json:"url,omitempty"`
	Embedded string          `json:"embedded,omitempty"`
	Content  json.RawMessage `json:"content,omitempty"`
}

// MarshalJSON merges the echoed request fields into the output.
func (o statusOutput) MarshalJSON() ([]byte, error) {
	if o.whole != nil {
		return o.whole, nil
	}
	m := make(map[string]any)
	var echo map[string]json.RawMessage
	if len(o.echo) > 0 && json.Unmarshal(o.echo, &echo) == nil {
		for k, v := range echo {
			m[k] = v
		}
	}
	m["destination"] = o.Destination
	m["mediaType"] = o.MediaType
	return json.Marshal(m)
}

// timeFormat is how Adobe writes createdTime and modifiedTime.
const timeFormat = "2006-01-02T15:04:05.000Z"

// statusOf reports j at time now: pending for the first fifth of its
// latency, running until the latency has passed and processing finished.
func (s *Server) statusOf(j *job, now time.Time, base string) statusBody {
	elapsed := now.Sub(j.created)
	if elapsed < j.latency/5 {
		return statusBody{JobID: j.id, Status: "pending"}
	}
	select {
	case <-j.done:
	default:
		return statusBody{JobID: j.id, Status: "running"}
	}
	if elapsed < j.latency {
		return statusBody{JobID: j.id, Status: "running"}
	}
	modified := j.modified()
	b := statusBody{
		JobID:        j.id,
		CreatedTime:  j.created.UTC().Format(timeFormat),
		ModifiedTime: modified.UTC().Format(timeFormat),
	}
	if j.failure != nil {
		b.Status = "failed"
		b.ErrorDetails = []*jobFailure{j.failure}
		return b
	}
	b.Status = "succeeded"
	b.Result = &statusResult{Outputs: []statusOutput{}}
	switch {
	case j.autoCrop != nil:
		until := modified.Add(s.cfg.ResultTTL)
		b.Result.Outputs = append(b.Result.Outputs, statusOutput{whole: autoCropJSON(j.autoCrop, func(file string) string {
			return s.signedURL(base, resultsPrefix, file, until)
		})})
	case j.op != "":
		for _, o := range j.outputs {
			out := statusOutput{MediaType: o.MediaType, echo: o.Echo}
			switch {
			case o.Hosted != "":
				out.Destination.URL = s.signedURL(base, resultsPrefix, o.Hosted, modified.Add(time.Duration(o.Validity)*time.Second))
			case o.URL != "":
				out.Destination.URL = o.URL
			default:
				out.Destination.Embedded, out.Destination.Content = o.Embedded, o.Content
			}
			b.Result.Outputs = append(b.Result.Outputs, out)
		}
	default:
		var out statusOutput
		out.Destination.URL = s.signedURL(base, resultsPrefix, j.result, modified.Add(s.cfg.ResultTTL))
		out.MediaType = j.mediaType
		b.Result.Outputs = append(b.Result.Outputs, out)
	}
	return b
}

// retention is how long after it ended a job's status and results are
// kept: ResultTTL, or longer when a hosted output's validityPeriod is.
func (s *Server) retention(j *job) time.Duration {
	d := s.cfg.ResultTTL
	for _, o := range j.outputs {
		d = max(d, time.Duration(o.Validity)*time.Second)
	}
	return d
}

// modified is when a finished job ended, as its status reports it.
func (j *job) modified() time.Time {
	return maxTime(j.created.Add(j.latency), j.finished)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sweep forgets finished jobs, and deletes their results and files, once
// their results have expired; at most once a minute. Call with s.mu held.
func (s *Server) sweep(now time.Time) {
	if now.Sub(s.swept) < time.Minute {
		return
	}
	s.swept = now
	for _, j := range s.jobs {
		select {
		case <-j.done:
		default:
			continue
		}
		if now.After(j.modified().Add(s.retention(j))) {
			s.forget(j)
		}
	}
}

// uuid returns a random version-4 UUID.
func uuid() string {
	b := []byte(randomHex(16))
	b[12] = '4'
	b[16] = "89ab"[b[16]%4]
	return fmt.Sprintf("%s-%s-%s-%s-%s", b[0:8], b[8:12], b[12:16], b[16:20], b[20:32])
}
