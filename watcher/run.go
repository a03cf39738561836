package watcher

import (
	"container/heap"
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

	pending     map[string]*pendingFile // candidates waiting to settle
	pendingPeak int                     // most pending at once since the map was made
	due         dueQueue                // when to look at each pending file next
	done        map[string]doneFile     // handed on (or queued), by path
	ready       []File                  // complete, waiting for the consumer
	watched     map[string]bool         // directories with a watch

	initial      bool        // the first scan is running
	gen          uint32      // full-scan generation, to forget files that went away
	timer        *time.Timer // fires at the next check; nil until first needed
	timerAt      time.Time   // when timer is set to fire; zero when stopped
	lastCheck    time.Time
	poll         time.Duration
	pollTimer    *time.Timer // next rescan; nil while polling is off
	limitWarned  bool        // the watch-limit warning was logged
	remoteWarned bool        // the network file system warning was logged
	rootGone     bool        // the root went missing (logged once)
}

// pendingFile is a candidate's last seen state. Each one in run.pending has
// exactly one entry in run.due.
type pendingFile struct {
	path   string
	size   int64
	mod    int64     // modification time, Unix nanoseconds
	since  time.Time // when it last changed (or an event said so), by Now
	tries  uint8     // failed opens since it last changed
	warned bool      // "cannot open yet" was logged
}

// doneFile is what the watcher remembers of a file it handed on.
type doneFile struct {
	size       int64
	mod        int64
	gen        uint32 // last full scan that saw it
	unreadable bool   // handed on although it could not be opened
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
	if r.timer != nil {
		r.timer.Stop()
	}
	if r.pollTimer != nil {
		r.pollTimer.Stop()
	}
}

// loop multiplexes sends, events, the check timer and the poll timer.
func (r *run) loop(ctx context.Context) error {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if r.fsw != nil {
		events, errs = r.fsw.Events, r.fsw.Errors
	}
	if !r.w.once && r.poll > 0 && r.pollTimer == nil {
		r.pollTimer = time.NewTimer(r.poll)
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
		var wake, poll <-chan time.Time
		if r.arm() {
			wake = r.timer.C
		}
		if r.pollTimer != nil {
			poll = r.pollTimer.C
		}

		select {
		case <-ctx.Done():
			return ctx.Err()
		case send <- next:
			r.ready[0] = File{}
			r.ready = r.ready[1:]
			if len(r.ready) == 0 {
				r.ready = nil // let a flood's backing array go
			}
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
		case <-wake:
			r.timerAt = time.Time{}
			r.check(r.w.now())
		case <-poll:
			if err := r.rescan(ctx); err != nil {
				return err
			}
		}
	}
}

