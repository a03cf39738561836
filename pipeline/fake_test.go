package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"hotfolder/ratelimit"
	"hotfolder/uploader"
	"hotfolder/watcher"
)

// fakeSource sends its files in order, then returns, or with hold set waits
// for ctx to end as a watching source does.
type fakeSource struct {
	files []watcher.File
	hold  bool
	sent  chan struct{} // closed once every file was sent, if not nil
}

func (s *fakeSource) Run(ctx context.Context, out chan<- watcher.File) error {
	for _, f := range s.files {
		select {
		case out <- f:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.sent != nil {
		close(s.sent)
	}
	if s.hold {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// sourceFunc adapts a function to Source.
type sourceFunc func(ctx context.Context, out chan<- watcher.File) error

func (f sourceFunc) Run(ctx context.Context, out chan<- watcher.File) error { return f(ctx, out) }

// fakeRemote is a Remote whose methods call the …Fn fields when set and
// otherwise succeed: the job's result is result(path) for the input at path.
// It counts calls per method and discards per storage key.
type fakeRemote struct {
	CheckFn  func(ctx context.Context, path string) error
	UploadFn func(ctx context.Context, path string) (uploader.Upload, error)
	SubmitFn func(ctx context.Context, src uploader.Upload) (uploader.Job, error) // for a job on an upload
	// SubmitStepFn, when set, takes every Submit instead of SubmitFn.
	SubmitStepFn func(ctx context.Context, step uploader.Step, src string) (uploader.Job, error)
	WaitFn       func(ctx context.Context, job uploader.Job) (uploader.Result, error)
	DownloadFn   func(ctx context.Context, out uploader.Result, w io.WriteSeeker) (int64, error)
	DiscardFn    func(ctx context.Context, src uploader.Upload) error

	mu        sync.Mutex
	byURL     map[string]uploader.Upload // uploads by their URL
	results   map[string]int             // results a job gives, by its id
	steps     []string                   // the ops submitted, in order
	calls     map[string]int
	uploads   map[string]int // storage key → uploads
	discards  map[string]int // storage key → discards
	checkedOn []string       // paths Check was called with, in order
}

var _ Remote = (*fakeRemote)(nil)

// result is what the fake API makes of the input at path.
func result(path string) []byte { return []byte("result of " + path) }

func (r *fakeRemote) count(method string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls == nil {
		r.calls = map[string]int{}
		r.uploads = map[string]int{}
		r.discards = map[string]int{}
		r.byURL = map[string]uploader.Upload{}
		r.results = map[string]int{}
	}
	r.calls[method]++
}

func (r *fakeRemote) n(method string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[method]
}

func (r *fakeRemote) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		n += c
	}
	return n
}

func (r *fakeRemote) Check(ctx context.Context, _ uploader.Step, path string) error {
	r.count("Check")
	r.mu.Lock()
	r.checkedOn = append(r.checkedOn, path)
	r.mu.Unlock()
	if r.CheckFn != nil {
		return r.CheckFn(ctx, path)
	}
	return nil
}

func (r *fakeRemote) Upload(ctx context.Context, path string) (uploader.Upload, error) {
	r.count("Upload")
	var src uploader.Upload
	var err error
	if r.UploadFn != nil {
		src, err = r.UploadFn(ctx, path)
	} else {
		var fi os.FileInfo
		fi, err = os.Stat(path)
		if err == nil {
			src = uploader.Upload{Path: path, Key: "in/" + path, URL: "https://storage.test/in/" + path, Size: fi.Size()}
		}
	}
	if err == nil {
		r.mu.Lock()
		r.uploads[src.Key]++
		r.byURL[src.URL] = src
		r.mu.Unlock()
	}
	return src, err
}

// Submit starts a job on src, an upload's URL (SubmitFn sees the upload)
// or a hosted result (of a step before): the job's id is its input's path
// or URL, and it remembers how many results the step gives.
func (r *fakeRemote) Submit(ctx context.Context, step uploader.Step, src string) (uploader.Job, error) {
	r.count("Submit")
	r.mu.Lock()
	up, uploaded := r.byURL[src]
	r.steps = append(r.steps, step.Op)
	r.mu.Unlock()
	var job uploader.Job
	var err error
	switch {
	case r.SubmitStepFn != nil:
		job, err = r.SubmitStepFn(ctx, step, src)
	case r.SubmitFn != nil && uploaded:
		job, err = r.SubmitFn(ctx, up)
	case uploaded:
		job = uploader.Job{ID: up.Path, Op: step.Op}
	default:
		job = uploader.Job{ID: src, Op: step.Op}
	}
	if err == nil {
		r.mu.Lock()
		r.results[job.ID] = len(step.Outputs)
		if step.Op == uploader.OpAutoCrop {
			r.results[job.ID] = len(step.AutoCrop.Ratios())
		}
		r.mu.Unlock()
	}
	return job, err
}

// Wait gives the job's results: WaitFn's result, or "<job id>" for a
// job of one output and "<job id>#<i>" for each of several (of a resumed
// job, as many as its MediaTypes).
func (r *fakeRemote) Wait(ctx context.Context, job uploader.Job) ([]uploader.Result, error) {
	r.count("Wait")
	if r.WaitFn != nil {
		res, err := r.WaitFn(ctx, job)
		return []uploader.Result{res}, err
	}
	r.mu.Lock()
	n, ok := r.results[job.ID]
	r.mu.Unlock()
	if !ok { // a job an earlier run submitted: as many as it asked for
		n = len(job.MediaTypes)
	}
	if n <= 1 {
		return []uploader.Result{{URL: job.ID, MediaType: "image/png"}}, nil
	}
	var rs []uploader.Result
	for i := range n {
		rs = append(rs, uploader.Result{URL: fmt.Sprintf("%s#%d", job.ID, i)})
	}
	return rs, nil
}

func (r *fakeRemote) Download(ctx context.Context, out uploader.Result, w io.WriteSeeker) (int64, error) {
	r.count("Download")
	if r.DownloadFn != nil {
		return r.DownloadFn(ctx, out, w)
	}
	return io.Copy(w, bytes.NewReader(result(out.URL)))
}

func (r *fakeRemote) Discard(ctx context.Context, src uploader.Upload) error {
	r.count("Discard")
	r.mu.Lock()
	r.discards[src.Key]++
	r.mu.Unlock()
	if r.DiscardFn != nil {
		return r.DiscardFn(ctx, src)
	}
	return nil
}

// testFatal is an error that stops the run, as bad credentials would.
type testFatal struct{ msg string }

func (e *testFatal) Error() string { return e.msg }
func (e *testFatal) Fatal() bool   { return true }

// hinted is a per-file error with a hint.
type hinted struct{ msg, hint string }

func (e *hinted) Error() string { return e.msg }
func (e *hinted) Hint() string  { return e.hint }

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// fakeQuota is a Quota that records what it is told.
type fakeQuota struct {
	restored map[ratelimit.Bucket][]time.Time
	spent    map[string]int64 // by UTC day
	fn       func(ratelimit.Bucket, time.Time)
}

func (q *fakeQuota) RestoreSpent(day time.Time, n int64) {
	if q.spent == nil {
		q.spent = map[string]int64{}
	}
	q.spent[day.UTC().Format(time.DateOnly)] += n
}

func (q *fakeQuota) Restore(b ratelimit.Bucket, grants []time.Time) {
	if q.restored == nil {
		q.restored = map[ratelimit.Bucket][]time.Time{}
	}
	q.restored[b] = append(q.restored[b], grants...)
}

func (q *fakeQuota) OnGrant(fn func(ratelimit.Bucket, time.Time)) { q.fn = fn }

// grant is the limiter granting a slot.
func (q *fakeQuota) grant(b ratelimit.Bucket, at time.Time) {
	if q.fn != nil {
		q.fn(b, at)
	}
}
