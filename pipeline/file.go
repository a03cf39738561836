package pipeline

// One file's way, in the order it happens:
//
//	handle → decide → check → [upload → submit → wait → keep]… → upload → submit → wait → download → write → finish
//
// Each step of the recipe is one job: upload its input (the file, or the
// result the previous step kept in the state folder, unless the step takes
// that result's hosted URL as it is), submit, wait; every step but the last
// keeps its result, the last downloads its results and writes them. Two
// side roads: resume (a job an earlier run submitted is polled, not paid
// for again, and a step an earlier run finished is not run again) and
// resubmit (a job or result the API lost is submitted again, once). Each
// stage returns its error marked with its Stage; finish counts and records
// the end of the file.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"hotfolder/pipeline/journal"
	"hotfolder/ratelimit"
	"hotfolder/uploader"
	"hotfolder/watcher"
)

// task is one input on its way through a worker, with its outputs' names
// and its journal record.
type task struct {
	f    watcher.File
	outs []string
	rec  journal.Record
	key  contentKey // its content, when it leads it (see dedupe.go)
}

// handle takes one claimed file its whole way and finishes it. What the
// journal says of the input decides where it starts: an input done or
// failed in an earlier run is skipped, a job submitted by a run that was
// stopped is polled again instead of being paid for twice, and a step that
// run finished is not run again.
func (p *Pipeline) handle(ctx context.Context, f watcher.File, outs []string) error {
	t := &task{f: f, outs: outs}
	rec, known, err := p.j.Get(f.Rel)
	if err != nil {
		return p.finish(ctx, t, 0, at(StageWrite, err))
	}
	v := p.decide(f, outs, rec, known)
	if v == touched {
		// Noted, so that the next run need not read the file again.
		rec.ModTime = f.ModTime
		if err := p.save(rec); err != nil {
			return p.finish(ctx, t, 0, at(StageWrite, err))
		}
		p.log.Debug("its time changed, not its content: nothing to do", "file", f.Rel)
		v = doneBefore
		if rec.State == journal.Failed {
			v = failedBefore
		}
	}
	if known && v == newWork {
		p.forget(ctx, t, rec)
	}
	t.rec = rec
	if !p.current(rec, known, f, outs) {
		t.rec = journal.Record{Rel: f.Rel, Size: f.Size, ModTime: f.ModTime, Outputs: outs, Recipe: p.cfg.Fingerprint, State: journal.Queued}
	}
	t.rec.Steps = len(p.cfg.Recipe.Steps)
	if v == newWork {
		// From the first step: forget dropped what a later one would
		// have started from (a failed or finished input keeps its Step).
		t.rec.Step, t.rec.Intermediate, t.rec.UploadKey, t.rec.Resubmits = 0, "", "", 0
		t.rec.JobID, t.rec.StatusURL, t.rec.API, t.rec.Submitted = "", "", "", time.Time{}
	}
	if t.rec.State != journal.Submitted && t.rec.Step < len(p.cfg.Recipe.Steps) {
		t.rec.Op = p.cfg.Recipe.Steps[t.rec.Step].Op
	}
	switch v {
	case trustOutput:
		t.rec.State = journal.Done
		if err := p.save(t.rec); err != nil {
			return p.finish(ctx, t, 0, at(StageWrite, err))
		}
		p.skip(f, "outputs are newer than the input")
		p.applyInputAction(f, true)
		return nil
	case doneBefore:
		p.skip(f, "done in an earlier run")
		p.applyInputAction(f, true) // an earlier run may have been stopped before it could
		return nil
	case failedBefore:
		p.skipFailed(t)
		return nil
	case resumeJob:
		p.leadResumed(t)
		n, err := p.resume(ctx, t)
		return p.settle(ctx, t, n, err)
	case resumeStep:
		p.resumed.Add(1)
		p.log.Info("going on at a step an earlier run reached", "file", f.Rel, "step", t.rec.Step+1, "of", len(p.cfg.Recipe.Steps))
		p.leadResumed(t)
		n, err := p.steps(ctx, t, "")
		return p.settle(ctx, t, n, err)
	}
	if t.rec.State == journal.Done {
		p.log.Info("an output of a file done earlier is missing; processing it again", "file", f.Rel)
	}
	n, err := p.process(ctx, t)
	return p.settle(ctx, t, n, err)
}

