package pipeline

// The steps of a recipe, each one job (see file.go for the whole way):
// upload, submit, complete; keep the result of every step but the last in
// the state folder for the next, fetch and write the results of the last;
// and the side roads resume and resubmit.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"hotfolder/pipeline/journal"
	"hotfolder/uploader"
)

// steps runs the recipe from step t.rec.Step to the end. Each step's input
// is the file (step 0) or the previous step's result: at its hosted URL,
// given as hosted, when the step takes any URL, else the copy kept in the
// state folder, uploaded. Every step is journaled before the next one that
// depends on it, so that a stopped run goes on where it was.
func (p *Pipeline) steps(ctx context.Context, t *task, hosted string) (int64, error) {
	for {
		step := p.cfg.Recipe.Steps[t.rec.Step]
		src := hosted
		if t.rec.Step == 0 || src == "" || !step.AcceptsAnyURL() {
			up, err := p.upload(ctx, t)
			if err != nil {
				return 0, err
			}
			src = up.URL
		}
		job, err := p.submit(ctx, t, step, src)
		if err != nil {
			return 0, err
		}
		n, next, err := p.complete(ctx, t, job)
		if err != nil || t.rec.State == journal.Done {
			return n, err
		}
		hosted = next
	}
}

// upload stores the step's input where the API can fetch it: the file, or
// the previous step's kept result.
func (p *Pipeline) upload(ctx context.Context, t *task) (uploader.Upload, error) {
	path := t.f.Path
	if t.rec.Step > 0 {
		path = filepath.Join(p.keptDir.Name(), filepath.FromSlash(t.rec.Intermediate))
	}
	up, err := p.remote.Upload(ctx, path)
	if err != nil {
		return up, at(StageUpload, err)
	}
	p.uploaded.Add(up.Size)
	t.rec.UploadKey = up.Key
	if t.rec.Step == 0 && up.SHA256 != "" {
		t.rec.SHA256 = up.SHA256
	}
	return up, at(StageWrite, p.put(t, journal.Uploaded))
}

// submit starts the step's job on src: the POST, paid for. Just before it,
// the last moment to save it: an input deleted or rewritten meanwhile is
// not what the person wants processed.
func (p *Pipeline) submit(ctx context.Context, t *task, step uploader.Step, src string) (uploader.Job, error) {
	if err := stillThere(t.f); err != nil {
		p.discardUpload(ctx, t)
		return uploader.Job{}, at(StageUpload, err)
	}
	job, err := p.remote.Submit(ctx, step, src)
	if err != nil {
		p.discardUpload(ctx, t)
		return job, at(StageSubmit, err)
	}
	t.rec.JobID, t.rec.StatusURL, t.rec.Op, t.rec.Submitted, t.rec.API = job.ID, job.StatusURL, job.Op, job.Submitted, job.API
	return job, at(StageWrite, p.put(t, journal.Submitted))
}

// complete waits for the job of t's step. The last step's results are
// downloaded and written, and the input journaled done; an earlier step's
// result is kept in the state folder, the input journaled at the next step,
// and the result's hosted URL returned for it. If the API no longer knows
// the job or its result has expired (after a long stop, say), the step is
// submitted again, once, and the log says so.
func (p *Pipeline) complete(ctx context.Context, t *task, job uploader.Job) (int64, string, error) {
	results, err := p.remote.Wait(ctx, job)
	if errors.Is(err, uploader.ErrJobGone) {
		n, err := p.resubmit(ctx, t, err)
		return n, "", err
	}
	if err != nil {
		p.endUpload(ctx, t, err)
		return 0, "", at(StageProcess, err)
	}
	last := t.rec.Step == len(p.cfg.Recipe.Steps)-1
	var n int64
	if last {
		n, err = p.fetch(ctx, t, results)
	} else {
		err = p.keep(ctx, t, results)
	}
	if errors.Is(err, uploader.ErrResultGone) {
		n, err := p.resubmit(ctx, t, err)
		return n, "", err
	}
	p.endUpload(ctx, t, err)
	if err != nil {
		return 0, "", err
	}
	if last {
		return n, "", at(StageWrite, p.markDone(t))
	}
	return 0, results[0].URL, nil
}

