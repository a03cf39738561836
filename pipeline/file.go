package pipeline

// One file's way, in the order it happens:
//
//	handle → decide → check → upload → submit → wait → download → write → finish
//
// with two side roads: resume (a job an earlier run submitted is polled,
// not paid for again) and resubmit (a job or result the API lost is
// submitted again, once). Each step returns its error marked with its
// Stage; finish counts and records the end of the file.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"hotfolder/pipeline/journal"
	"hotfolder/ratelimit"
	"hotfolder/uploader"
	"hotfolder/watcher"
)

// task is one input on its way through a worker, with its journal record.
type task struct {
	f   watcher.File
	out string
	rec journal.Record
}

// handle takes one claimed file its whole way and finishes it. What the
// journal says of the input decides where it starts: an input done or
// failed in an earlier run is skipped, a job submitted by a run that was
// stopped is polled again instead of being paid for twice.
func (p *Pipeline) handle(ctx context.Context, f watcher.File, out string) error {
	t := &task{f: f, out: out}
	rec, known, err := p.j.Get(f.Rel)
	if err != nil {
		return p.finish(ctx, t, 0, at(StageWrite, err))
	}
	v := p.decide(f, out, rec, known)
	if known && v == newWork && rec.UploadKey != "" {
		// New content (its old job, if any, is abandoned), or an upload
		// never submitted whose URL may have expired: of no more use.
		p.discard(ctx, t, rec.UploadKey)
		rec.UploadKey = ""
	}
	t.rec = rec
	if !current(rec, known, f, out) {
		t.rec = journal.Record{Rel: f.Rel, Size: f.Size, ModTime: f.ModTime, Output: out, State: journal.Queued}
	}
	switch v {
	case trustOutput:
		t.rec.State = journal.Done
		if err := p.save(t.rec); err != nil {
			return p.finish(ctx, t, 0, at(StageWrite, err))
		}
		p.skip(f, out, "output is newer than input")
		p.applyInputAction(f, true)
		return nil
	case doneBefore:
		p.skip(f, out, "done in an earlier run")
		p.applyInputAction(f, true) // an earlier run may have been stopped before it could
		return nil
	case failedBefore:
		p.skipFailed(t)
		return nil
	case resumeJob:
		n, err := p.resume(ctx, t)
		return p.finish(ctx, t, n, err)
	}
	if t.rec.State == journal.Done {
		p.log.Info("output of a file done earlier is missing; processing it again", "file", f.Rel, "output", out)
	}
	n, err := p.process(ctx, t)
	switch {
	case errors.Is(err, ratelimit.ErrPostBudgetSpent), errors.Is(err, ratelimit.ErrDailyCapReached):
		// Not the file's fault: it stays pending, its upload journaled
		// for the next run, and no new file is taken.
		p.active.Add(-1)
		p.haltFor(err)
		return nil
	case errors.Is(err, errChangedWhileUploading):
		// Not a failure: its new version is on its way (see queue).
		p.log.Info("changed while uploading; nothing was submitted, the new version will be", "file", f.Rel)
		p.skip(f, out, "")
		return nil
	}
	return p.finish(ctx, t, n, err)
}

// verdict is what the journal and the output folder say to do with an
// input, before any request.
type verdict int

const (
	newWork      verdict = iota // new work, or work to start over
	trustOutput                 // no record, but an output the moved-aside journal knew: take it as done
	doneBefore                  // done in an earlier run, and its output is there
	failedBefore                // failed in an earlier run: skipped unless RetryFailed
	resumeJob                   // submitted by an earlier run: poll that job
)

// decide reads what is known of input f, whose output is out: its journal
// record rec, if known. A record of other content (size, time) or of
// another output name is new work.
func (p *Pipeline) decide(f watcher.File, out string, rec journal.Record, known bool) verdict {
	switch {
	case !known && p.adopt && p.outs.upToDate(out, f) && p.outs.adoptable(out):
		// No record at all, in a journal that replaced one moved aside:
		// an output newer than its input, complete, of the right format,
		// is one the old journal knew. (With a record of other content,
		// the content changed, whatever the times say: cp -p can bring
		// an older mtime.) Without a journal moved aside, a file under an
		// output's name is not taken for one: it may be anything.
		return trustOutput
	case !current(rec, known, f, out):
		return newWork
	case rec.State == journal.Done && p.outs.exists(out):
		return doneBefore
	case rec.State == journal.Failed && !p.cfg.RetryFailed && !unreadableBefore(rec):
		return failedBefore
	case rec.State == journal.Submitted:
		return resumeJob
	}
	return newWork
}

// current reports whether rec, if known, is about input f as it is now,
// with output out: otherwise the input is new work.
func current(rec journal.Record, known bool, f watcher.File, out string) bool {
	return known && !rec.Changed(f.Size, f.ModTime) && rec.Output == out
}

