package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hotfolder/pipeline/journal"
	"hotfolder/uploader"
	"hotfolder/watcher"
)

func TestHappyPath(t *testing.T) {
	e := newEnv(t)
	files := []watcher.File{
		e.input("a.jpg", time.Hour),
		e.input("sub/b.png", time.Hour),
		e.input("sub/deep/c.webp", time.Hour),
		e.input("d.tiff", time.Hour),
	}
	want := map[string]string{ // input → output
		"a.jpg":           "a.png",
		"sub/b.png":       "sub/b.png",
		"sub/deep/c.webp": "sub/deep/c.png",
		"d.tiff":          "d.png",
	}
	var checked atomic.Int32
	r := &fakeRemote{}
	// Write each result in two parts; in between, the output name must not
	// exist yet and the temporary file must be beside it.
	r.DownloadFn = func(ctx context.Context, out uploader.Result, w io.WriteSeeker) (int64, error) {
		body := result(out.URL)
		rel, _ := filepath.Rel(e.in, out.URL)
		final := e.outPath(want[filepath.ToSlash(rel)])
		n1, err := w.Write(body[:5])
		if err != nil {
			return 0, err
		}
		if _, err := os.Stat(final); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists during the download (err %v)", final, err)
		}
		if tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(final), ".*.hotfolder-*.tmp")); len(tmp) == 0 {
			t.Errorf("no temporary file beside %s during the download", final)
		}
		checked.Add(1)
		n2, err := w.Write(body[5:])
		return int64(n1 + n2), err
	}
	sum, err := e.run(e.config(2), &fakeSource{files: files}, r)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	var wantOut []string
	var upBytes, downBytes int64
	for _, f := range files {
		e.wantContent(want[f.Rel], result(f.Path))
		wantOut = append(wantOut, want[f.Rel])
		upBytes += f.Size
		downBytes += int64(len(result(f.Path)))
	}
	slices.Sort(wantOut)
	if got := e.outputs(); !slices.Equal(got, wantOut) {
		t.Errorf("output folder holds %q, want %q", got, wantOut)
	}
	if checked.Load() != 4 {
		t.Errorf("checked %d downloads mid-way, want 4", checked.Load())
	}
	wantStats := Stats{Started: clock(), Found: 4, Done: 4, Uploaded: upBytes, Downloaded: downBytes, LastDone: clock(), LastSuccess: clock()}
	if sum.Stats != wantStats || sum.Pending != 0 || len(sum.Failures) != 0 {
		t.Errorf("summary = %+v\nwant stats %+v, no failures, none pending", sum, wantStats)
	}
	for _, m := range []string{"Check", "Upload", "Submit", "Wait", "Download", "Discard"} {
		if r.n(m) != 4 {
			t.Errorf("%s called %d times, want 4", m, r.n(m))
		}
	}
	if got := len(e.claims()); got != 4 {
		t.Errorf("claims file has %d lines, want 4", got)
	}
	if n := strings.Count(e.log.String(), "msg=done"); n != 4 {
		t.Errorf("log has %d done lines, want 4:\n%s", n, e.log)
	}
}

