package pipeline

import (
	"context"
	"errors"
	"path"
	"slices"

	"hotfolder/uploader"
	"hotfolder/watcher"
)

// queue takes every file from the source as soon as it is found, so Found
// shows the whole backlog, and hands them to the workers in the order they
// were found. A file found again while still queued is queued once, with its
// latest details; one found again while a worker holds it is handed out
// only once that worker is done with it. After Stop, queue keeps receiving
// (and counting) until the source has ended, but hands out nothing more. It
// closes tasks when it returns.
func (p *Pipeline) queue(ctx context.Context, files <-chan watcher.File, tasks chan<- watcher.File) error {
	defer close(tasks)
	var (
		fifo    []*watcher.File
		queued  = make(map[string]*watcher.File)
		stop    = p.stop
		stopped bool
	)
	for files != nil || (len(fifo) > 0 && !stopped) {
		var (
			out  chan<- watcher.File
			next watcher.File
			at   = -1
		)
		if !stopped {
			at = p.firstIdle(fifo)
		}
		if at >= 0 {
			// Marked before it is offered: the worker that takes it may
			// release it before this goroutine runs again.
			out, next = tasks, *fifo[at]
			p.hold(next.Rel)
		}
		sent := false
		select {
		case f, ok := <-files:
			switch q, queuedAlready := queued[f.Rel]; {
			case !ok:
				files = nil
			case queuedAlready:
				*q = f // queued once, with its latest details
			default:
				q := &f
				queued[f.Rel] = q
				fifo = append(fifo, q)
				p.found.Add(1)
			}
		case out <- next:
			sent = true
			delete(queued, next.Rel)
			fifo = slices.Delete(fifo, at, at+1)
		case <-p.wake:
			// A worker released a file: one waiting for it may go now.
		case <-stop:
			stop, stopped = nil, true
		case <-ctx.Done():
			return ctx.Err()
		}
		if at >= 0 && !sent {
			p.unhold(next.Rel)
		}
	}
	return nil
}

// firstIdle returns the index of the first queued file no worker holds, or -1.
func (p *Pipeline) firstIdle(fifo []*watcher.File) int {
	p.busyMu.Lock()
	defer p.busyMu.Unlock()
	for i, f := range fifo {
		if !p.busy[f.Rel] {
			return i
		}
	}
	return -1
}

// hold marks rel as taken by a worker; release undoes it and wakes the queue.
func (p *Pipeline) hold(rel string) {
	p.busyMu.Lock()
	p.busy[rel] = true
	p.busyMu.Unlock()
}

// unhold takes back a mark for a file that was offered but not taken.
func (p *Pipeline) unhold(rel string) {
	p.busyMu.Lock()
	delete(p.busy, rel)
	p.busyMu.Unlock()
}

func (p *Pipeline) release(rel string) {
	p.unhold(rel)
	select {
	case p.wake <- struct{}{}:
	default: // the queue has a wake-up pending already
	}
}

// work is one worker: it takes files one at a time until there are none
// left, Stop is closed, ctx ends, or a file fails fatally.
func (p *Pipeline) work(ctx context.Context, tasks <-chan watcher.File) error {
	for {
		t, ok, err := p.take(ctx, tasks)
		if !ok {
			return err
		}
		if t.err != nil {
			err = p.finish(ctx, &task{f: t.f}, 0, at(claimStage(t.err), t.err))
		} else {
			err = p.handle(ctx, t.f, t.outs)
		}
		if errors.Is(err, errParked) {
			continue // held until the input with its content settles it
		}
		p.release(t.f.Rel)
		if err != nil {
			return err
		}
	}
}

// taken is a file a worker has taken, with its claimed output names or
// the reason it could not get them.
type taken struct {
	f    watcher.File
	outs []string
	err  error
}

// specs are the outputs the recipe writes for input rel.
func (p *Pipeline) specs(rel string) []outSpec {
	steps := p.cfg.Recipe.Steps
	return outputSpecs(steps[len(steps)-1], path.Base(rel))
}

// claimStage names the stage of a failure to claim an output name: a state
// folder that cannot be written, or an input that cannot be named.
func claimStage(err error) Stage {
	if uploader.IsFatal(err) {
		return StageWrite
	}
	return StageCheck
}

// take receives the next file and claims its output name, as one step so
// that claims follow the order of the queue. ok is false when the worker
// should end, with err set if ctx ended. A file taken is counted Active;
// the caller must settle it.
func (p *Pipeline) take(ctx context.Context, tasks <-chan watcher.File) (t taken, ok bool, err error) {
	p.takeMu.Lock()
	defer p.takeMu.Unlock()
	select {
	case <-ctx.Done():
		return t, false, ctx.Err()
	case <-p.stop:
		return t, false, nil
	case t.f, ok = <-tasks:
		// A file handed over just as Stop closed stays pending.
		if !ok || p.stopped() {
			return t, false, nil
		}
	}
	p.active.Add(1)
	t.outs, t.err = p.outs.claim(t.f.Rel, p.specs(t.f.Rel))
	return t, true, nil
}