// process is the main road: check, upload, submit, wait, download, write.
// It returns the output's size, or an error marked with its stage.
func (p *Pipeline) process(ctx context.Context, t *task) (int64, error) {
	if err := p.check(ctx, t); err != nil {
		return 0, err
	}
	return p.send(ctx, t)
}

// check validates the input locally and makes sure its output can be
// written, before any quota is spent; then the input is journaled queued.
func (p *Pipeline) check(ctx context.Context, t *task) error {
	if err := p.remote.Check(ctx, t.f.Path); err != nil {
		return at(StageCheck, err)
	}
	if err := p.outs.checkPath(t.out); err != nil {
		return at(StageCheck, err)
	}
	return at(StageWrite, p.put(t, journal.Queued))
}

// send uploads t's input, submits its job and sees it through. The upload
// is journaled before the job is started, and the job before it is polled,
// so a run stopped at any point leaves a record of both.
func (p *Pipeline) send(ctx context.Context, t *task) (int64, error) {
	up, err := p.upload(ctx, t)
	if err != nil {
		return 0, err
	}
	job, err := p.submit(ctx, t, up)
	if err != nil {
		return 0, err
	}
	return p.complete(ctx, t, job)
}

// upload stores the input where the API can fetch it.
func (p *Pipeline) upload(ctx context.Context, t *task) (uploader.Upload, error) {
	up, err := p.remote.Upload(ctx, t.f.Path)
	if err != nil {
		return up, at(StageUpload, err)
	}
	p.uploaded.Add(up.Size)
	t.rec.UploadKey, t.rec.SHA256 = up.Key, up.SHA256
	// The last moment to save the POST: an input deleted or rewritten
	// while it was uploading is not what the person wants processed.
	if err := stillThere(t.f); err != nil {
		p.discardUpload(ctx, t)
		return up, at(StageUpload, err)
	}
	return up, at(StageWrite, p.put(t, journal.Uploaded))
}

// submit starts the job on the upload: the POST, paid for.
func (p *Pipeline) submit(ctx context.Context, t *task, up uploader.Upload) (uploader.Job, error) {
	job, err := p.remote.Submit(ctx, up)
	if err != nil {
		p.discardUpload(ctx, t)
		return job, at(StageSubmit, err)
	}
	t.rec.JobID, t.rec.StatusURL, t.rec.Op, t.rec.Submitted, t.rec.API = job.ID, job.StatusURL, job.Op, job.Submitted, job.API
	return job, at(StageWrite, p.put(t, journal.Submitted))
}

// complete waits for t's job, downloads its result, writes it and journals
// the input done. If the API no longer knows the job or its result has
// expired (after a long stop, say), the input is submitted again, once
// per content, and the log says so.
func (p *Pipeline) complete(ctx context.Context, t *task, job uploader.Job) (int64, error) {
	res, err := p.remote.Wait(ctx, job)
	if errors.Is(err, uploader.ErrJobGone) {
		return p.resubmit(ctx, t, err)
	}
	if err != nil {
		p.endUpload(ctx, t, err)
		return 0, at(StageProcess, err)
	}
	size, err := p.fetch(ctx, t, res)
	if errors.Is(err, uploader.ErrResultGone) {
		return p.resubmit(ctx, t, err)
	}
	p.endUpload(ctx, t, err)
	if err != nil {
		return 0, err
	}
	return size, at(StageWrite, p.put(t, journal.Done))
}

// fetch downloads the job's result and writes it under t's output name.
func (p *Pipeline) fetch(ctx context.Context, t *task, res uploader.Result) (int64, error) {
	tmp, size, err := p.download(ctx, res, t.out)
	if tmp != nil {
		defer tmp.remove()
	}
	if err != nil {
		return 0, err
	}
	return size, p.write(t, tmp, size)
}

// download fetches the job's result into a temporary file beside output
// out, and returns it (the caller removes it) with the result's size. A
// failure of the disk is the error reported, not the download's.
func (p *Pipeline) download(ctx context.Context, res uploader.Result, out string) (*tempFile, int64, error) {
	final := osRel(out)
	if err := p.outs.dir.MkdirAll(filepath.Dir(final), 0o777); err != nil {
		return nil, 0, at(StageWrite, outputError(fmt.Errorf("create output folder: %w", err)))
	}
	tmp, err := createTemp(p.outs.dir, final)
	if err != nil {
		return nil, 0, at(StageWrite, outputError(fmt.Errorf("create temporary file: %w", err)))
	}
	n, err := p.remote.Download(ctx, res, tmp)
	if tmp.werr != nil {
		return tmp, 0, at(StageWrite, outputError(fmt.Errorf("write temporary file: %w", tmp.werr)))
	}
	if err != nil {
		return tmp, 0, at(StageDownload, err)
	}
	size, err := tmp.size()
	switch {
	case err != nil:
		return tmp, 0, at(StageWrite, outputError(err))
	case size == 0:
		return tmp, 0, at(StageDownload, errors.New("download: empty result"))
	case n != size:
		return tmp, 0, at(StageDownload, fmt.Errorf("download: result is %d bytes but %d were written", n, size))
	}
	p.downloaded.Add(size)
	return tmp, size, nil
}