func TestFailures(t *testing.T) {
	errBad := errors.New("unsupported image")
	errRejected := &hinted{msg: "submit: 400 bad request", hint: "the image is too large for the API"}
	errJob := errors.New("job failed: input image is corrupt")
	errNet := errors.New("download: connection reset")
	tests := []struct {
		name      string
		stage     Stage
		err       error // the error the fake returns; nil when the pipeline makes its own
		errText   string
		setup     func(r *fakeRemote, bad string)
		uploaded  bool // whether the bad file got uploaded (and so must be discarded)
		wantCalls map[string]int
	}{
		{
			name: "check", stage: "check", err: errBad,
			setup: func(r *fakeRemote, bad string) {
				r.CheckFn = func(_ context.Context, p string) error {
					if p == bad {
						return errBad
					}
					return nil
				}
			},
			wantCalls: map[string]int{"Check": 3, "Upload": 2},
		},
		{
			name: "upload", stage: "upload", err: errNet,
			setup: func(r *fakeRemote, bad string) {
				r.UploadFn = func(_ context.Context, p string) (uploader.Upload, error) {
					if p == bad {
						return uploader.Upload{}, errNet
					}
					return uploader.Upload{Path: p, Key: "in/" + p, Size: 1}, nil
				}
			},
			wantCalls: map[string]int{"Upload": 3, "Submit": 2, "Discard": 2},
		},
		{
			name: "submit rejected", stage: "submit", err: errRejected, uploaded: true,
			setup: func(r *fakeRemote, bad string) {
				r.SubmitFn = func(_ context.Context, src uploader.Upload) (uploader.Job, error) {
					if src.Path == bad {
						return uploader.Job{}, errRejected
					}
					return uploader.Job{ID: src.Path}, nil
				}
			},
			wantCalls: map[string]int{"Submit": 3, "Wait": 2, "Discard": 3},
		},
		{
			name: "job failed", stage: "process", err: errJob, uploaded: true,
			setup: func(r *fakeRemote, bad string) {
				r.WaitFn = func(_ context.Context, job uploader.Job) (uploader.Result, error) {
					if job.ID == bad {
						return uploader.Result{}, errJob
					}
					return uploader.Result{URL: job.ID}, nil
				}
			},
			wantCalls: map[string]int{"Wait": 3, "Download": 2, "Discard": 3},
		},
		{
			name: "download broken off", stage: "download", err: errNet, uploaded: true,
			setup: func(r *fakeRemote, bad string) {
				r.DownloadFn = func(_ context.Context, out uploader.Result, w io.WriteSeeker) (int64, error) {
					if out.URL == bad {
						w.Write([]byte("half a pic"))
						return 10, errNet
					}
					return io.Copy(w, bytes.NewReader(result(out.URL)))
				}
			},
			wantCalls: map[string]int{"Download": 3, "Discard": 3},
		},
		{
			name: "empty download", stage: "download", errText: "download: empty result", uploaded: true,
			setup: func(r *fakeRemote, bad string) {
				r.DownloadFn = func(_ context.Context, out uploader.Result, w io.WriteSeeker) (int64, error) {
					if out.URL == bad {
						return 0, nil
					}
					return io.Copy(w, bytes.NewReader(result(out.URL)))
				}
			},
			wantCalls: map[string]int{"Discard": 3},
		},
		{
			name: "download size mismatch", stage: "download", errText: "download: result is 99 bytes but 4 were written", uploaded: true,
			setup: func(r *fakeRemote, bad string) {
				r.DownloadFn = func(_ context.Context, out uploader.Result, w io.WriteSeeker) (int64, error) {
					if out.URL == bad {
						w.Write([]byte("part"))
						return 99, nil
					}
					return io.Copy(w, bytes.NewReader(result(out.URL)))
				}
			},
			wantCalls: map[string]int{"Discard": 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			files := []watcher.File{e.input("a.jpg", time.Hour), e.input("b.jpg", time.Hour), e.input("c.jpg", time.Hour)}
			bad := files[1]
			r := &fakeRemote{}
			tc.setup(r, bad.Path)
			sum, err := e.run(e.config(2), &fakeSource{files: files}, r)
			if err != nil {
				t.Fatalf("Run: %v (a per-file failure must not end the run)", err)
			}
			if sum.Done != 2 || sum.Failed != 1 || sum.Found != 3 || sum.Pending != 0 {
				t.Errorf("summary = %+v, want 2 done, 1 failed", sum.Stats)
			}
			if len(sum.Failures) != 1 {
				t.Fatalf("failures = %v, want one", sum.Failures)
			}
			f := sum.Failures[0]
			if f.Rel != bad.Rel || f.Stage != tc.stage {
				t.Errorf("failure = %s at %q, want %s at %q", f.Rel, f.Stage, bad.Rel, tc.stage)
			}
			if tc.err != nil && !errors.Is(f.Err, tc.err) {
				t.Errorf("failure error = %v, want %v", f.Err, tc.err)
			}
			if tc.errText != "" && f.Err.Error() != tc.errText {
				t.Errorf("failure error = %q, want %q", f.Err, tc.errText)
			}
			for m, n := range tc.wantCalls {
				if r.n(m) != n {
					t.Errorf("%s called %d times, want %d", m, r.n(m), n)
				}
			}
			// The two good files are written; the bad one leaves nothing,
			// not even a temporary file.
			if got, want := e.outputs(), []string{"a.png", "c.png"}; !slices.Equal(got, want) {
				t.Errorf("output folder holds %q, want %q", got, want)
			}
			// Every uploaded input is discarded exactly once.
			r.mu.Lock()
			for key, n := range r.uploads {
				if r.discards[key] != n {
					t.Errorf("%s uploaded %d times, discarded %d times", key, n, r.discards[key])
				}
			}
			if _, ok := r.uploads["in/"+bad.Path]; ok != tc.uploaded {
				t.Errorf("bad file uploaded = %v, want %v", ok, tc.uploaded)
			}
			r.mu.Unlock()
			// One log line for the failure, with the stage and any hint.
			var lines []string
			for l := range strings.Lines(e.log.String()) {
				if strings.Contains(l, "msg=failed") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.Contains(lines[0], "file=b.jpg") || !strings.Contains(lines[0], "stage="+string(tc.stage)) {
				t.Errorf("failure log lines = %q, want one for b.jpg at %s", lines, tc.stage)
			}
			if h := uploader.Hint(tc.err); h != "" && !strings.Contains(lines[0], h) {
				t.Errorf("failure log line %q lacks the hint %q", lines[0], h)
			}
		})
	}
}

func TestDownloadRetryKeepsOnlyLastAttempt(t *testing.T) {
	e := newEnv(t)
	f := e.input("a.jpg", time.Hour)
	r := &fakeRemote{DownloadFn: func(_ context.Context, _ uploader.Result, w io.WriteSeeker) (int64, error) {
		// A first attempt broken off after more bytes than the whole
		// result, then a retry from the start.
		w.Write([]byte("a much longer first attempt that broke"))
		if _, err := w.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		n, err := w.Write([]byte("short"))
		return int64(n), err
	}}
	sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{f}}, r)
	if err != nil || sum.Done != 1 {
		t.Fatalf("Run = %+v, %v", sum.Stats, err)
	}
	e.wantContent("a.png", []byte("short"))
	if sum.Downloaded != 5 {
		t.Errorf("Downloaded = %d, want 5", sum.Downloaded)
	}
}