// arm sets the check timer for the earliest settle deadline among the
// pending files, but no sooner than batch after the last check, and reports
// whether it is set. With nothing pending the timer is stopped, so an idle
// watcher does not wake up.
func (r *run) arm() bool {
	if len(r.due) == 0 {
		if r.timer != nil && !r.timerAt.IsZero() {
			r.timer.Stop()
			r.timerAt = time.Time{}
		}
		return false
	}
	at := r.due[0].at
	if soonest := r.lastCheck.Add(r.w.batch); at.Before(soonest) {
		at = soonest
	}
	if at.Equal(r.timerAt) {
		return true
	}
	d := at.Sub(r.w.now())
	if r.timer == nil {
		r.timer = time.NewTimer(d)
	} else {
		r.timer.Reset(d) // since Go 1.23 no stale tick survives a Reset
	}
	r.timerAt = at
	return true
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
// interval, and forgets handed-on files that are gone. The next poll comes
// one interval after it ends, and at least as long as it took, so that
// rescans of a big tree on a slow share never take over the loop. It
// returns an error only when ctx is done.
func (r *run) rescan(ctx context.Context) error {
	r.gen++
	began := r.w.now()
	complete, err := r.scan(ctx, r.w.root)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if r.pollTimer != nil {
		took := r.w.now().Sub(began)
		if took > r.poll {
			r.log.Debug("watcher: rescan took longer than the poll interval", "took", took, "poll", r.poll)
		}
		r.pollTimer.Reset(max(r.poll, took))
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
		if r.poll == 0 { // a share may be mounted below a local root
			r.checkFileSystem(dir)
		}
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE):
		r.eventsFailed(dir, err)
	case errors.Is(err, fs.ErrNotExist):
		r.log.Debug("watcher: directory went away", "path", dir)
	default:
		r.log.Warn("watcher: cannot watch directory; files added to it later are found only by rescans (-poll)", "path", dir, "err", err)
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

// enablePoll switches periodic rescans on, at the default interval, if
// they are off.
func (r *run) enablePoll() {
	if r.poll > 0 || r.w.once {
		return
	}
	r.poll = r.w.fallbackPoll
	r.pollTimer = time.NewTimer(r.poll)
}

// checkFileSystem switches polling on when dir is on a network file
// system: changes made there by other machines produce no file events on
// this one. Events stay on for changes made locally.
func (r *run) checkFileSystem(dir string) {
	if r.remoteWarned {
		return
	}
	fsys := r.w.fileSystem(dir)
	if !fsys.remote {
		return
	}
	r.remoteWarned = true
	where := "hot folder is"
	if dir != r.w.root {
		where = "a folder in the hot folder is"
	}
	if r.poll > 0 {
		r.log.Info("watcher: "+where+" on a network file system ("+fsys.name+"); rescanning it as configured",
			"path", dir, "fs", fsys.name, "poll", r.poll)
		return
	}
	r.enablePoll()
	r.log.Warn("watcher: "+where+" on a network file system ("+fsys.name+"): files written there by other machines "+
		"produce no file events, so the hot folder is also rescanned every "+r.poll.String()+"; set -poll to change how often",
		"path", dir, "fs", fsys.name, "poll", r.poll)
}

// observe records a sighting of the regular file at path. An event (Create
// or Write) restarts its settle clock even if size and mtime look the same,
// since they may not have caught up yet.
//
// Only the initial scan trusts a file's modification time: one last changed
// more than Settle ago is offered at once, which makes a -once run over a
// finished folder immediate. A file that turns up later may be a copy in
// progress that kept its source's old time (Finder, cp -p, rsync, Explorer
// over SMB), or come from a server whose clock is off, so it always waits
// for Settle.
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
			p.size, p.mod, p.since, p.tries = size, mod, now, 0
		}
		return
	}
	if isDone && d.size == size && d.mod == mod {
		if !d.unreadable || !r.readable(path) {
			return // handed on already, unchanged
		}
		delete(r.done, path) // its permissions were fixed: try it again
	}
	p := &pendingFile{path: path, size: size, mod: mod, since: now}
	if r.initial && now.Sub(fi.ModTime()) >= r.w.settle && r.offer(p, now) {
		return
	}
	r.pending[path] = p
	r.pendingPeak = max(r.pendingPeak, len(r.pending))
	r.schedule(p)
}

// schedule queues p's next look for the end of its settle period.
func (r *run) schedule(p *pendingFile) {
	heap.Push(&r.due, dueEntry{at: p.since.Add(r.w.settle), p: p})
}

// check examines the pending files whose settle deadline has come, and
// queues those that did not change, in walk order. A file that changed
// since is looked at again at its new deadline.
func (r *run) check(now time.Time) {
	r.lastCheck = now
	var settled []*pendingFile
	for len(r.due) > 0 && !r.due[0].at.After(now) {
		p := heap.Pop(&r.due).(dueEntry).p
		if r.pending[p.path] != p {
			continue // gone, or replaced by a newer sighting with its own entry
		}
		if now.Sub(p.since) < r.w.settle {
			r.schedule(p) // an event restarted its clock
			continue
		}
		fi, err := os.Lstat(p.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			r.log.Debug("watcher: file went away before it settled", "path", p.path)
			delete(r.pending, p.path)
		case err != nil:
			r.log.Warn("watcher: cannot check file; dropped", "path", p.path, "err", err)
			delete(r.pending, p.path)
		case !fi.Mode().IsRegular():
			r.log.Debug("watcher: no longer a regular file, ignored", "path", p.path)
			delete(r.pending, p.path)
		case r.changed(p, fi, now):
			r.schedule(p)
		default:
			settled = append(settled, p)
		}
	}
	slices.SortFunc(settled, func(a, b *pendingFile) int { return comparePaths(a.path, b.path) })
	for _, p := range settled {
		if r.offer(p, now) {
			delete(r.pending, p.path)
		} else {
			r.schedule(p)
		}
	}
	if len(r.pending) == 0 && r.pendingPeak > 1024 {
		// Maps never shrink: after a flood, start afresh.
		r.pending = make(map[string]*pendingFile)
		r.pendingPeak = 0
	}
}