// write moves the downloaded result into place under t's output name: the
// name never holds a partial result. The result's hash goes to the
// journal record.
func (p *Pipeline) write(t *task, tmp *tempFile, size int64) error {
	var err error
	if t.rec.OutputSHA256, err = tmp.hash(size); err != nil {
		return at(StageWrite, outputError(fmt.Errorf("read temporary file: %w", err)))
	}
	if err := tmp.commit(size, p.log); err != nil {
		return at(StageWrite, outputError(fmt.Errorf("write output: %w", err)))
	}
	// The skip rule trusts an output newer than its input. If the input
	// changed while it was being processed, this result is of the old
	// content: date it back so the new content is not skipped.
	f := t.f
	if fi, err := os.Stat(f.Path); err == nil && (!fi.ModTime().Equal(f.ModTime) || fi.Size() != f.Size) {
		if err := p.outs.dir.Chtimes(osRel(t.out), f.ModTime, f.ModTime); err != nil {
			p.log.Warn("could not date back output of changed input", "file", f.Rel, "error", err)
		}
		p.log.Info("input changed while being processed; it will be processed again", "file", f.Rel)
	}
	return nil
}

// finish counts a taken file's end, done, failed, or (when ctx ended)
// neither, and journals a failure with its stage. It returns the error
// that ends the worker: ctx's, or a fatal one.
func (p *Pipeline) finish(ctx context.Context, t *task, n int64, err error) error {
	p.active.Add(-1)
	if err != nil && ctx.Err() != nil {
		return ctx.Err() // aborted: the file stays pending, its journal record as it was
	}
	now := p.cfg.Now()
	f := t.f
	if err == nil {
		p.done.Add(1)
		p.lastDone.Store(&now)
		p.lastSuccess.Store(&now)
		p.log.Debug("done", "file", f.Rel, "output", t.out, "bytes", n)
		p.applyInputAction(f, true)
		return nil
	}
	stage := stageOf(err)
	if uploader.IsFatal(err) {
		// Not the file's fault: it stays pending, its record as it was, so
		// the next run takes it up again, and the summary agrees with the
		// journal. The error stops the run and is reported by the caller.
		return fmt.Errorf("%s: %s: %w", DisplayName(f.Rel), stage, err)
	}
	p.failMu.Lock()
	p.failures = append(p.failures, Failure{Rel: f.Rel, Stage: stage, Err: err})
	p.failMu.Unlock()
	p.failed.Add(1)
	p.lastDone.Store(&now)
	args := []any{"file", f.Rel, "stage", stage, "error", err}
	if h := uploader.Hint(err); h != "" {
		args = append(args, "hint", h)
	}
	p.log.Info("failed", args...)
	if t.rec.Rel == "" {
		return nil // it could not even be named: nothing to record
	}
	t.rec.State = journal.Failed
	t.rec.Failure = failureOf(stage, err, now)
	if jerr := p.save(t.rec); jerr != nil {
		return fmt.Errorf("%s: recording its failure: %w", DisplayName(f.Rel), jerr)
	}
	if rerr := p.report.add(t.rec); rerr != nil {
		p.log.Warn("could not write the failure report", "file", p.report.name, "error", rerr)
	}
	p.applyInputAction(f, false)
	return nil
}

// haltFor stops taking new files because a quota the run may not exceed,
// err, is reached; it says so once, in the log, the progress line and the
// summary.
func (p *Pipeline) haltFor(err error) {
	p.budgetOnce.Do(func() {
		why := "the POST budget of this run (-max-posts) is spent"
		if errors.Is(err, ratelimit.ErrDailyCapReached) {
			why = "the daily POST cap (-daily-posts) is reached"
		}
		p.halted.Store(&why)
		p.log.Warn(why + ": taking no new files; the rest are left for the next run")
	})
	p.halt()
}

// skip counts f as skipped; reason, when given, is logged at debug level.
func (p *Pipeline) skip(f watcher.File, out, reason string) {
	p.active.Add(-1)
	p.skipped.Add(1)
	if reason != "" {
		p.log.Debug("skipped", "file", f.Rel, "output", out, "reason", reason)
	}
}

// skipFailed skips an input that failed in an earlier run, saying so.
func (p *Pipeline) skipFailed(t *task) {
	p.failedEarlier.Add(1)
	args := []any{"file", t.f.Rel}
	if fl := t.rec.Failure; fl != nil {
		args = append(args, "stage", fl.Stage, "error", fl.Message)
	}
	p.log.Info("skipped: failed in an earlier run (-retry-failed takes it again)", args...)
	p.skip(t.f, t.out, "")
	p.applyInputAction(t.f, false)
}