func TestDiscardFailureIsOnlyLogged(t *testing.T) {
	e := newEnv(t)
	f := e.input("a.jpg", time.Hour)
	r := &fakeRemote{DiscardFn: func(context.Context, uploader.Upload) error { return errors.New("delete: 503") }}
	sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{f}}, r)
	if err != nil || sum.Done != 1 || sum.Failed != 0 {
		t.Fatalf("Run = %+v, %v; want done", sum.Stats, err)
	}
	if !strings.Contains(e.log.String(), "could not delete uploaded input") {
		t.Errorf("log lacks the discard warning:\n%s", e.log)
	}
}

func TestFatalRemoteErrorStopsRun(t *testing.T) {
	e := newEnv(t)
	files := []watcher.File{e.input("a.jpg", time.Hour), e.input("b.jpg", time.Hour), e.input("c.jpg", time.Hour)}
	errCreds := &testFatal{msg: "auth: invalid client secret"}
	r := &fakeRemote{SubmitFn: func(_ context.Context, src uploader.Upload) (uploader.Job, error) {
		if src.Path == files[1].Path {
			return uploader.Job{}, fmt.Errorf("submit: %w", errCreds)
		}
		return uploader.Job{ID: src.Path}, nil
	}}
	sum, err := e.run(e.config(1), &fakeSource{files: files}, r)
	var fe *testFatal
	if !errors.As(err, &fe) {
		t.Fatalf("Run error = %v, want the fatal error", err)
	}
	// b.jpg is not its own failure: it stays pending, as its journal
	// record says, and the error names it and its stage.
	if sum.Done != 1 || sum.Failed != 0 || sum.Pending != 2 || len(sum.Failures) != 0 {
		t.Errorf("summary = %+v pending %d %v, want 1 done, 0 failed, 2 pending", sum.Stats, sum.Pending, sum.Failures)
	}
	if !strings.Contains(err.Error(), "b.jpg: submit: ") {
		t.Errorf("error %q does not name b.jpg and the stage", err)
	}
	if rec := e.journalRecords()["b.jpg"]; rec.State == journal.Failed {
		t.Errorf("b.jpg journaled %s; the summary calls it pending", rec.State)
	}
	if slices.Contains(r.checkedOn, files[2].Path) {
		t.Errorf("c.jpg was started after the fatal error")
	}
	if r.discards["in/"+files[1].Path] != 1 {
		t.Errorf("the fatally failed upload was not discarded")
	}
}

