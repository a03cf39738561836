package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"hotfolder/pipeline/journal"
	"hotfolder/ratelimit"
	"hotfolder/uploader"
	"hotfolder/watcher"
)

// abortInWait runs files until each of the first n is waiting for its job,
// then aborts the run, as a kill would: the jobs stay journaled as
// submitted.
func abortInWait(t *testing.T, e *env, files []watcher.File, n int) {
	t.Helper()
	entered := make(chan string, len(files))
	r := &fakeRemote{WaitFn: blockingWait(entered, nil)}
	p, err := New(e.config(n), &fakeSource{files: files, hold: true}, r)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := p.Run(ctx); done <- err }()
	for range n {
		<-entered
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("aborted run: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if r.n("Submit") != n {
		t.Fatalf("%d submits before the abort, want %d", r.n("Submit"), n)
	}
}

// A job submitted by a run that was killed is polled by the next run, not
// submitted again; its upload is deleted once it is done.
func TestResumeSubmittedJobs(t *testing.T) {
	e := newEnv(t)
	files := []watcher.File{e.input("a.jpg", time.Hour), e.input("b.jpg", time.Hour)}
	abortInWait(t, e, files, 2)
	recs := e.journalRecords()
	for _, f := range files {
		if r := recs[f.Rel]; r.State != journal.Submitted || r.JobID != f.Path || r.UploadKey == "" {
			t.Fatalf("%s after the abort: %+v, want submitted with its job and upload", f.Rel, r)
		}
	}

	var waited []string
	r := &fakeRemote{
		SubmitFn: func(context.Context, uploader.Upload) (uploader.Job, error) {
			t.Error("a journaled job was submitted again")
			return uploader.Job{}, errors.New("no")
		},
		WaitFn: func(_ context.Context, job uploader.Job) (uploader.Result, error) {
			waited = append(waited, job.ID)
			return uploader.Result{URL: job.ID}, nil
		},
	}
	sum, err := e.run(e.config(1), &fakeSource{files: files}, r)
	if err != nil || sum.Done != 2 || sum.Resumed != 2 {
		t.Fatalf("second run = %+v, %v; want 2 done, 2 resumed", sum.Stats, err)
	}
	if r.n("Check")+r.n("Upload") != 0 || len(waited) != 2 {
		t.Errorf("second run: %d checks, %d uploads, waited for %q; want only the two jobs polled", r.n("Check"), r.n("Upload"), waited)
	}
	for _, f := range files {
		e.wantContent(strings.TrimSuffix(f.Rel, ".jpg")+".png", result(f.Path))
		if r.discards["in/"+f.Path] != 1 {
			t.Errorf("%s: its upload was deleted %d times, want once", f.Rel, r.discards["in/"+f.Path])
		}
		rec := e.journalRecords()[f.Rel]
		if rec.State != journal.Done || len(rec.OutputSHA256s) != 1 || rec.OutputSHA256s[0] == "" || rec.UploadKey != "" {
			t.Errorf("%s: %+v, want done with the output's hash and no upload left", f.Rel, rec)
		}
	}
	if !strings.Contains(e.log.String(), "resuming a job submitted by an earlier run") {
		t.Error("resuming is not logged")
	}
}