// ---- Side roads ----

// resume picks up a job an earlier run submitted: it is polled, not paid
// for again.
func (p *Pipeline) resume(ctx context.Context, t *task) (int64, error) {
	p.resumed.Add(1)
	r := t.rec
	p.log.Info("resuming a job submitted by an earlier run", "file", t.f.Rel, "job", r.JobID, "submitted", r.Submitted.Format(time.RFC3339))
	if size, sum, ok := p.writtenSince(t.out, r.Submitted); ok {
		// The earlier run wrote the output but was stopped before noting it.
		t.rec.OutputSHA256 = sum
		p.discardUpload(ctx, t)
		return size, at(StageWrite, p.put(t, journal.Done))
	}
	// A fresh deadline: the job may have been submitted long ago.
	job := uploader.Job{ID: r.JobID, StatusURL: r.StatusURL, Op: r.Op, Submitted: p.cfg.Now(), API: r.API}
	return p.complete(ctx, t, job)
}

// resubmit submits t's input again after its job or result went missing,
// unless that was done for this content already.
func (p *Pipeline) resubmit(ctx context.Context, t *task, why error) (int64, error) {
	if t.rec.Resubmits >= maxResubmits {
		p.discardUpload(ctx, t)
		return 0, at(StageProcess, fmt.Errorf("job %s: %w; it was submitted again once already and is not submitted a third time", t.rec.JobID, why))
	}
	t.rec.Resubmits++
	p.log.Warn("the API no longer knows the job or its result; submitting the file again, once", "file", t.f.Rel, "job", t.rec.JobID, "reason", why)
	p.discardUpload(ctx, t) // its URL may have expired too: upload afresh
	return p.send(ctx, t)
}

// maxResubmits is how many times one content is submitted again because
// its job or result went missing.
const maxResubmits = 1

// ---- Helpers of the way ----

// put records t's state durably, before the next step that depends on it.
func (p *Pipeline) put(t *task, st journal.State) error {
	t.rec.State = st
	return p.save(t.rec)
}

// endUpload discards t's upload once the file has reached an end, unless
// the run is being aborted while its job is in flight: the next run polls
// that job, and the API may still fetch the input.
func (p *Pipeline) endUpload(ctx context.Context, t *task, err error) {
	if err != nil && ctx.Err() != nil {
		return
	}
	p.discardUpload(ctx, t)
}

// discardUpload deletes t's uploaded input, unless uploads are kept.
func (p *Pipeline) discardUpload(ctx context.Context, t *task) {
	if t.rec.UploadKey == "" || p.cfg.KeepUploads {
		return
	}
	if p.discard(ctx, t, t.rec.UploadKey) {
		t.rec.UploadKey = ""
	}
}

// discard deletes an uploaded input, best effort: it runs even while the
// run is being aborted (with a short deadline), and a failure is only
// logged. It reports whether the input is gone.
func (p *Pipeline) discard(ctx context.Context, t *task, key string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discardTimeout)
	defer cancel()
	if err := p.remote.Discard(ctx, uploader.Upload{Key: key}); err != nil {
		p.log.Warn("could not delete uploaded input", "file", t.f.Rel, "key", key, "error", err)
		return false
	}
	return true
}

// discardTimeout bounds the best-effort deletion of an uploaded input, which
// also runs when the run is being aborted.
const discardTimeout = 10 * time.Second

// writtenSince reports whether output out exists as a regular file written
// after since, with its size and hash.
func (p *Pipeline) writtenSince(out string, since time.Time) (int64, string, bool) {
	fl, err := p.outs.dir.Open(osRel(out))
	if err != nil {
		return 0, "", false
	}
	defer fl.Close()
	fi, err := fl.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.ModTime().Before(since) {
		return 0, "", false
	}
	sum, err := sha256Hex(fl)
	if err != nil {
		return 0, "", false
	}
	return fi.Size(), sum, true
}

// errChangedWhileUploading ends a file that was rewritten while it was
// being uploaded: the watcher hands on the new version, which is processed
// in its turn.
var errChangedWhileUploading = errors.New("the file changed while it was being uploaded")

// stillThere checks, before a job is paid for, that f is still the file
// that was uploaded.
func stillThere(f watcher.File) error {
	fi, err := os.Stat(f.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return &hintedError{err: errors.New("the file was deleted while it was being uploaded; nothing was submitted"),
			hint: "nothing to do if that was meant; otherwise put it back"}
	case err != nil:
		return err
	case fi.Size() != f.Size || !fi.ModTime().Equal(f.ModTime):
		return errChangedWhileUploading
	}
	return nil
}
