package watcher

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// run is the state of one [Watcher.Run]. Only the Run goroutine touches it.
type run struct {
	w   *Watcher
	out chan<- File
	log *slog.Logger
	fsw *fsnotify.Watcher // nil without events (Once, tests, no inotify)

	pending map[string]*pendingFile // candidates waiting to settle
	done    map[string]doneFile     // handed on (or queued), by path
	ready   []File                  // complete, waiting for the consumer
	watched map[string]bool         // directories with a watch

	gen         uint32 // full-scan generation, to forget files that went away
	ticker      *time.Ticker
	ticking     bool
	poll        time.Duration
	pollTicker  *time.Ticker
	limitWarned bool // the watch-limit warning was logged
	rootGone    bool // the root went missing (logged once)
}

// pendingFile is a candidate's last seen state.
type pendingFile struct {
	size   int64
	mod    int64     // modification time, Unix nanoseconds
	since  time.Time // when it last changed (or an event said so), by Now
	warned bool      // "cannot open yet" was logged
}

// doneFile is what the watcher remembers of a file it handed on.
type doneFile struct {
	size int64
	mod  int64
	gen  uint32 // last full scan that saw it
}

func newRun(w *Watcher, out chan<- File) *run {
	return &run{
		w:       w,
		out:     out,
		log:     w.log,
		pending: make(map[string]*pendingFile),
		done:    make(map[string]doneFile),
		watched: make(map[string]bool),
		poll:    w.poll,
	}
}

func (r *run) close() {
	if r.fsw != nil {
		if err := r.fsw.Close(); err != nil {
			r.log.Warn("watcher: closing file events", "err", err)
		}
	}
	if r.ticker != nil {
		r.ticker.Stop()
	}
	if r.pollTicker != nil {
		r.pollTicker.Stop()
	}
}

// loop multiplexes sends, events, the stability ticker and the poll ticker.
func (r *run) loop(ctx context.Context) error {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if r.fsw != nil {
		events, errs = r.fsw.Events, r.fsw.Errors
	}
	if !r.w.once && r.poll > 0 && r.pollTicker == nil {
		r.pollTicker = time.NewTicker(r.poll)
	}
	for {
		next, haveNext := r.head()
		if r.w.once && !haveNext && len(r.pending) == 0 {
			return nil
		}
		var send chan<- File
		if haveNext {
			send = r.out
		}
		var tick, poll <-chan time.Time
		if r.setTicking(len(r.pending) > 0) {
			tick = r.ticker.C
		}
		if r.pollTicker != nil {
			poll = r.pollTicker.C
		}

		select {
		case <-ctx.Done():
			return ctx.Err()
		case send <- next:
			r.ready[0] = File{}
			r.ready = r.ready[1:]
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if err := r.event(ctx, ev); err != nil {
				return err
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if err := r.eventError(ctx, err); err != nil {
				return err
			}
		case <-tick:
			r.check(r.w.now())
		case <-poll:
			if err := r.rescan(ctx); err != nil {
				return err
			}
		}
	}
}

// eventError handles an error from fsnotify. Lost events mean a full
// rescan; the memory of handed-on files keeps it from handing on twice. It
// returns an error only when ctx is done.
func (r *run) eventError(ctx context.Context, err error) error {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		r.log.Warn("watcher: file events were lost (queue overflow); rescanning the hot folder", "err", err)
		return r.rescan(ctx)
	}
	r.log.Warn("watcher: file events", "err", err)
	return nil
}

// setTicking starts or stops the stability ticker, so an idle watcher does
// not wake up, and reports whether it runs.
func (r *run) setTicking(on bool) bool {
	switch {
	case on && !r.ticking:
		if r.ticker == nil {
			r.ticker = time.NewTicker(r.w.tick)
		} else {
			r.ticker.Reset(r.w.tick)
		}
	case !on && r.ticking:
		r.ticker.Stop()
	}
	r.ticking = on
	return on
}

// head returns the next file to send, first dropping queued entries that
// went stale: the file was removed, replaced, or is being written again (it
// will be queued anew once it settles).
func (r *run) head() (File, bool) {
	for len(r.ready) > 0 {
		f := r.ready[0]
		d, ok := r.done[f.Path]
		if ok && d.size == f.Size && d.mod == f.ModTime.UnixNano() {
			if _, busy := r.pending[f.Path]; !busy {
				return f, true
			}
			delete(r.done, f.Path)
		}
		r.ready[0] = File{}
		r.ready = r.ready[1:]
	}
	return File{}, false
}