// lockDir makes dir unwritable, even for root (by making it immutable),
// until the test ends; it skips the test when that is impossible here.
func lockDir(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		return
	}
	// root ignores permission bits; the immutable attribute binds it too.
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("running as root and cannot make %s immutable (%v: %s)", dir, err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
	if f, err := os.Create(filepath.Join(dir, "probe")); err == nil {
		f.Close()
		t.Skipf("cannot make %s unwritable here", dir)
	}
}

func TestOutputNotWritableIsFatal(t *testing.T) {
	e := newEnv(t)
	files := []watcher.File{e.input("a.jpg", time.Hour), e.input("sub/b.jpg", time.Hour), e.input("sub/c.jpg", time.Hour)}
	if err := os.MkdirAll(e.outPath("sub"), 0o777); err != nil {
		t.Fatal(err)
	}
	lockDir(t, e.outPath("sub"))
	r := &fakeRemote{}
	sum, err := e.run(e.config(1), &fakeSource{files: files}, r)
	if !uploader.IsFatal(err) {
		t.Fatalf("Run error = %v, want a fatal error", err)
	}
	if h := uploader.Hint(err); !strings.Contains(h, "-out") {
		t.Errorf("hint = %q, want one about -out", h)
	}
	// A disk that refuses writes is not sub/b.jpg's failure: it stays
	// pending in the summary as in the journal, which still has its job.
	if sum.Done != 1 || sum.Failed != 0 || sum.Pending != 2 || len(sum.Failures) != 0 {
		t.Errorf("summary = %+v pending %d %v, want a.jpg done and the rest pending", sum.Stats, sum.Pending, sum.Failures)
	}
	if !strings.Contains(err.Error(), "sub/b.jpg: write: ") {
		t.Errorf("error %q does not name sub/b.jpg and the stage", err)
	}
	if rec := e.journalRecords()["sub/b.jpg"]; rec.State != journal.Submitted {
		t.Errorf("sub/b.jpg journaled %s, want submitted (its job is polled next time)", rec.State)
	}
	if slices.Contains(r.checkedOn, files[2].Path) {
		t.Errorf("sub/c.jpg was started after the fatal error")
	}
}

