package pipeline

// Content dedupe: inputs with the same bytes going through the same recipe
// get one job. The first to be taken leads: it is processed as any input
// is. The others follow: one taken while the leader is in flight is
// parked (its worker goes on to other files) and settled by the leader's
// worker when the leader ends; one taken after the leader is done gets
// copies of its outputs at once. Either way a follower is journaled done
// with CopyOf naming the leader, and no job is paid for it. If the leader
// fails, its followers fail with the same reason (and -retry-failed takes
// them again together), unless it failed for a reason of its own file
// (deleted or changed while uploading): then the next follower leads.
//
// The index of content done (or failed, or on its way) is built from the
// journal when the pipeline opens, so a copy dropped in next week costs
// nothing either, and a follower parked when a run was killed waits for
// its leader's resumed job instead of paying for one of its own.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"hotfolder/pipeline/journal"
	"hotfolder/uploader"
)

// contentKey is what makes two inputs' results the same: the input's
// SHA-256 and the recipe's fingerprint.
type contentKey struct{ sha, recipe string }

// flight is a content being processed: its leader, and the followers
// parked until it ends.
type flight struct {
	leader    string // Rel of the input processed for the content
	running   bool   // a worker has the leader; false: journaled on its way by an earlier run, not taken yet
	followers []*task
}

// contentIndex knows, for each content, an input done with it, one that
// failed on it, and the one being processed. It is safe for concurrent use.
type contentIndex struct {
	mu      sync.Mutex
	done    map[contentKey]string   // Rel of an input done with the content (its record holds the outputs)
	failed  map[contentKey]failedOn // an input whose job failed on the content
	pending map[contentKey]string   // Rel of an input on its way in an earlier run
	flights map[contentKey]*flight
}

// failedOn is the input whose job failed on a content, and whether that
// was in an earlier run.
type failedOn struct {
	rel     string
	earlier bool
}

// loadIndex reads the content index off the journal's records.
func loadIndex(j *journal.Journal) (*contentIndex, error) {
	ix := &contentIndex{done: map[contentKey]string{}, failed: map[contentKey]failedOn{},
		pending: map[contentKey]string{}, flights: map[contentKey]*flight{}}
	err := j.Each(func(r journal.Record) error {
		if r.SHA256 == "" || r.Recipe == "" {
			return nil
		}
		k := contentKey{r.SHA256, r.Recipe}
		switch {
		case r.State == journal.Done && len(r.OutputSHA256s) == len(r.Outputs) && len(r.Outputs) > 0:
			if _, ok := ix.done[k]; !ok || r.CopyOf == "" {
				ix.done[k] = r.Rel // an original rather than a copy, when there is one
			}
		case r.State == journal.Failed && verdictOnContent(r.Failure):
			ix.failed[k] = failedOn{r.Rel, true}
		case r.State == journal.Uploaded || r.State == journal.Submitted || (r.State == journal.Queued && r.Step > 0):
			ix.pending[k] = r.Rel
		}
		return nil
	})
	return ix, err
}

// verdictOnContent reports whether failure fl is the API's verdict on the
// content (or a job paid for and lost), which the same content would get
// again: its copies fail with it instead of paying for another job.
func verdictOnContent(fl *journal.Failure) bool {
	if fl == nil {
		return false
	}
	switch Stage(fl.Stage) {
	case StageSubmit:
		return fl.Permanent
	case StageProcess, StageDownload:
		return true
	}
	return false
}

// joined is what became of an input that joined the index.
type joined int

const (
	leads    joined = iota // no other input has the content: process it
	parked                 // another is processing it: settled when that one ends
	copyDone               // another was done with it: copy its outputs
	copyFail               // another's job failed on it: fail the same way
)