// scan walks dir, watching each directory before reading it and offering
// each file. It returns an error only when dir itself cannot be walked or
// ctx is done; complete is false when part of the tree could not be read.
func (r *run) scan(ctx context.Context, dir string) (complete bool, err error) {
	complete = true
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if path == dir {
				return err
			}
			complete = false
			r.log.Warn("watcher: cannot read", "path", path, "err", err)
			return nil
		}
		if path != dir && r.skip(path) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch t := d.Type(); {
		case t.IsDir():
			r.watch(path)
		case t.IsRegular():
			fi, err := d.Info()
			if err != nil {
				r.log.Debug("watcher: file went away", "path", path, "err", err)
				return nil
			}
			r.observe(path, fi, false)
		default:
			r.log.Debug("watcher: not a regular file, ignored", "path", path, "type", t.String())
		}
		return nil
	})
	return complete, err
}

// rescan walks the whole tree again, after lost events or on the poll
// interval, and forgets handed-on files that are gone. It returns an error
// only when ctx is done.
func (r *run) rescan(ctx context.Context) error {
	r.gen++
	complete, err := r.scan(ctx, r.w.root)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		if !r.rootGone {
			r.log.Warn("watcher: hot folder cannot be read; will retry", "path", r.w.root, "err", err)
			r.rootGone = true
		}
		return nil
	}
	if r.rootGone {
		r.log.Info("watcher: hot folder is back", "path", r.w.root)
		r.rootGone = false
	}
	if complete {
		for path, d := range r.done {
			if d.gen != r.gen {
				delete(r.done, path)
			}
		}
	}
	return nil
}

// skip reports whether path (below the root) is ignored by name or
// excluded.
func (r *run) skip(path string) bool {
	if ignoredName(filepath.Base(path)) {
		return true
	}
	for _, ex := range r.w.exclude {
		if samePath(path, ex) || within(path, ex) {
			return true
		}
	}
	return false
}

// watch adds an event watch for dir, once.
func (r *run) watch(dir string) {
	if r.fsw == nil || r.watched[dir] {
		return
	}
	add := r.w.addWatch
	if add == nil {
		add = (*fsnotify.Watcher).Add
	}
	err := add(r.fsw, dir)
	switch {
	case err == nil:
		r.watched[dir] = true
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE):
		r.eventsFailed(dir, err)
	case errors.Is(err, fs.ErrNotExist):
		r.log.Debug("watcher: directory went away", "path", dir)
	default:
		r.log.Warn("watcher: cannot watch directory; new files in it are found only by polling", "path", dir, "err", err)
	}
}

// eventsFailed reports that file events are unavailable for dir, because
// of a system limit, and switches polling on so no file is missed.
func (r *run) eventsFailed(dir string, err error) {
	r.enablePoll()
	if r.limitWarned {
		r.log.Debug("watcher: cannot watch directory", "path", dir, "err", err)
		return
	}
	r.limitWarned = true
	msg := "watcher: cannot use file events; falling back to polling"
	switch {
	case errors.Is(err, syscall.ENOSPC):
		msg = "watcher: inotify watch limit reached (raise the sysctl fs.inotify.max_user_watches, e.g. to 524288); falling back to polling"
	case errors.Is(err, syscall.EMFILE):
		msg = "watcher: too many inotify instances or open files (raise the sysctl fs.inotify.max_user_instances, or ulimit -n); falling back to polling"
	}
	r.log.Warn(msg, "path", dir, "poll", r.poll, "err", err)
}

// enablePoll switches periodic rescans on if they are off.
func (r *run) enablePoll() {
	if r.poll > 0 || r.w.once {
		return
	}
	r.poll = r.w.fallbackPoll
	r.pollTicker = time.NewTicker(r.poll)
}

// observe records a sighting of the regular file at path. An event (Create
// or Write) restarts its settle clock even if size and mtime look the same,
// since they may not have caught up yet.
func (r *run) observe(path string, fi fs.FileInfo, event bool) {
	now := r.w.now()
	size, mod := fi.Size(), fi.ModTime().UnixNano()
	d, isDone := r.done[path]
	if isDone {
		d.gen = r.gen
		r.done[path] = d
	}
	if p, ok := r.pending[path]; ok {
		if p.size != size || p.mod != mod || event {
			p.size, p.mod, p.since = size, mod, now
		}
		return
	}
	if isDone && d.size == size && d.mod == mod {
		return // handed on already, unchanged
	}
	p := &pendingFile{size: size, mod: mod, since: now}
	// Unchanged for Settle already: no need to wait any longer.
	if now.Sub(fi.ModTime()) >= r.w.settle && r.offer(path, p, now) {
		return
	}
	r.pending[path] = p
}