// fetch downloads the last step's results and writes them under t's output
// names: all are downloaded before any is written, so that an input is
// done only when every output is there, whole.
func (p *Pipeline) fetch(ctx context.Context, t *task, results []uploader.Result) (int64, error) {
	if len(results) != len(t.outs) {
		return 0, at(StageDownload, fmt.Errorf("download: the job gave %d results for %d outputs", len(results), len(t.outs)))
	}
	tmps := make([]*tempFile, len(results))
	defer func() {
		for _, tmp := range tmps {
			if tmp != nil {
				tmp.remove()
			}
		}
	}()
	sizes := make([]int64, len(results))
	for i, res := range results {
		var err error
		if tmps[i], sizes[i], err = p.download(ctx, res, p.outs.dir, osRel(t.outs[i])); err != nil {
			return 0, err
		}
	}
	t.rec.OutputSHA256s = make([]string, len(results))
	var total int64
	for i, tmp := range tmps {
		sum, err := p.write(t, tmp, sizes[i], t.outs[i])
		if err != nil {
			return 0, err
		}
		t.rec.OutputSHA256s[i] = sum
		total += sizes[i]
	}
	return total, nil
}

// keep downloads an earlier step's result into the state folder, where the
// next step (or a run after a stop) takes it from, and journals the input
// at the next step.
func (p *Pipeline) keep(ctx context.Context, t *task, results []uploader.Result) error {
	if len(results) != 1 {
		return at(StageDownload, fmt.Errorf("download: step %d gave %d results where the next step takes one", t.rec.Step+1, len(results)))
	}
	name := keptName(t.f.Rel, t.rec.Step, p.cfg.Recipe.Steps[t.rec.Step].Outputs[0].Ext())
	tmp, size, err := p.download(ctx, results[0], p.keptDir, name)
	if tmp != nil {
		defer tmp.remove()
	}
	if err != nil {
		return err
	}
	if err := tmp.commit(size, p.log); err != nil {
		return at(StageWrite, stateError(fmt.Errorf("keep the result of step %d: %w", t.rec.Step+1, err)))
	}
	p.discardUpload(ctx, t) // the step's input, of no more use
	if old := t.rec.Intermediate; old != "" && old != name {
		p.keptDir.Remove(old)
	}
	t.rec.Intermediate, t.rec.Step, t.rec.Resubmits = name, t.rec.Step+1, 0
	t.rec.JobID, t.rec.StatusURL, t.rec.API, t.rec.Submitted = "", "", "", time.Time{}
	t.rec.Op = p.cfg.Recipe.Steps[t.rec.Step].Op
	return at(StageWrite, p.put(t, journal.Queued))
}

// keptName is the file name of an input's kept result of a step: named by
// a hash of the input's path, so that any name fits.
func keptName(rel string, step int, ext string) string {
	sum := sha256.Sum256([]byte(rel))
	return hex.EncodeToString(sum[:12]) + "-" + strconv.Itoa(step+1) + "." + ext
}

// kept reports whether rec's kept result of the step before its own is
// still in the state folder.
func (p *Pipeline) kept(rec journal.Record) bool {
	if rec.Intermediate == "" {
		return false
	}
	var fi os.FileInfo
	var err error
	if p.keptDir != nil {
		fi, err = p.keptDir.Stat(rec.Intermediate)
	} else { // a dry run opens no folder
		fi, err = os.Stat(filepath.Join(p.cfg.State, stepsDir, filepath.FromSlash(rec.Intermediate)))
	}
	return err == nil && fi.Mode().IsRegular()
}