// settle counts and records t's end after processing (n, err), then that
// of the inputs with its content parked behind it. It returns errParked
// for t parked itself, and otherwise the error that ends the worker, as
// finish does.
func (p *Pipeline) settle(ctx context.Context, t *task, n int64, err error) error {
	if errors.Is(err, errParked) {
		return errParked
	}
	var ferr error
	stopped := false
	switch {
	case errors.Is(err, ratelimit.ErrPostBudgetSpent), errors.Is(err, ratelimit.ErrDailyCapReached):
		// Not the file's fault: it stays pending, its upload journaled
		// for the next run, and no new file is taken.
		p.active.Add(-1)
		p.haltFor(err)
		stopped = true
	case errors.Is(err, errChangedWhileUploading):
		// Not a failure: its new version is on its way (see queue).
		p.log.Info("changed while uploading; nothing was submitted, the new version will be", "file", t.f.Rel)
		p.skip(t.f, "")
	default:
		ferr = p.finish(ctx, t, n, err)
		stopped = ferr != nil
	}
	if p.index == nil {
		return ferr
	}
	if lerr := p.landFollowers(ctx, t, err, stopped); ferr == nil {
		ferr = lerr
	}
	return ferr
}

// leadResumed makes t, whose job an earlier run started, the leader of its
// content: inputs with the same content wait for it.
func (p *Pipeline) leadResumed(t *task) {
	if p.index == nil || t.rec.SHA256 == "" || t.rec.Recipe == "" {
		return
	}
	t.key = contentKey{t.rec.SHA256, t.rec.Recipe}
	p.index.lead(t.key, t.f.Rel)
}

// verdict is what the journal and the output folder say to do with an
// input, before any request.
type verdict int

const (
	newWork      verdict = iota // new work, or work to start over
	trustOutput                 // no record, but outputs the moved-aside journal knew: take them as done
	doneBefore                  // done in an earlier run, and its outputs are there
	failedBefore                // failed in an earlier run: skipped unless RetryFailed
	resumeJob                   // a step's job submitted by an earlier run: poll it
	resumeStep                  // an earlier run finished the steps before this one: go on from its result
	touched                     // done or failed before, and only its time changed (touch, a sync tool): as before
)

// decide reads what is known of input f, whose outputs are outs: its
// journal record rec, if known. A record of other content (size, time),
// other output names or another recipe is new work.
func (p *Pipeline) decide(f watcher.File, outs []string, rec journal.Record, known bool) verdict {
	switch {
	case !known && p.adopt && p.outs.allAdoptable(outs, f):
		// No record at all, in a journal that replaced one moved aside:
		// outputs newer than their input, complete, of their format,
		// are ones the old journal knew. (With a record of other content,
		// the content changed, whatever the times say: cp -p can bring
		// an older mtime.) Without a journal moved aside, a file under an
		// output's name is not taken for one: it may be anything.
		return trustOutput
	case p.onlyTouched(rec, known, f, outs):
		return touched
	case !p.current(rec, known, f, outs):
		return newWork
	case rec.State == journal.Done && p.outs.allExist(outs):
		return doneBefore
	case rec.State == journal.Failed && !p.cfg.RetryFailed && !unreadableBefore(rec):
		return failedBefore
	case rec.State == journal.Submitted:
		return resumeJob
	case rec.Step > 0 && rec.State != journal.Done && rec.State != journal.Failed && p.kept(rec):
		return resumeStep
	}
	return newWork
}

// current reports whether rec, if known, is about input f as it is now,
// made with this run's recipe into outputs outs: otherwise the input is new
// work. A record from before recipes were recorded is taken as this
// recipe's: its output names still tell a change of format.
func (p *Pipeline) current(rec journal.Record, known bool, f watcher.File, outs []string) bool {
	return known && !rec.Changed(f.Size, f.ModTime) && slices.Equal(rec.Outputs, outs) &&
		(rec.Recipe == "" || rec.Recipe == p.cfg.Fingerprint)
}

// onlyTouched reports whether input f, done or failed as rec says, has a
// new modification time but the same size and bytes (touch, a sync tool,
// a copy that kept no times): that is not new work, and costs no POST.
// It reads the file only when everything else matches.
func (p *Pipeline) onlyTouched(rec journal.Record, known bool, f watcher.File, outs []string) bool {
	switch {
	case !known || rec.SHA256 == "" || rec.Size != f.Size || rec.ModTime.Equal(f.ModTime):
		return false
	case !slices.Equal(rec.Outputs, outs) || (rec.Recipe != "" && rec.Recipe != p.cfg.Fingerprint):
		return false
	case rec.State == journal.Done && p.outs.allExist(outs):
	case rec.State == journal.Failed && !p.cfg.RetryFailed && !unreadableBefore(rec):
	default:
		return false
	}
	sum, err := uploader.FileSHA256(f.Path)
	return err == nil && sum == rec.SHA256
}