// check re-examines the pending files whose settle period is over, and
// queues those that did not change, in walk order.
func (r *run) check(now time.Time) {
	var settled []string
	for path, p := range r.pending {
		if now.Sub(p.since) < r.w.settle {
			continue
		}
		fi, err := os.Lstat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			r.log.Debug("watcher: file went away before it settled", "path", path)
			delete(r.pending, path)
		case err != nil:
			r.log.Warn("watcher: cannot check file; dropped", "path", path, "err", err)
			delete(r.pending, path)
		case !fi.Mode().IsRegular():
			r.log.Debug("watcher: no longer a regular file, ignored", "path", path)
			delete(r.pending, path)
		case fi.Size() != p.size || fi.ModTime().UnixNano() != p.mod:
			p.size, p.mod, p.since = fi.Size(), fi.ModTime().UnixNano(), now
		default:
			settled = append(settled, path)
		}
	}
	slices.SortFunc(settled, comparePaths)
	for _, path := range settled {
		if r.offer(path, r.pending[path], now) {
			delete(r.pending, path)
		}
	}
}

// offer queues the settled file at path unless it was handed on unchanged
// before. It returns false when the file cannot be opened yet (locked on
// Windows, say) and must stay pending; its clock is then restarted.
func (r *run) offer(path string, p *pendingFile, now time.Time) bool {
	if d, ok := r.done[path]; ok && d.size == p.size && d.mod == p.mod {
		return true // a spurious event; nothing changed
	}
	f, err := os.Open(path)
	if err == nil {
		f.Close()
	}
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		r.log.Debug("watcher: file went away before it settled", "path", path)
		return true
	case r.w.once && errors.Is(err, fs.ErrPermission):
		// Waiting would never end; hand it on so the run reports it.
		r.log.Warn("watcher: file cannot be read", "path", path, "err", err)
	default:
		if !p.warned {
			r.log.Warn("watcher: file cannot be opened yet; waiting", "path", path, "err", err)
			p.warned = true
		}
		p.since = now
		return false
	}
	rel, err := filepath.Rel(r.w.root, path)
	if err != nil { // cannot happen: every path is built from the root
		rel = path
	}
	r.done[path] = doneFile{size: p.size, mod: p.mod, gen: r.gen}
	r.ready = append(r.ready, File{
		Path:    path,
		Rel:     filepath.ToSlash(rel),
		Size:    p.size,
		ModTime: time.Unix(0, p.mod),
	})
	return true
}

// event handles one file event. It returns an error only when ctx is done.
func (r *run) event(ctx context.Context, ev fsnotify.Event) error {
	path := filepath.Clean(ev.Name)
	if !ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Write) {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			r.forget(path)
		}
		return nil // Chmod: Spotlight and virus scanners, not content
	}
	if path == r.w.root || !within(path, r.w.root) || r.skip(path) {
		return nil
	}
	fi, err := os.Lstat(path)
	if err != nil {
		r.forget(path) // gone again already
		return nil
	}
	switch {
	case fi.IsDir():
		if ev.Has(fsnotify.Create) { // made or moved in: watch it, then read it
			if _, err := r.scan(ctx, path); err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
		}
	case fi.Mode().IsRegular():
		r.observe(path, fi, true)
	}
	return nil
}

// forget drops what is known about a path that was removed or renamed away;
// for a watched directory, about everything below it too.
func (r *run) forget(path string) {
	if _, ok := r.pending[path]; ok {
		r.log.Debug("watcher: file went away before it settled", "path", path)
		delete(r.pending, path)
	}
	delete(r.done, path)
	if samePath(path, r.w.root) {
		r.log.Warn("watcher: hot folder was removed or renamed; polling until it is back", "path", path)
		r.rootGone = true
		r.enablePoll()
	}
	if !r.watched[path] {
		return
	}
	// The kernel's watches follow a moved directory, but the paths fsnotify
	// reports for them would keep the old name: drop them, and let the
	// Create event of the new name add fresh ones.
	for dir := range r.watched {
		if dir == path || within(dir, path) {
			_ = r.fsw.Remove(dir) // already gone with the directory, usually
			delete(r.watched, dir)
		}
	}
	for p := range r.pending {
		if within(p, path) {
			delete(r.pending, p)
		}
	}
	for p := range r.done {
		if within(p, path) {
			delete(r.done, p)
		}
	}
}