func TestNewOutputNotWritableIsFatal(t *testing.T) {
	e := newEnv(t)
	if err := os.MkdirAll(e.out, 0o777); err != nil {
		t.Fatal(err)
	}
	lockDir(t, e.out)
	_, err := New(e.config(1), &fakeSource{}, &fakeRemote{})
	if !uploader.IsFatal(err) || uploader.Hint(err) == "" {
		t.Fatalf("New error = %v, want a fatal error with a hint", err)
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	e := newEnv(t)
	const workers, n = 4, 13
	var files []watcher.File
	for i := range n {
		files = append(files, e.input(fmt.Sprintf("f%02d.jpg", i), time.Hour))
	}
	var (
		inWait, most atomic.Int32
		full         = make(chan struct{})
		fullOnce     sync.Once
		p            *Pipeline
	)
	r := &fakeRemote{}
	r.WaitFn = func(ctx context.Context, job uploader.Job) (uploader.Result, error) {
		cur := inWait.Add(1)
		defer inWait.Add(-1)
		for {
			m := most.Load()
			if cur <= m || most.CompareAndSwap(m, cur) {
				break
			}
		}
		if a := p.Stats().Active; a > workers {
			t.Errorf("Active = %d, more than %d workers", a, workers)
		}
		if cur == workers {
			fullOnce.Do(func() { close(full) })
		}
		// The first jobs wait until all workers are busy at once.
		select {
		case <-full:
		case <-ctx.Done():
			return uploader.Result{}, ctx.Err()
		}
		return uploader.Result{URL: job.ID}, nil
	}
	p = e.pipeline(e.config(workers), &fakeSource{files: files}, r)
	sum, err := p.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if most.Load() != workers {
		t.Errorf("at most %d jobs waited at once, want exactly %d", most.Load(), workers)
	}
	if sum.Done != n || sum.Active != 0 {
		t.Errorf("summary = %+v, want %d done", sum.Stats, n)
	}
}

// blockingWait returns a WaitFn that reports each job on entered and holds
// it until release is closed or ctx ends.
func blockingWait(entered chan<- string, release <-chan struct{}) func(context.Context, uploader.Job) (uploader.Result, error) {
	return func(ctx context.Context, job uploader.Job) (uploader.Result, error) {
		entered <- job.ID
		select {
		case <-release:
			return uploader.Result{URL: job.ID}, nil
		case <-ctx.Done():
			return uploader.Result{}, ctx.Err()
		}
	}
}

func TestStopFinishesTakenFilesOnly(t *testing.T) {
	e := newEnv(t)
	var files []watcher.File
	for i := range 6 {
		files = append(files, e.input(fmt.Sprintf("f%d.jpg", i), time.Hour))
	}
	entered := make(chan string, 6)
	release := make(chan struct{})
	stop := make(chan struct{})
	r := &fakeRemote{WaitFn: blockingWait(entered, release)}
	src := &fakeSource{files: files, hold: true, sent: make(chan struct{})}
	cfg := e.config(2)
	cfg.Stop = stop
	p := e.pipeline(cfg, src, r)

	type result struct {
		sum Summary
		err error
	}
	done := make(chan result)
	go func() {
		sum, err := p.Run(context.Background())
		done <- result{sum, err}
	}()
	<-entered
	<-entered
	<-src.sent
	close(stop)
	close(release)
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Stop")
	}
	if res.err != nil {
		t.Fatalf("Run error = %v, want nil after a graceful stop", res.err)
	}
	if s := res.sum; s.Found != 6 || s.Done != 2 || s.Failed != 0 || s.Pending != 4 {
		t.Errorf("summary = %+v pending %d, want 6 found, 2 done, 4 pending", s.Stats, s.Pending)
	}
	if r.n("Check") != 2 {
		t.Errorf("Check called %d times, want 2: no file may start after Stop", r.n("Check"))
	}
	if got := e.outputs(); len(got) != 2 {
		t.Errorf("outputs = %q, want the 2 files in flight", got)
	}
}