// join looks up t's content k: it returns what to do, and the input that
// decides it (the leader) when it is not t itself, and for copyFail
// whether that one failed in an earlier run. A parked t is no longer the
// caller's to settle.
func (ix *contentIndex) join(t *task, k contentKey, retryFailed bool, present func(rel string) bool) (how joined, leader string, earlier bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if fl, ok := ix.flights[k]; ok {
		fl.followers = append(fl.followers, t)
		return parked, fl.leader, false
	}
	if rel, ok := ix.done[k]; ok && rel != t.f.Rel {
		return copyDone, rel, false
	}
	if f, ok := ix.failed[k]; ok && f.rel != t.f.Rel && !retryFailed {
		return copyFail, f.rel, f.earlier
	}
	if rel, ok := ix.pending[k]; ok && rel != t.f.Rel && present(rel) {
		// An earlier run was stopped with rel's job on its way: rel
		// resumes it when it is taken, so wait for it.
		ix.flights[k] = &flight{leader: rel, followers: []*task{t}}
		return parked, rel, false
	}
	ix.flights[k] = &flight{leader: t.f.Rel, running: true}
	return leads, "", false
}

// lead makes rel the running leader of its content, taking over the
// followers parked for it by an earlier run's record (see join).
func (ix *contentIndex) lead(k contentKey, rel string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if fl, ok := ix.flights[k]; ok && fl.leader == rel {
		fl.running = true
		return
	}
	if _, ok := ix.flights[k]; !ok {
		ix.flights[k] = &flight{leader: rel, running: true}
	}
}

// dropDone forgets that rel is done with content k: its outputs are no
// longer copies of the content's results.
func (ix *contentIndex) dropDone(k contentKey, rel string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.done[k] == rel {
		delete(ix.done, k)
	}
}

// land ends rel's flight of content k, noting the outcome: done (its
// record holds the outputs), failed on the content, or neither. It returns
// the followers to settle.
func (ix *contentIndex) land(k contentKey, rel string, done, failedOnContent bool) []*task {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	fl, ok := ix.flights[k]
	if !ok || fl.leader != rel {
		return nil
	}
	delete(ix.flights, k)
	delete(ix.pending, k)
	switch {
	case done:
		ix.done[k] = rel
		delete(ix.failed, k)
	case failedOnContent:
		ix.failed[k] = failedOn{rel, false}
	}
	return fl.followers
}

// forget drops the flights whose leaders were never taken, returning their
// followers: the run is over.
func (ix *contentIndex) forget() []*task {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var left []*task
	for k, fl := range ix.flights {
		left = append(left, fl.followers...)
		delete(ix.flights, k)
	}
	return left
}

// errParked ends handle for an input parked behind another with the same
// content: its worker must not release it, its leader's worker settles it.
var errParked = errors.New("parked behind an input with the same content")

// sameContentError is a follower's failure: its leader's.
type sameContentError struct {
	of      string // the leader
	earlier bool   // the leader failed in an earlier run
	err     error
}

func (e *sameContentError) Error() string {
	when := ""
	if e.earlier {
		when = " in an earlier run"
	}
	return fmt.Sprintf("same content as %s, which failed%s (nothing was paid for this copy): %v", DisplayName(e.of), when, e.err)
}
func (e *sameContentError) Unwrap() error { return e.err }
func (e *sameContentError) Hint() string {
	if h := uploader.Hint(e.err); h != "" {
		return h + "; -retry-failed takes the copies again with it, for one job"
	}
	return "-retry-failed takes it again with the copies, for one job"
}

// contentOf hashes t's input for the index.
func (p *Pipeline) contentOf(t *task) (contentKey, error) {
	sum, err := uploader.FileSHA256(t.f.Path)
	if err != nil {
		return contentKey{}, at(StageCheck, fmt.Errorf("read the input: %w", err))
	}
	return contentKey{sum, p.cfg.Fingerprint}, nil
}

// dedupe joins t, checked, to the content index. It returns handled when
// the caller must not process t: it was parked (errParked) or settled as a
// copy (n, err for finish). Otherwise t leads its content, hashed in t.key.
func (p *Pipeline) dedupe(ctx context.Context, t *task) (handled bool, n int64, err error) {
	k, err := p.contentOf(t)
	if err != nil {
		return true, 0, err
	}
	t.rec.SHA256 = k.sha
	return p.joinContent(ctx, t, k)
}