// If the API no longer knows a journaled job (or its result expired), the
// input is submitted again, once, and the log says so; a second loss fails
// the file rather than spend quota a third time.
func TestResubmitOnceWhenJobGone(t *testing.T) {
	for _, tc := range []struct {
		name  string
		gone  error
		again bool // lost again after the resubmission
	}{
		{"job gone", uploader.ErrJobGone, false},
		{"result expired", uploader.ErrResultGone, false},
		{"gone twice", uploader.ErrJobGone, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			a := e.input("a.jpg", time.Hour)
			abortInWait(t, e, []watcher.File{a}, 1)

			losses := 1
			if tc.again {
				losses = 2
			}
			lost := 0
			lose := func() error { lost++; return fmt.Errorf("status: %w", tc.gone) }
			r := &fakeRemote{}
			if tc.gone == uploader.ErrJobGone {
				r.WaitFn = func(_ context.Context, job uploader.Job) (uploader.Result, error) {
					if lost < losses {
						return uploader.Result{}, lose()
					}
					return uploader.Result{URL: job.ID}, nil
				}
			} else {
				r.DownloadFn = func(_ context.Context, out uploader.Result, w io.WriteSeeker) (int64, error) {
					if lost < losses {
						return 0, lose()
					}
					n, err := w.Write(result(out.URL))
					return int64(n), err
				}
			}
			sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{a}}, r)
			if err != nil {
				t.Fatal(err)
			}
			if r.n("Submit") != 1 || r.n("Upload") != 1 {
				t.Errorf("%d uploads and %d submits, want one each: submitted again once", r.n("Upload"), r.n("Submit"))
			}
			rec := e.journalRecords()["a.jpg"]
			if !strings.Contains(e.log.String(), "submitting the file again, once") {
				t.Error("the resubmission is not logged")
			}
			if rec.Resubmits != 1 {
				t.Errorf("Resubmits = %d, want 1", rec.Resubmits)
			}
			if tc.again {
				if sum.Failed != 1 || rec.State != journal.Failed || !strings.Contains(rec.Failure.Message, "not submitted a third time") {
					t.Errorf("summary %+v, record %+v: want a failure that says why", sum.Stats, rec)
				}
				return
			}
			if sum.Done != 1 || rec.State != journal.Done {
				t.Errorf("summary %+v, record %+v, want done", sum.Stats, rec)
			}
			e.wantContent("a.png", result(a.Path))
		})
	}
}

// Done inputs are skipped without any request; failed ones too, unless
// RetryFailed; an input whose content changed is new work.
func TestJournalSkipsDoneAndFailed(t *testing.T) {
	e := newEnv(t)
	a, b := e.input("a.jpg", time.Hour), e.input("b.jpg", time.Hour)
	refuse := func(_ context.Context, src uploader.Upload) (uploader.Job, error) {
		if strings.HasSuffix(src.Path, "b.jpg") {
			return uploader.Job{}, &uploader.APIError{Op: "submit", StatusCode: 400, Code: "InputValidationError", Message: "bad input"}
		}
		return uploader.Job{ID: src.Path, Op: "remove-background"}, nil
	}
	sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{a, b}}, &fakeRemote{SubmitFn: refuse})
	if err != nil || sum.Done != 1 || sum.Failed != 1 {
		t.Fatalf("first run = %+v, %v", sum.Stats, err)
	}
	rec := e.journalRecords()["b.jpg"]
	if fl := rec.Failure; rec.State != journal.Failed || fl == nil || fl.Stage != "submit" || fl.HTTPStatus != 400 ||
		fl.Code != "InputValidationError" || !fl.Permanent || fl.Hint == "" {
		t.Errorf("b.jpg's record = %+v %+v, want its failure in full", rec, fl)
	}
	// The failure report has the same, as one JSON line.
	data, err := os.ReadFile(filepath.Join(e.out, ".hotfolder", FailureReportFile))
	if err != nil {
		t.Fatal(err)
	}
	var line StatusFailure
	if err := json.Unmarshal(data, &line); err != nil || line.Input != "b.jpg" || line.Stage != "submit" ||
		line.HTTPStatus != 400 || line.Code != "InputValidationError" || line.Hint == "" || line.Time.IsZero() {
		t.Errorf("failure report %q (%v), want b.jpg's failure in full", data, err)
	}

	// Rerun: nothing is sent anywhere.
	r := noRemote(t)
	sum, err = e.run(e.config(1), &fakeSource{files: []watcher.File{a, b}}, r)
	if err != nil || sum.Skipped != 2 || sum.FailedEarlier != 1 || r.total() != 0 {
		t.Errorf("rerun = %+v, %v, %d remote calls; want both skipped, one as failed earlier", sum.Stats, err, r.total())
	}

	// -retry-failed takes b again.
	cfg := e.config(1)
	cfg.RetryFailed = true
	sum, err = e.run(cfg, &fakeSource{files: []watcher.File{a, b}}, &fakeRemote{})
	if err != nil || sum.Done != 1 || sum.Skipped != 1 {
		t.Errorf("retry run = %+v, %v; want b done, a skipped", sum.Stats, err)
	}

	// A changed input is new work; a deleted output is made again.
	a = e.input("a.jpg", -time.Hour)
	os.Remove(e.outPath("b.png"))
	r = &fakeRemote{}
	sum, err = e.run(e.config(1), &fakeSource{files: []watcher.File{a, b}}, r)
	if err != nil || sum.Done != 2 || r.n("Submit") != 2 {
		t.Errorf("after changes = %+v, %v, %d submits; want both done again", sum.Stats, err, r.n("Submit"))
	}
}