func TestCancelAborts(t *testing.T) {
	e := newEnv(t)
	var files []watcher.File
	for i := range 5 {
		files = append(files, e.input(fmt.Sprintf("f%d.jpg", i), time.Hour))
	}
	entered := make(chan string, 5)
	r := &fakeRemote{WaitFn: blockingWait(entered, nil)}
	var discardCtxErr atomic.Value
	r.DiscardFn = func(ctx context.Context, _ uploader.Upload) error {
		if err := ctx.Err(); err != nil {
			discardCtxErr.Store(err)
		}
		return nil
	}
	p := e.pipeline(e.config(2), &fakeSource{files: files, hold: true}, r)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		sum Summary
		err error
	}
	done := make(chan result)
	go func() {
		sum, err := p.Run(ctx)
		done <- result{sum, err}
	}()
	<-entered
	<-entered
	cancel()
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if !errors.Is(res.err, context.Canceled) {
		t.Fatalf("Run error = %v, want context.Canceled", res.err)
	}
	if s := res.sum; s.Done != 0 || s.Failed != 0 || s.Active != 0 || s.Pending != s.Found || s.Found < 2 {
		t.Errorf("summary = %+v pending %d: files in flight must be pending, neither done nor failed", s.Stats, s.Pending)
	}
	// The jobs in flight stay journaled as submitted, with their uploads,
	// for the next run to poll.
	if r.n("Discard") != 0 {
		t.Errorf("Discard called %d times, want 0: the next run resumes the jobs in flight", r.n("Discard"))
	}
	if err := discardCtxErr.Load(); err != nil {
		t.Errorf("Discard got a dead context: %v", err)
	}
	if got := e.outputs(); len(got) != 0 {
		t.Errorf("outputs after abort = %q, want none", got)
	}
	p.Close()
	if got := e.journalStates(); got[journal.Submitted] != 2 || len(got) != 1 {
		t.Errorf("journal after abort = %v, want 2 submitted", got)
	}
}

func TestSourceErrorEndsRun(t *testing.T) {
	e := newEnv(t)
	errGone := errors.New("input folder vanished")
	src := sourceFunc(func(context.Context, chan<- watcher.File) error { return errGone })
	_, err := e.run(e.config(2), src, &fakeRemote{})
	if !errors.Is(err, errGone) {
		t.Fatalf("Run error = %v, want %v", err, errGone)
	}
}

func TestRequeuedFileIsQueuedOnce(t *testing.T) {
	e := newEnv(t)
	a, b := e.input("a.jpg", time.Hour), e.input("b.jpg", time.Hour)
	// b changes, and the watcher sees it again: only the new details count.
	if err := os.WriteFile(b.Path, []byte("input b.jpg, changed"), 0o666); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	b2 := watcher.File{Path: b.Path, Rel: b.Rel, Size: fi.Size(), ModTime: fi.ModTime()}
	entered := make(chan string, 3)
	release := make(chan struct{})
	r := &fakeRemote{WaitFn: blockingWait(entered, release)}
	src := sourceFunc(func(ctx context.Context, out chan<- watcher.File) error {
		for _, f := range []watcher.File{a, b, b2} {
			select {
			case out <- f:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		// a is still in flight on the only worker, so b is queued once.
		<-entered
		close(release)
		return nil
	})
	sum, err := e.run(e.config(1), src, r)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Found != 2 || sum.Done != 2 {
		t.Errorf("summary = %+v, want 2 found, 2 done", sum.Stats)
	}
}

// A file found again while a worker holds it (it changed mid-job) waits for
// that worker: two workers never process one input at once, so an older
// result can never land after a newer one.
func TestFileFoundAgainWhileInFlightWaits(t *testing.T) {
	e := newEnv(t)
	a := e.input("a.jpg", time.Hour)
	entered := make(chan string, 2)
	release := make(chan struct{})
	r := &fakeRemote{WaitFn: blockingWait(entered, release)}
	src := sourceFunc(func(ctx context.Context, out chan<- watcher.File) error {
		out <- a
		<-entered // the first version is in a worker
		// The photographer saves a new version; the watcher finds it.
		if err := os.WriteFile(a.Path, []byte("new version"), 0o666); err != nil {
			t.Error(err)
		}
		fi, err := os.Stat(a.Path)
		if err != nil {
			t.Error(err)
			return err
		}
		out <- watcher.File{Path: a.Path, Rel: a.Rel, Size: fi.Size(), ModTime: fi.ModTime()}
		// Four workers are idle, yet the second version must not start.
		select {
		case <-entered:
			t.Error("the changed file started while its first version was in flight")
		case <-time.After(200 * time.Millisecond):
		}
		close(release)
		select {
		case <-entered: // now it runs
		case <-time.After(10 * time.Second):
			t.Error("the changed file never ran")
		}
		return nil
	})
	sum, err := e.run(e.config(4), src, r)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Found != 2 || sum.Done != 2 || r.n("Submit") != 2 {
		t.Errorf("summary = %+v, submits = %d; want both versions done, one after the other", sum.Stats, r.n("Submit"))
	}
}

func TestInputChangedWhileProcessing(t *testing.T) {
	e := newEnv(t)
	f := e.input("a.jpg", time.Hour)
	r := &fakeRemote{WaitFn: func(_ context.Context, job uploader.Job) (uploader.Result, error) {
		// The photographer saves over the input mid-job.
		if err := os.WriteFile(f.Path, []byte("new pixels"), 0o666); err != nil {
			t.Error(err)
		}
		return uploader.Result{URL: job.ID}, nil
	}}
	if _, err := e.run(e.config(1), &fakeSource{files: []watcher.File{f}}, r); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(e.outPath("a.png"))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(f.ModTime) {
		t.Errorf("output of a changed input dated %v, want the processed input's %v", fi.ModTime(), f.ModTime)
	}
	// The changed input, found again, is not skipped.
	fi, err = os.Stat(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	f2 := watcher.File{Path: f.Path, Rel: f.Rel, Size: fi.Size(), ModTime: fi.ModTime()}
	r2 := &fakeRemote{}
	sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{f2}}, r2)
	if err != nil || sum.Done != 1 || sum.Skipped != 0 {
		t.Errorf("rerun = %+v, %v; want the changed input done again", sum.Stats, err)
	}
}

func TestRunTwice(t *testing.T) {
	e := newEnv(t)
	p := e.pipeline(e.config(1), &fakeSource{}, &fakeRemote{})
	if _, err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"relative out", func(c *Config) { c.Out = "out" }},
		{"no workers", func(c *Config) { c.Workers = 0 }},
		{"no step", func(c *Config) { c.Recipe = uploader.Recipe{} }},
		{"out is in", func(c *Config) { c.Out = c.In }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := e.config(1)
			tc.edit(&cfg)
			if p, err := New(cfg, &fakeSource{}, &fakeRemote{}); err == nil {
				p.Close()
				t.Error("New accepted it")
			}
		})
	}
}