// forget drops what an earlier run left of an input that is new work: its
// upload (its job, if any, is abandoned) and a step's kept result.
func (p *Pipeline) forget(ctx context.Context, t *task, rec journal.Record) {
	if rec.UploadKey != "" {
		p.discard(ctx, t, rec.UploadKey)
	}
	if rec.Intermediate != "" {
		p.keptDir.Remove(rec.Intermediate)
	}
}

// process is the main road: check, then (with dedupe) the content index,
// then the recipe's steps. It returns the outputs' size, or an error marked
// with its stage (errParked: settled later, by another input's worker).
func (p *Pipeline) process(ctx context.Context, t *task) (int64, error) {
	if err := p.check(ctx, t); err != nil {
		return 0, err
	}
	if p.index != nil {
		if handled, n, err := p.dedupe(ctx, t); handled {
			return n, err
		}
	}
	return p.steps(ctx, t, "")
}

// check validates the input locally for the recipe's first step and makes
// sure its outputs can be written, before any quota is spent; then the
// input is journaled queued.
func (p *Pipeline) check(ctx context.Context, t *task) error {
	if err := p.remote.Check(ctx, p.cfg.Recipe.Steps[0], t.f.Path); err != nil {
		return at(StageCheck, err)
	}
	for _, out := range t.outs {
		if err := p.outs.checkPath(out); err != nil {
			return at(StageCheck, err)
		}
	}
	return at(StageWrite, p.put(t, journal.Queued))
}

// markDone journals t's input done and lets go of its kept result.
func (p *Pipeline) markDone(t *task) error {
	kept := t.rec.Intermediate
	t.rec.Intermediate = ""
	if err := p.put(t, journal.Done); err != nil {
		return err
	}
	if kept != "" {
		p.keptDir.Remove(kept)
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
		p.log.Debug("done", "file", f.Rel, "outputs", t.outs, "bytes", n)
		p.observe(t.rec)
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
	p.failures = append(p.failures, Failure{Rel: f.Rel, Stage: stage, StepInfo: stepInfo(t.rec), Err: err})
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
	kept := t.rec.Intermediate
	t.rec.State, t.rec.Intermediate = journal.Failed, ""
	t.rec.Failure = failureOf(stage, err, now)
	if jerr := p.save(t.rec); jerr != nil {
		return fmt.Errorf("%s: recording its failure: %w", DisplayName(f.Rel), jerr)
	}
	if kept != "" {
		p.keptDir.Remove(kept)
	}
	if rerr := p.report.add(t.rec); rerr != nil {
		p.log.Warn("could not write the failure report", "file", p.report.name, "error", rerr)
	}
	p.observe(t.rec)
	p.applyInputAction(f, false)
	return nil
}

// observe tells the Observer, if any, of r's end.
func (p *Pipeline) observe(r journal.Record) {
	if p.cfg.Observer != nil {
		p.cfg.Observer.Ended(r)
	}
}

// skip counts f as skipped; reason, when given, is logged at debug level.
func (p *Pipeline) skip(f watcher.File, reason string) {
	p.active.Add(-1)
	p.skipped.Add(1)
	if reason != "" {
		p.log.Debug("skipped", "file", f.Rel, "reason", reason)
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
	p.skip(t.f, "")
	p.applyInputAction(t.f, false)
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

// ---- Side roads ----

// maxResubmits is how many times one step of one content is submitted
// again because its job or result went missing.
const maxResubmits = 1

// ---- Helpers of the way ----

// put records t's state durably, before the next step that depends on it.
func (p *Pipeline) put(t *task, st journal.State) error {
	t.rec.State = st
	return p.save(t.rec)
}

// endUpload discards t's upload once the step has reached an end, unless
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

// writtenSince reports whether every output in outs exists as a regular
// file written after since, with their hashes and total size.
func (p *Pipeline) writtenSince(outs []string, since time.Time) ([]string, int64, bool) {
	sums := make([]string, len(outs))
	var total int64
	for i, out := range outs {
		fl, err := p.outs.dir.Open(osRel(out))
		if err != nil {
			return nil, 0, false
		}
		fi, err := fl.Stat()
		if err != nil || !fi.Mode().IsRegular() || fi.ModTime().Before(since) {
			fl.Close()
			return nil, 0, false
		}
		sums[i], err = sha256Hex(fl)
		fl.Close()
		if err != nil {
			return nil, 0, false
		}
		total += fi.Size()
	}
	return sums, total, true
}

// errChangedWhileUploading ends a file that was rewritten while it was
// being uploaded: the watcher hands on the new version, which is processed
// in its turn.
var errChangedWhileUploading = errors.New("the file changed while it was being uploaded")

// stillThere checks, before a job is paid for, that f is still the file
// that was taken.
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