// joinContent is dedupe for t, of content k.
func (p *Pipeline) joinContent(ctx context.Context, t *task, k contentKey) (handled bool, n int64, err error) {
	how, leader, earlier := p.index.join(t, k, p.cfg.RetryFailed, p.unchangedInput)
	switch how {
	case parked:
		p.log.Info("same content as a file being processed: waiting for its result instead of paying again",
			"file", t.f.Rel, "same_as", leader)
		return true, 0, errParked
	case copyDone:
		n, err := p.copyOf(ctx, t, leader)
		if !errors.Is(err, errNoCopy) {
			return true, n, err
		}
		p.log.Info("the outputs of the file with the same content changed or are gone; processing this one", "file", t.f.Rel,
			"same_as", leader, "why", err)
		// Joined again: t leads, or waits for a copy that took the lead
		// meanwhile.
		p.index.dropDone(k, leader)
		return p.joinContent(ctx, t, k)
	case copyFail:
		rec, _, _ := p.j.Get(leader)
		stage, why := StageProcess, error(errors.New("the API refused it"))
		if fl := rec.Failure; fl != nil {
			stage, why = Stage(fl.Stage), &hintedError{err: errors.New(fl.Message), hint: fl.Hint}
		}
		return true, 0, at(stage, &sameContentError{of: leader, earlier: earlier, err: why})
	}
	t.key = k
	return false, 0, nil
}

// unchangedInput reports whether the input rel, journaled on its way, is
// still in the hot folder as it was: then it will be taken and resume.
func (p *Pipeline) unchangedInput(rel string) bool {
	rec, ok, err := p.j.Get(rel)
	if err != nil || !ok {
		return false
	}
	fi, err := os.Stat(filepath.Join(p.cfg.In, filepath.FromSlash(rel)))
	return err == nil && !rec.Changed(fi.Size(), fi.ModTime())
}

// errNoCopy is an original whose outputs cannot be copied: they changed
// or are gone since it was done.
var errNoCopy = errors.New("no copy")

// copyOf writes copies of the outputs of leader, done with t's content,
// under t's output names, and journals t done as a copy. All are made
// before any is put in place, and each must hash as the journal says the
// leader's did; otherwise errNoCopy, and t is processed itself.
func (p *Pipeline) copyOf(ctx context.Context, t *task, leader string) (int64, error) {
	orig, ok, err := p.j.Get(leader)
	switch {
	case err != nil:
		return 0, at(StageWrite, err)
	case !ok || orig.State != journal.Done || orig.SHA256 != t.rec.SHA256 || orig.Recipe != p.cfg.Fingerprint:
		return 0, fmt.Errorf("%w: %s is no longer done with this content", errNoCopy, DisplayName(leader))
	case len(orig.Outputs) != len(t.outs) || len(orig.OutputSHA256s) != len(t.outs):
		return 0, fmt.Errorf("%w: %s has %d outputs, this file %d", errNoCopy, DisplayName(leader), len(orig.Outputs), len(t.outs))
	}
	tmps := make([]*tempFile, len(t.outs))
	defer func() {
		for _, tmp := range tmps {
			if tmp != nil {
				tmp.remove()
			}
		}
	}()
	sizes := make([]int64, len(t.outs))
	for i := range t.outs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if tmps[i], sizes[i], err = p.copyOutput(orig.Outputs[i], orig.OutputSHA256s[i], t.outs[i]); err != nil {
			return 0, err
		}
	}
	var total int64
	for i, tmp := range tmps {
		if err := tmp.commit(sizes[i], p.log); err != nil {
			return 0, at(StageWrite, outputError(fmt.Errorf("write output: %w", err)))
		}
		total += sizes[i]
	}
	t.rec.OutputSHA256s, t.rec.CopyOf = orig.OutputSHA256s, leader
	if err := p.markDone(t); err != nil {
		return 0, at(StageWrite, err)
	}
	p.copied.Add(1)
	saved := uploader.Posts(p.cfg.Recipe.Steps)
	var n int
	for _, c := range saved {
		n += c
	}
	p.saved.Add(int64(n))
	if err := p.j.AddSaved(n); err != nil {
		p.log.Warn("could not count the POSTs saved in the journal", "error", err)
	}
	p.log.Debug("done as a copy", "file", t.f.Rel, "copy_of", leader, "outputs", t.outs)
	return total, nil
}