// An output folder inside the hot folder is allowed: the watcher excludes it.
func TestNewAcceptsOutInsideIn(t *testing.T) {
	e := newEnv(t)
	cfg := e.config(1)
	cfg.Out = filepath.Join(cfg.In, "done")
	cfg.State = ""
	p, err := New(cfg, &fakeSource{}, &fakeRemote{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	p.Close()
	if st, err := os.Stat(filepath.Join(cfg.In, "done", ".hotfolder")); err != nil || !st.IsDir() {
		t.Errorf("state folder not created inside the nested output folder: %v", err)
	}
}

func TestSecondPipelineOnSameStateIsRefused(t *testing.T) {
	e := newEnv(t)
	e.pipeline(e.config(1), &fakeSource{}, &fakeRemote{})
	p, err := New(e.config(1), &fakeSource{}, &fakeRemote{})
	if err == nil {
		p.Close()
		t.Skip("no file locking on this platform")
	}
	if !uploader.IsFatal(err) || uploader.Hint(err) == "" {
		t.Errorf("New error = %v, want a fatal error with a hint", err)
	}
}

func TestWorkersFor(t *testing.T) {
	tests := []struct {
		interval time.Duration
		want     int
	}{
		{1530 * time.Millisecond, 20}, // soft remove background: 30 s / 1.53 s, rounded up
		{255 * time.Millisecond, 118}, // 4/1s
		{204 * time.Millisecond, 148}, // general 15/3s
		{10 * time.Second, 4},         // never fewer than 4
		{time.Millisecond, 256},       // never more than 256
		{0, 256},
	}
	for _, tt := range tests {
		if got := WorkersFor(tt.interval); got != tt.want {
			t.Errorf("WorkersFor(%v) = %d, want %d", tt.interval, got, tt.want)
		}
	}
}