// A run killed after writing an output but before journaling it done: the
// next run notes the output instead of polling or submitting again.
func TestOutputWrittenBeforeCrash(t *testing.T) {
	e := newEnv(t)
	a := e.input("a.jpg", time.Hour)
	abortInWait(t, e, []watcher.File{a}, 1)
	if err := os.WriteFile(e.outPath("a.png"), result(a.Path), 0o666); err != nil {
		t.Fatal(err)
	}
	r := noRemote(t)
	r.WaitFn = func(context.Context, uploader.Job) (uploader.Result, error) {
		t.Error("Wait called for a job whose output is written")
		return uploader.Result{}, errors.New("no")
	}
	sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{a}}, r)
	if err != nil || sum.Done != 1 {
		t.Fatalf("run = %+v, %v", sum.Stats, err)
	}
	if rec := e.journalRecords()["a.jpg"]; rec.State != journal.Done || len(rec.OutputSHA256s) != 1 || rec.OutputSHA256s[0] == "" {
		t.Errorf("record %+v, want done with the output's hash", rec)
	}
	if r.n("Discard") != 1 {
		t.Errorf("Discard called %d times, want once (the leftover upload)", r.n("Discard"))
	}
}

// A damaged journal stops the run with a hint; moved aside as the hint
// says, the next run trusts the outputs already written and sends nothing.
func TestCorruptJournal(t *testing.T) {
	e := newEnv(t)
	a, b := e.input("a.jpg", time.Hour), e.input("b.jpg", time.Hour)
	if _, err := e.run(e.config(1), &fakeSource{files: []watcher.File{a, b}}, pngRemote()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.out, ".hotfolder", JournalFile)
	if err := os.WriteFile(path, []byte("this is not a journal, it is a shopping list"), 0o666); err != nil {
		t.Fatal(err)
	}
	_, err := New(e.config(1), &fakeSource{}, &fakeRemote{})
	if !errors.Is(err, journal.ErrCorrupt) || !uploader.IsFatal(err) || !strings.Contains(uploader.Hint(err), "mv ") {
		t.Fatalf("New with a damaged journal: %v (hint %q); want a fatal ErrCorrupt saying how to move it aside", err, uploader.Hint(err))
	}
	if err := os.Rename(path, path+".broken"); err != nil {
		t.Fatal(err)
	}
	r := noRemote(t)
	sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{a, b}}, r)
	if err != nil || sum.Skipped != 2 || r.total() != 0 {
		t.Errorf("run after moving the journal aside = %+v, %v, %d remote calls; want both skipped, nothing sent", sum.Stats, err, r.total())
	}
	if got := e.journalStates(); got[journal.Done] != 2 {
		t.Errorf("new journal = %v, want both noted done", got)
	}
}