// changed updates p from fi and restarts its clock if the file's size or
// modification time moved on, and reports whether it did.
func (r *run) changed(p *pendingFile, fi fs.FileInfo, now time.Time) bool {
	size, mod := fi.Size(), fi.ModTime().UnixNano()
	if size == p.size && mod == p.mod {
		return false
	}
	p.size, p.mod, p.since, p.tries = size, mod, now, 0
	return true
}

// readable reports whether the file at path can be opened for reading now.
func (r *run) readable(path string) bool {
	f, err := r.w.open(path)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// offer queues the settled file p unless it was handed on unchanged
// before, and reports whether p is finished with. It returns false, with
// p's clock restarted, when p must stay pending: its size or modification
// time seen through an open handle differ (on NFS, opening fetches fresh
// attributes where a plain stat may answer from a cache), or it cannot be
// opened yet (locked on Windows, say).
//
// A file that cannot be opened for lack of permission is handed on all the
// same: waiting will not fix it, and the consumer reports it, so a person
// sees why it was not processed and a -once run ends. So is, in a -once
// run, a file that failed to open onceOpenTries times for another reason.
func (r *run) offer(p *pendingFile, now time.Time) bool {
	if d, ok := r.done[p.path]; ok && d.size == p.size && d.mod == p.mod {
		return true // a spurious event; nothing changed
	}
	unreadable := false
	f, err := r.w.open(p.path)
	if err == nil {
		fi, serr := f.Stat()
		f.Close()
		if serr == nil && r.changed(p, fi, now) {
			return false
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		r.log.Debug("watcher: file went away before it settled", "path", p.path)
		return true
	case errors.Is(err, fs.ErrPermission):
		r.log.Warn("watcher: file cannot be read; handing it on to be reported", "path", p.path, "err", err)
		unreadable = true
	case r.w.once && p.tries+1 >= onceOpenTries:
		r.log.Warn("watcher: file still cannot be opened; handing it on to be reported", "path", p.path, "err", err)
		unreadable = true
	default:
		if !p.warned {
			r.log.Warn("watcher: file cannot be opened yet; waiting", "path", p.path, "err", err)
			p.warned = true
		}
		p.tries = min(p.tries+1, onceOpenTries)
		p.since = now
		return false
	}
	rel, err := filepath.Rel(r.w.root, p.path)
	if err != nil { // cannot happen: every path is built from the root
		rel = p.path
	}
	r.done[p.path] = doneFile{size: p.size, mod: p.mod, gen: r.gen, unreadable: unreadable}
	r.ready = append(r.ready, File{
		Path:    p.path,
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
		// Chmod is mostly Spotlight and virus scanners, not content; but it
		// may also make a file handed on as unreadable readable at last.
		if ev.Has(fsnotify.Chmod) && r.done[path].unreadable {
			if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() {
				r.observe(path, fi, true)
			}
		}
		return nil
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

// dueEntry is a pending file's next look, at its settle deadline.
type dueEntry struct {
	at time.Time
	p  *pendingFile
}

// dueQueue is a min-heap of looks by deadline (container/heap). One timer
// for its head replaces a timer per file.
type dueQueue []dueEntry

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q dueQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)        { *q = append(*q, x.(dueEntry)) }
func (q *dueQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = dueEntry{}
	*q = old[:len(old)-1]
	if len(*q) == 0 && cap(*q) > 1024 {
		*q = nil // let a flood's backing array go
	}
	return e
}
