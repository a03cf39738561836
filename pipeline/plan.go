package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"golang.org/x/sync/errgroup"

	"hotfolder/pipeline/journal"
	"hotfolder/ratelimit"
	"hotfolder/uploader"
	"hotfolder/watcher"
)

// What a dry run would do with an input.
const (
	PlanProcess    = "process"    // check, then every step of the recipe: a POST each
	PlanResume     = "resume"     // go on where an earlier run stopped: the POSTs of the steps left
	PlanDone       = "done"       // done in an earlier run, or its output is up to date: skipped
	PlanFailed     = "failed"     // failed in an earlier run: skipped (RetryFailed takes it again)
	PlanCopy       = "copy"       // the same content as another input (Reason names it): its outputs are copied, no POST
	PlanRejected   = "rejected"   // fails the local check: no POST
	PlanUnnameable = "unnameable" // no output name can be given to it
)

// Planned is one input as a dry run sees it.
type Planned struct {
	Rel     string   // input, relative to In
	Outputs []string // outputs, relative to Out
	Action  string   // one of the Plan… constants
	Reason  string   // why, for PlanFailed, PlanRejected and PlanUnnameable; the original, for PlanCopy
	Step    int      // for PlanResume: the step (0-based) it goes on at
	Poll    bool     // for PlanResume: that step's job is in flight, paid for: it is polled
}

// Plan is what a run would do: every input found, in the order found.
type Plan struct {
	Files []Planned
	Posts map[ratelimit.Bucket]int // POSTs the run would spend, by quota bucket
}

// DryRun finds the inputs src hands on and says what a run with cfg would
// do with each, sending no request and writing nothing: the claims file and
// the journal are only read (a run that holds the journal must stop
// first), and names new inputs would claim are worked out in memory. check
// is the local validation; it must send nothing.
func DryRun(ctx context.Context, cfg Config, src Source, check func(ctx context.Context, step uploader.Step, path string) error) (Plan, error) {
	plan := Plan{Posts: map[ratelimit.Bucket]int{}}
	if cfg.State == "" {
		cfg.State = StateDir(cfg.Out)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	outs, err := readOutputs(filepath.Clean(cfg.Out), cfg.State, cfg.Logger)
	if err != nil {
		return plan, err
	}
	if err := claimOutputFolder(filepath.Clean(cfg.Out), cfg.State, true, cfg.Logger); err != nil {
		return plan, err
	}
	jpath := filepath.Join(cfg.State, JournalFile)
	adopt := movedAside(jpath, outs)
	j, err := journal.Open(jpath, journal.Options{ReadOnly: true})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		j = nil // no run yet
	case err != nil:
		return plan, err
	default:
		defer j.Close()
	}
	p := &Pipeline{cfg: cfg, outs: outs, adopt: adopt}
	copies, err := newCopyPlan(cfg, j)
	if err != nil {
		return plan, err
	}

	files := make(chan watcher.File)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(files)
		return src.Run(gctx, files)
	})
	g.Go(func() error {
		for f := range files {
			pl, err := p.plan(gctx, j, f, check)
			if err != nil {
				return err
			}
			copies.plan(&pl, f)
			p.count(pl, plan.Posts)
			plan.Files = append(plan.Files, pl)
		}
		return nil
	})
	return plan, g.Wait()
}

// count adds what pl would spend to posts.
func (p *Pipeline) count(pl Planned, posts map[ratelimit.Bucket]int) {
	from := 0
	switch pl.Action {
	case PlanResume:
		from = pl.Step
		if pl.Poll {
			from++
		}
	case PlanProcess:
	default:
		return
	}
	for b, n := range uploader.Posts(p.cfg.Recipe.Steps[from:]) {
		posts[b] += n
	}
}

// plan decides f's fate as handle would, without acting on it.
func (p *Pipeline) plan(ctx context.Context, j *journal.Journal, f watcher.File, check func(context.Context, uploader.Step, string) error) (Planned, error) {
	pl := Planned{Rel: f.Rel}
	outs, err := p.outs.claim(f.Rel, p.specs(f.Rel))
	if err != nil {
		pl.Action, pl.Reason = PlanUnnameable, err.Error()
		return pl, nil
	}
	pl.Outputs = outs
	var (
		rec   journal.Record
		known bool
	)
	if j != nil {
		if rec, known, err = j.Get(f.Rel); err != nil {
			return pl, err
		}
	}
	v := p.decide(f, outs, rec, known)
	if v == touched {
		v = doneBefore
		if rec.State == journal.Failed {
			v = failedBefore
		}
	}
	switch v {
	case trustOutput, doneBefore:
		pl.Action = PlanDone
	case failedBefore:
		pl.Action = PlanFailed
		if rec.Failure != nil {
			pl.Reason = fmt.Sprintf("%s: %s", rec.Failure.Stage, rec.Failure.Message)
		}
	case resumeJob:
		// The job in flight is paid for: the steps after it are left.
		pl.Action, pl.Step, pl.Poll = PlanResume, rec.Step, true
	case resumeStep:
		pl.Action, pl.Step = PlanResume, rec.Step
	default:
		pl.Action = PlanProcess
		if err := check(ctx, p.cfg.Recipe.Steps[0], f.Path); err != nil {
			pl.Action, pl.Reason = PlanRejected, err.Error()
		}
	}
	return pl, nil
}

// copyPlan tells, in a dry run with dedupe, the inputs to process that a
// run would copy instead: the same content as one done earlier, or as one
// planned before it.
type copyPlan struct {
	recipe string
	known  map[contentKey]string // done earlier, or planned to process: by Rel
}

func newCopyPlan(cfg Config, j *journal.Journal) (*copyPlan, error) {
	if !cfg.Dedupe {
		return nil, nil
	}
	cp := &copyPlan{recipe: cfg.Fingerprint, known: map[contentKey]string{}}
	if j == nil {
		return cp, nil
	}
	ix, err := loadIndex(j)
	if err != nil {
		return nil, err
	}
	cp.known = ix.done
	return cp, nil
}

// plan turns pl, of input f, into PlanCopy when its content is known.
func (cp *copyPlan) plan(pl *Planned, f watcher.File) {
	if cp == nil || pl.Action != PlanProcess {
		return
	}
	sum, err := uploader.FileSHA256(f.Path)
	if err != nil {
		return // the run will say
	}
	k := contentKey{sum, cp.recipe}
	if orig, ok := cp.known[k]; ok && orig != f.Rel {
		pl.Action, pl.Reason = PlanCopy, orig
		return
	}
	cp.known[k] = f.Rel
}