// ReadStatus reads the journal when no run holds it, and the run's
// snapshot while one does.
func TestReadStatus(t *testing.T) {
	e := newEnv(t)
	state := filepath.Join(e.out, ".hotfolder")
	if _, err := ReadStatus(state, clock()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadStatus before any run: %v, want fs.ErrNotExist", err)
	}
	a, b, c := e.input("a.jpg", time.Hour), e.input("b.jpg", time.Hour), e.input("c.jpg", time.Hour)
	refuse := func(_ context.Context, src uploader.Upload) (uploader.Job, error) {
		if strings.HasSuffix(src.Path, "b.jpg") {
			return uploader.Job{}, &uploader.APIError{Op: "submit", StatusCode: 400, Code: "InputValidationError", Message: "bad input"}
		}
		return uploader.Job{ID: src.Path, Op: "remove-background"}, nil
	}
	if _, err := e.run(e.config(1), &fakeSource{files: []watcher.File{a, b}}, &fakeRemote{SubmitFn: refuse}); err != nil {
		t.Fatal(err)
	}
	abortInWait(t, e, []watcher.File{c}, 1)

	st, err := ReadStatus(state, clock())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"queued": 0, "uploaded": 0, "submitted": 1, "done": 1, "failed": 1}
	if fmt.Sprint(st.Counts) != fmt.Sprint(want) || st.Running {
		t.Errorf("counts %v (running %v), want %v", st.Counts, st.Running, want)
	}
	if len(st.Failures) != 1 || st.Failures[0].Input != "b.jpg" || st.Failures[0].HTTPStatus != 400 || st.Failures[0].Hint == "" {
		t.Errorf("failures %+v, want b.jpg's 400 with a hint", st.Failures)
	}
	if len(st.InFlight) != 1 || st.InFlight[0].Input != "c.jpg" || st.InFlight[0].JobID != c.Path {
		t.Errorf("in flight %+v, want c.jpg's job", st.InFlight)
	}

	// While a run holds the journal: its snapshot, which it wrote on start.
	p := e.pipeline(e.config(1), &fakeSource{hold: true}, &fakeRemote{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err = ReadStatus(state, clock())
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // the snapshot is written as Run starts
	}
	cancel()
	<-done
	if err != nil || !st.Running || st.Counts["failed"] != 1 || st.Counts["submitted"] != 1 {
		t.Errorf("ReadStatus while running = %+v, %v; want the snapshot, marked running", st, err)
	}
}

// An input deleted while it uploads fails with its reason and costs no
// POST; one rewritten meanwhile is not submitted either (its new version
// is); the others go on.
func TestInputGoneOrChangedWhileUploading(t *testing.T) {
	e := newEnv(t)
	a, b, c := e.input("a.jpg", time.Hour), e.input("b.jpg", time.Hour), e.input("c.jpg", time.Hour)
	r := &fakeRemote{}
	r.UploadFn = func(_ context.Context, path string) (uploader.Upload, error) {
		switch filepath.Base(path) {
		case "a.jpg":
			os.Remove(path)
		case "b.jpg":
			os.WriteFile(path, []byte("a longer, newer version"), 0o666)
		}
		return uploader.Upload{Path: path, Key: "in/" + path, Size: 1}, nil
	}
	sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{a, b, c}}, r)
	if err != nil {
		t.Fatal(err)
	}
	if r.n("Submit") != 1 || sum.Done != 1 || sum.Failed != 1 || sum.Skipped != 1 {
		t.Errorf("%d submits, summary %+v; want only c.jpg submitted and done, a failed, b skipped", r.n("Submit"), sum.Stats)
	}
	if len(sum.Failures) != 1 || sum.Failures[0].Rel != "a.jpg" || !strings.Contains(sum.Failures[0].Err.Error(), "deleted while it was being uploaded") {
		t.Errorf("failures %+v, want a.jpg's deletion", sum.Failures)
	}
	if r.discards["in/"+a.Path] != 1 || r.discards["in/"+b.Path] != 1 {
		t.Errorf("uploads of a and b discarded %d and %d times, want once each", r.discards["in/"+a.Path], r.discards["in/"+b.Path])
	}
	e.wantContent("c.png", result(c.Path))
}