// copyOutput copies the output src, whose hash should be sum, into a
// temporary file beside dst: a clone of its blocks where the file system
// can (Btrfs, XFS), else a copy of its bytes. It never hard-links: editing
// one output must not change its twin.
func (p *Pipeline) copyOutput(src, sum, dst string) (*tempFile, int64, error) {
	in, err := p.outs.dir.Open(osRel(src))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", errNoCopy, err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%w: %s is not a regular file", errNoCopy, src)
	}
	if err := p.outs.dir.MkdirAll(filepath.Dir(osRel(dst)), 0o777); err != nil {
		return nil, 0, at(StageWrite, outputError(fmt.Errorf("create output folder: %w", err)))
	}
	tmp, err := createTemp(p.outs.dir, osRel(dst))
	if err != nil {
		return nil, 0, at(StageWrite, outputError(fmt.Errorf("create temporary file: %w", err)))
	}
	size := fi.Size()
	if !cloneFile(tmp.f, in) {
		if _, err := io.Copy(tmp, in); err != nil {
			tmp.remove()
			if tmp.werr != nil {
				return nil, 0, at(StageWrite, outputError(fmt.Errorf("write temporary file: %w", tmp.werr)))
			}
			return nil, 0, fmt.Errorf("%w: reading %s: %v", errNoCopy, src, err)
		}
	}
	got, err := tmp.hash(size)
	if err != nil {
		tmp.remove()
		return nil, 0, at(StageWrite, outputError(fmt.Errorf("read temporary file: %w", err)))
	}
	if got != sum {
		tmp.remove()
		return nil, 0, fmt.Errorf("%w: %s changed since it was written", errNoCopy, src)
	}
	return tmp, size, nil
}

// landFollowers settles the followers parked behind t, now that t has
// ended: with copies of its outputs if it is done (err nil), with its
// failure if that was the API's verdict on the content, as pending if the
// run is ending; else the first of them leads in its turn, here.
func (p *Pipeline) landFollowers(ctx context.Context, t *task, err error, stopped bool) error {
	if t.key == (contentKey{}) {
		return nil
	}
	done := err == nil && !stopped && t.rec.State == journal.Done
	onContent := err != nil && !stopped && stageOf(err) != StageUpload && stageOf(err) != StageCheck
	followers := p.index.land(t.key, t.f.Rel, done, onContent)
	for i, f := range followers {
		var ferr error
		var n int64
		switch {
		case stopped || ctx.Err() != nil:
			p.active.Add(-1) // pending: its record stays queued for the next run
			p.release(f.f.Rel)
			continue
		case done:
			n, ferr = p.copyOf(ctx, f, t.f.Rel)
			if errors.Is(ferr, errNoCopy) {
				return p.relead(ctx, f, followers[i+1:])
			}
		case onContent:
			ferr = at(stageOf(err), &sameContentError{of: t.f.Rel, err: err})
		default:
			return p.relead(ctx, f, followers[i+1:])
		}
		fe := p.finish(ctx, f, n, ferr)
		p.release(f.f.Rel)
		if fe != nil {
			return fe
		}
	}
	return nil
}

// relead processes follower f itself, its leader having failed for a
// reason of its own, with the followers after it parked behind f.
func (p *Pipeline) relead(ctx context.Context, f *task, rest []*task) error {
	k := contentKey{f.rec.SHA256, p.cfg.Fingerprint}
	p.index.mu.Lock()
	p.index.flights[k] = &flight{leader: f.f.Rel, running: true, followers: rest}
	p.index.mu.Unlock()
	f.key = k
	defer p.release(f.f.Rel)
	n, err := p.steps(ctx, f, "")
	return p.settle(ctx, f, n, err)
}

// settleLeftovers counts the followers whose leader this run never took
// as pending; call it when no worker is running.
func (p *Pipeline) settleLeftovers() {
	if p.index == nil {
		return
	}
	for _, f := range p.index.forget() {
		p.log.Info("left pending: the file with the same content it waited for was not processed in this run", "file", f.f.Rel)
		p.active.Add(-1)
		p.release(f.f.Rel)
	}
}
