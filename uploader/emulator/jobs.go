package emulator

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"hotfolder/uploader/emulator/cutout"
)

// maxSide is the Remove Background input limit in pixels, per side.
const maxSide = 6000

// maxInput bounds a downloaded input (v2 accepts up to 5 GB).
const maxInput = 5 << 30

// job is one accepted remove-background submission.
type job struct {
	id         string
	spec       jobSpec
	key        string // storage key when spec.source is an own storage URL, else ""
	created    time.Time
	latency    time.Duration
	injectFail bool
	done       chan struct{} // closed when processing has finished

	// Set before done is closed.
	finished  time.Time
	result    string // file name in the results directory
	mediaType string
	failure   *jobFailure
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

// submitRemoveBackground answers POST /v2/remove-background.
func (s *Server) submitRemoveBackground(w http.ResponseWriter, r *http.Request) {
	spec, ok := parseRemoveBackground(w, r)
	if !ok {
		return
	}
	key := s.ownKey(spec.source)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeAPIError(w, http.StatusServiceUnavailable, "runtime_error", "the emulator is shutting down")
		return
	}
	now := s.now()
	s.sweep(now)
	j := &job{
		id:         "urn:ff:jobs:emulator:" + uuid(),
		spec:       spec,
		key:        key,
		created:    now,
		latency:    s.cfg.MinLatency + time.Duration(s.rng.Int64N(int64(s.cfg.MaxLatency-s.cfg.MinLatency)+1)),
		injectFail: s.roll(s.cfg.Faults.JobFailureRate),
		done:       make(chan struct{}),
	}
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
		st.PostsPerSource[sourceKey(spec.source)]++
		st.Accepted = append(st.Accepted, Accepted{At: now, Source: sourceKey(spec.source)})
	})
	go s.run(j)
	writeJSON(w, http.StatusAccepted, struct {
		JobID     string `json:"jobId"`
		StatusURL string `json:"statusUrl"`
	}{j.id, s.baseFor(r) + statusPrefix + url.PathEscape(j.id)})
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
	name, mediaType, fail := s.process(j)
	if fail != nil && fail.interrupted && s.persistent {
		s.log.Debug("emulator job left for the next run", "job", j.id)
		return
	}
	s.mu.Lock()
	j.finished = s.now()
	j.result, j.mediaType, j.failure = name, mediaType, fail
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
		s.log.Debug("emulator job succeeded", "job", j.id, "result", name)
	}
}

// process fetches, decodes, cuts out and encodes j's image, returning the
// result's file name and media type, or why the job failed.
func (s *Server) process(j *job) (name, mediaType string, fail *jobFailure) {
	if j.injectFail {
		return "", "", failf("runtime_error", "the job failed inside the service (failure injected by the hotfolder emulator)")
	}
	if err := unsupported(j.spec.mode, j.spec.mediaType); err != nil {
		return "", "", err
	}
	s.count(func(st *Stats) { st.JobsWaiting++ })
	select {
	case s.sem <- struct{}{}:
		s.count(func(st *Stats) { st.JobsWaiting-- })
		defer func() { <-s.sem }()
	case <-s.ctx.Done():
		s.count(func(st *Stats) { st.JobsWaiting-- })
		return "", "", cutOff()
	}
	// Both cases are ready when Close cancels while a slot frees up:
	// start nothing new then.
	if s.ctx.Err() != nil {
		return "", "", cutOff()
	}

	in, fail := s.openInput(j)
	if fail != nil {
		return "", "", fail
	}
	defer in.Close()
	src, format, err := cutout.Decode(in, maxSide)
	if fail := decodeFailure(err); fail != nil {
		return "", "", fail
	}
	mediaType = j.spec.mediaType
	if mediaType == "" {
		mediaType = defaultOutput(format)
		if fail := unsupported(j.spec.mode, mediaType); fail != nil {
			fail.Message += " (output.mediaType defaults to the input's format; ask for image/png or image/jpeg)"
			return "", "", fail
		}
	}
	ext := ".png"
	if mediaType == mediaJPEG {
		ext = ".jpg"
	}
	name = uuid() + ext
	if err := s.writeResult(name, func(w io.Writer) error { return render(w, src, j.spec, mediaType) }); err != nil {
		return "", "", failf("runtime_error", "the result could not be written: %v", err)
	}
	return name, mediaType, nil
}

// unsupported reports options the emulator cannot produce. webp and psd
// are real Photoshop API outputs; the emulator has no encoder for them.
func unsupported(mode, mediaType string) *jobFailure {
	switch {
	case mode == modePSD:
		return failf("unsupported_option", "mode psd is not supported by the hotfolder emulator (use cutout or mask)")
	case mediaType == mediaWebP, mediaType == mediaPSD:
		return failf("unsupported_option", "output media type %s is not supported by the hotfolder emulator (use image/png or image/jpeg)", mediaType)
	}
	return nil
}

// defaultOutput is the output media type for an input format when the
// request names none: the input's own, and PNG for TIFF, which the API
// does not write.
func defaultOutput(f cutout.Format) string {
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

// openInput opens j's input, positioned at its start: straight from the
// storage folder when the source is one of the emulator's own storage
// URLs, downloaded otherwise. Closing it removes a downloaded copy.
func (s *Server) openInput(j *job) (io.ReadSeekCloser, *jobFailure) {
	if j.key == "" {
		return s.fetch(j.spec.source)
	}
	f, err := os.Open(s.objectPath(j.key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, failf("input_fetch_failed", "the input %s is no longer in the emulator's upload store (it was deleted)", redact(j.spec.source))
	}
	if err != nil {
		return nil, failf("input_fetch_failed", "the input %s could not be read from the emulator's upload store: %v", redact(j.spec.source), err)
	}
	return f, nil
}

// ownKey returns the storage key of source when it is a storage URL this
// emulator signed and that has not expired, whatever host and port it
// names: an earlier process on the same Dir signed with the same secret,
// and its port is gone. "" means source is fetched over HTTP.
func (s *Server) ownKey(source string) string {
	u, err := url.Parse(source)
	if err != nil || !strings.HasPrefix(u.EscapedPath(), storagePrefix) {
		return ""
	}
	key, ok := storageKeyOf(u)
	if !ok || s.checkSigned(u.Query(), storagePrefix, key) != nil {
		return ""
	}
	return key
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

type statusOutput struct {
	Destination struct {
		URL string `json:"url"`
	} `json:"destination"`
	MediaType string `json:"mediaType"`
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
	var out statusOutput
	out.Destination.URL = s.signedURL(base, resultsPrefix, j.result, modified.Add(s.cfg.ResultTTL))
	out.MediaType = j.mediaType
	b.Result = &statusResult{Outputs: []statusOutput{out}}
	return b
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
		if now.After(j.modified().Add(s.cfg.ResultTTL)) {
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