// When the POST budget runs out, the run takes no new file and the rest
// stay pending (not failed) for the next run.
func TestPostBudgetSpent(t *testing.T) {
	for _, tc := range []struct {
		refusal error
		says    string
	}{
		{ratelimit.ErrPostBudgetSpent, "POST budget"},
		{ratelimit.ErrDailyCapReached, "daily POST cap"},
	} {
		t.Run(tc.says, func(t *testing.T) {
			e := newEnv(t)
			var files []watcher.File
			for i := range 6 {
				files = append(files, e.input(fmt.Sprintf("f%d.jpg", i), time.Hour))
			}
			submits := 0
			r := &fakeRemote{SubmitFn: func(_ context.Context, src uploader.Upload) (uploader.Job, error) {
				if submits++; submits > 2 {
					return uploader.Job{}, fmt.Errorf("submit: %w", tc.refusal)
				}
				return uploader.Job{ID: src.Path, Op: "remove-background"}, nil
			}}
			sum, err := e.run(e.config(1), &fakeSource{files: files, hold: true}, r)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Done != 2 || sum.Failed != 0 || sum.Pending != 4 || submits != 3 {
				t.Errorf("summary %+v pending %d after %d submits; want 2 done, 4 pending, none failed, no submit after the refusal", sum.Stats, sum.Pending, submits)
			}
			if !strings.Contains(e.log.String(), tc.says) || !strings.Contains(sum.Halted, tc.says) {
				t.Errorf("the refusal is not told: log says it %v, Stats.Halted = %q", strings.Contains(e.log.String(), tc.says), sum.Halted)
			}
		})
	}
}

// Stop also holds when the source has already sent everything and ended
// (-once): the files still queued are not taken.
func TestStopAfterSourceEnded(t *testing.T) {
	e := newEnv(t)
	var files []watcher.File
	for i := range 5 {
		files = append(files, e.input(fmt.Sprintf("f%d.jpg", i), time.Hour))
	}
	entered := make(chan string, 5)
	release := make(chan struct{})
	stop := make(chan struct{})
	r := &fakeRemote{WaitFn: blockingWait(entered, release)}
	src := &fakeSource{files: files, sent: make(chan struct{})}
	cfg := e.config(1)
	cfg.Stop = stop
	p := e.pipeline(cfg, src, r)
	done := make(chan Summary)
	go func() { sum, _ := p.Run(context.Background()); done <- sum }()
	<-entered
	<-src.sent // the source is done: everything is queued
	close(stop)
	close(release)
	sum := <-done
	if sum.Done != 1 || sum.Pending != 4 {
		t.Errorf("summary %+v, pending %d; want the file in flight done and 4 pending", sum.Stats, sum.Pending)
	}
}

// An input replaced by other content with an older modification time (as
// cp -p leaves it) is new work: the journal knows it changed, whatever the
// output's time says.
func TestReplacedWithOlderFileIsNewWork(t *testing.T) {
	e := newEnv(t)
	a := e.input("a.jpg", time.Hour)
	if _, err := e.run(e.config(1), &fakeSource{files: []watcher.File{a}}, &fakeRemote{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.Path, []byte("an older photo, copied with its time"), 0o666); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	if err := os.Chtimes(a.Path, old, old); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	a2 := watcher.File{Path: a.Path, Rel: a.Rel, Size: fi.Size(), ModTime: fi.ModTime()}
	r := &fakeRemote{}
	sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{a2}}, r)
	if err != nil || sum.Done != 1 || r.n("Submit") != 1 {
		t.Errorf("summary %+v, %v, %d submits; want it processed again", sum.Stats, err, r.n("Submit"))
	}
}