// download fetches a result into a temporary file beside name in root (the
// output folder, or the folder of kept results), and returns it (the
// caller removes it) with the result's size. A failure of the disk is the
// error reported, not the download's.
func (p *Pipeline) download(ctx context.Context, res uploader.Result, root *os.Root, name string) (*tempFile, int64, error) {
	if err := root.MkdirAll(filepath.Dir(name), 0o777); err != nil {
		return nil, 0, at(StageWrite, outputError(fmt.Errorf("create output folder: %w", err)))
	}
	tmp, err := createTemp(root, name)
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

// write moves a downloaded result into place under output out: the name
// never holds a partial result. It returns the result's hash, for the
// journal.
func (p *Pipeline) write(t *task, tmp *tempFile, size int64, out string) (string, error) {
	sum, err := tmp.hash(size)
	if err != nil {
		return "", at(StageWrite, outputError(fmt.Errorf("read temporary file: %w", err)))
	}
	if err := tmp.commit(size, p.log); err != nil {
		return "", at(StageWrite, outputError(fmt.Errorf("write output: %w", err)))
	}
	// The skip rule trusts an output newer than its input. If the input
	// changed while it was being processed, this result is of the old
	// content: date it back so the new content is not skipped.
	f := t.f
	if fi, err := os.Stat(f.Path); err == nil && (!fi.ModTime().Equal(f.ModTime) || fi.Size() != f.Size) {
		if err := p.outs.dir.Chtimes(osRel(out), f.ModTime, f.ModTime); err != nil {
			p.log.Warn("could not date back output of changed input", "file", f.Rel, "error", err)
		}
		p.log.Info("input changed while being processed; it will be processed again", "file", f.Rel)
	}
	return sum, nil
}

// resume picks up the job of a step an earlier run submitted: it is
// polled, not paid for again.
func (p *Pipeline) resume(ctx context.Context, t *task) (int64, error) {
	p.resumed.Add(1)
	r := t.rec
	p.log.Info("resuming a job submitted by an earlier run", "file", t.f.Rel, "job", r.JobID, "step", r.Step+1,
		"submitted", r.Submitted.Format(time.RFC3339))
	if r.Step == len(p.cfg.Recipe.Steps)-1 {
		if sums, size, ok := p.writtenSince(t.outs, r.Submitted); ok {
			// The earlier run wrote the outputs but was stopped before noting it.
			t.rec.OutputSHA256s = sums
			p.discardUpload(ctx, t)
			return size, at(StageWrite, p.markDone(t))
		}
	}
	// A fresh deadline: the job may have been submitted long ago. What it
	// gives is what the step asked for: the record is of this recipe.
	job := uploader.Job{ID: r.JobID, StatusURL: r.StatusURL, Op: r.Op, Submitted: p.cfg.Now(), API: r.API}
	for _, out := range p.cfg.Recipe.Steps[r.Step].Outputs {
		job.MediaTypes = append(job.MediaTypes, out.MediaType())
	}
	n, next, err := p.complete(ctx, t, job)
	if err != nil || t.rec.State == journal.Done {
		return n, err
	}
	return p.steps(ctx, t, next)
}

// resubmit submits t's step again after its job or result went missing,
// unless that was done for this step already.
func (p *Pipeline) resubmit(ctx context.Context, t *task, why error) (int64, error) {
	if t.rec.Resubmits >= maxResubmits {
		p.discardUpload(ctx, t)
		return 0, at(StageProcess, fmt.Errorf("job %s: %w; it was submitted again once already and is not submitted a third time", t.rec.JobID, why))
	}
	t.rec.Resubmits++
	p.log.Warn("the API no longer knows the job or its result; submitting the file again, once", "file", t.f.Rel,
		"job", t.rec.JobID, "step", t.rec.Step+1, "reason", why)
	p.discardUpload(ctx, t) // its URL may have expired too: upload afresh
	return p.steps(ctx, t, "")
}