// An input that failed only because it could not be read is taken again
// when it turns up again, though its size and time are the same: a chmod
// changes neither. Other failures are skipped the next time.
func TestUnreadableFailureIsRetried(t *testing.T) {
	e := newEnv(t)
	a, b := e.input("locked.jpg", time.Hour), e.input("notes.jpg", time.Hour)
	refuse := func(_ context.Context, path string) error {
		if strings.HasSuffix(path, "locked.jpg") {
			return &uploader.RejectedError{Path: path, Reason: "permission denied", Err: fs.ErrPermission}
		}
		return &uploader.RejectedError{Path: path, Reason: "not an image"}
	}
	sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{a, b}}, &fakeRemote{CheckFn: refuse})
	if err != nil || sum.Failed != 2 {
		t.Fatalf("first run = %+v, %v", sum.Stats, err)
	}
	recs := e.journalRecords()
	if recs["locked.jpg"].Failure.Permanent || !recs["notes.jpg"].Failure.Permanent {
		t.Errorf("permanent: locked %v, notes %v; want false, true", recs["locked.jpg"].Failure.Permanent, recs["notes.jpg"].Failure.Permanent)
	}
	r := &fakeRemote{}
	sum, err = e.run(e.config(1), &fakeSource{files: []watcher.File{a, b}}, r)
	if err != nil || sum.Done != 1 || sum.FailedEarlier != 1 || r.n("Check") != 1 {
		t.Errorf("second run = %+v, %v, %d checks; want locked.jpg taken again, notes.jpg skipped", sum.Stats, err, r.n("Check"))
	}
}

// pngRemote is a fakeRemote whose results are real PNG images, as an
// output must be to be adopted after the journal was moved aside.
func pngRemote() *fakeRemote {
	return &fakeRemote{DownloadFn: func(_ context.Context, _ uploader.Result, w io.WriteSeeker) (int64, error) {
		n, err := w.Write(pngImage(4, 3))
		return int64(n), err
	}}
}

// pngImage is a complete w×h PNG.
func pngImage(w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// After the journal was moved aside, only outputs that are whole images of
// the output format are adopted; anything else under an output's name (a
// text file, a JPEG named .png, a PNG cut short) is processed again.
func TestMovedAsideAdoptsOnlyCompleteImages(t *testing.T) {
	e := newEnv(t)
	names := []string{"good", "text", "jpeg", "short"}
	var files []watcher.File
	for _, n := range names {
		files = append(files, e.input(n+".jpg", time.Hour))
	}
	if _, err := e.run(e.config(1), &fakeSource{files: files}, pngRemote()); err != nil {
		t.Fatal(err)
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, image.NewGray(image.Rect(0, 0, 4, 3)), nil); err != nil {
		t.Fatal(err)
	}
	full := pngImage(400, 300)
	for name, data := range map[string][]byte{
		"text.png":  []byte("not an image, but newer than its input"),
		"jpeg.png":  jpg.Bytes(),
		"short.png": full[:len(full)-20],
	} {
		if err := os.WriteFile(e.outPath(name), data, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(e.out, ".hotfolder", JournalFile)
	if err := os.Rename(path, path+".broken"); err != nil {
		t.Fatal(err)
	}
	r := pngRemote()
	sum, err := e.run(e.config(1), &fakeSource{files: files}, r)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Skipped != 1 || sum.Done != 3 || r.n("Submit") != 3 || slices.Contains(r.checkedOn, files[0].Path) {
		t.Errorf("summary %+v, %d submits, checked %v; want good.png adopted, the other three processed",
			sum.Stats, r.n("Submit"), r.checkedOn)
	}
	for _, n := range names {
		e.wantContent(n+".png", pngImage(4, 3))
	}
}

// A state folder whose journal was never there adopts nothing, even a
// complete image: without claims, an output's name may be anyone's.
func TestFreshStateAdoptsNothing(t *testing.T) {
	e := newEnv(t)
	f := e.input("a.jpg", time.Hour)
	if err := os.MkdirAll(e.out, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.outPath("a.png"), pngImage(40, 30), 0o666); err != nil {
		t.Fatal(err)
	}
	r := pngRemote()
	sum, err := e.run(e.config(1), &fakeSource{files: []watcher.File{f}}, r)
	if err != nil || sum.Done != 1 || r.n("Submit") != 1 {
		t.Errorf("summary %+v, %v, %d submits; want a.jpg processed", sum.Stats, err, r.n("Submit"))
	}
	e.wantContent("a.png", pngImage(4, 3))
}
