package watcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultSettle is the settle period used when [Config.Settle] is zero.
const DefaultSettle = 2 * time.Second

// DefaultPoll is the rescan interval switched on by itself when file events
// cannot be relied on: the hot folder is on a network file system, the
// watch limit was reached, or no inotify instance was left.
const DefaultPoll = 5 * time.Second

// onceOpenTries is how many settle periods a -once run waits for a settled
// file that cannot be opened (for a reason other than permission) before
// handing it on anyway, so that the run ends and the failure is reported.
const onceOpenTries = 5

// Config configures a [Watcher]. Only Root is required.
type Config struct {
	// Root is the hot folder. A symbolic link to a directory is followed;
	// links inside it are not.
	Root string
	// Exclude lists directories that are never scanned or watched, such as
	// the output and state folders when they sit inside Root. Entries
	// outside Root are irrelevant and dropped; Root itself may not be
	// excluded.
	Exclude []string
	// Settle is how long a file's size and modification time must stay
	// unchanged before it counts as complete; it must then also open for
	// reading (see the package documentation for when it cannot). A copy
	// that stalls for longer than Settle looks complete, so slow links
	// want a longer one. Zero means [DefaultSettle].
	Settle time.Duration
	// Once makes Run scan, hand on every file present at the start once it
	// is complete, and return nil. No events are watched.
	Once bool
	// Poll, when positive, also rescans the whole tree this often (and never
	// more often than a rescan takes): network shares deliver no file events
	// for changes made by other machines, and it is a safety net elsewhere.
	// Zero means off, except that Run switches it on at [DefaultPoll] by
	// itself when the hot folder is on a network file system or file events
	// fail.
	Poll time.Duration
	// Logger receives warnings and debug detail. Nil discards them.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Watcher hands on the complete files of a hot folder; see the package
// documentation for the model.
//
// Create one with [New]; the zero value is unusable. Call [Watcher.Run] to
// do the work. Run must not be called concurrently on one Watcher, and each
// call starts with an empty memory of the files handed on before.
type Watcher struct {
	root    string   // absolute, symlinks resolved
	exclude []string // absolute, symlinks resolved, strictly inside root
	settle  time.Duration
	poll    time.Duration
	once    bool
	log     *slog.Logger
	now     func() time.Time
	batch   time.Duration // least time between two checks of pending files

	// Test seams, set by the package's tests only.
	disableEvents bool                                          // do not use fsnotify at all
	fallbackPoll  time.Duration                                 // rescan interval switched on by itself
	addWatch      func(fsw *fsnotify.Watcher, dir string) error // nil means fsw.Add
	fileSystem    func(dir string) fileSystem                   // detectFileSystem, or a fake
	open          func(name string) (*os.File, error)           // os.Open, or a fake
}

// New checks cfg and returns a Watcher for it. It fails with a clear error
// when Root is missing, is not a directory or cannot be read; file system
// errors are wrapped, so errors.Is(err, fs.ErrNotExist) and
// errors.Is(err, fs.ErrPermission) work.
func New(cfg Config) (*Watcher, error) {
	if cfg.Root == "" {
		return nil, errors.New("watcher: no hot folder given")
	}
	if cfg.Settle < 0 {
		return nil, fmt.Errorf("watcher: settle period %v is negative", cfg.Settle)
	}
	if cfg.Poll < 0 {
		return nil, fmt.Errorf("watcher: poll interval %v is negative", cfg.Poll)
	}
	root, err := checkRoot(cfg.Root)
	if err != nil {
		return nil, err
	}
	w := &Watcher{
		root:         root,
		settle:       cfg.Settle,
		poll:         cfg.Poll,
		once:         cfg.Once,
		log:          cfg.Logger,
		now:          cfg.Now,
		fallbackPoll: DefaultPoll,
		fileSystem:   detectFileSystem,
		open:         os.Open,
	}
	if w.settle == 0 {
		w.settle = DefaultSettle
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.now == nil {
		w.now = time.Now
	}
	// Checks run at each file's settle deadline, but files due within
	// batch of each other share one pass, so a flood wakes the loop a few
	// times rather than once per file.
	w.batch = min(max(w.settle/20, time.Millisecond), 50*time.Millisecond)
	for _, ex := range cfg.Exclude {
		if ex == "" {
			continue
		}
		abs, err := filepath.Abs(ex)
		if err != nil {
			return nil, fmt.Errorf("watcher: exclude %s: %w", ex, err)
		}
		abs = ResolvePath(abs)
		switch {
		case samePath(abs, root):
			return nil, fmt.Errorf("watcher: hot folder %s is itself excluded", root)
		case within(abs, root):
			w.exclude = append(w.exclude, abs)
		}
	}
	return w, nil
}

// Root returns the hot folder as an absolute path with symbolic links
// resolved; every [File.Path] starts with it.
func (w *Watcher) Root() string { return w.root }

// Run hands on complete files on out until it is done. It never closes out:
// the caller owns it. Every send also watches ctx.
//
// With [Config.Once] it returns nil once every file present at the start has
// been handed on, after waiting for files still being written. Otherwise it
// watches until ctx is done, releases the file events and returns
// ctx.Err(). It returns another error only when the initial scan of the
// root fails.
func (w *Watcher) Run(ctx context.Context, out chan<- File) error {
	r := newRun(w, out)
	defer r.close()
	if !w.once {
		r.checkFileSystem(w.root)
		if !w.disableEvents {
			fsw, err := fsnotify.NewWatcher()
			if err != nil {
				r.eventsFailed(w.root, err)
			} else {
				r.fsw = fsw
			}
		}
	}
	r.initial = true
	_, err := r.scan(ctx, w.root)
	r.initial = false
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("watcher: scan hot folder: %w", err)
	}
	return r.loop(ctx)
}

// checkRoot returns root as an absolute path with symbolic links resolved,
// after making sure it is a directory that can be listed.
func checkRoot(root string) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("watcher: hot folder %s: %w", root, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("watcher: hot folder: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("watcher: hot folder %s is not a directory", abs)
	}
	d, err := os.Open(abs)
	if err != nil {
		return "", fmt.Errorf("watcher: hot folder cannot be read: %w", err)
	}
	_, err = d.ReadDir(1)
	d.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("watcher: hot folder cannot be read: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("watcher: hot folder: %w", err)
	}
	return real, nil
}

// ResolvePath resolves the symbolic links in path p, including when its
// last elements do not exist yet (an output folder created later), so that
// two names of one folder compare equal, and a path compares equal to paths
// found under the resolved root.
func ResolvePath(p string) string {
	p = filepath.Clean(p)
	var rest []string // missing trailing elements, innermost first
	for dir := p; ; {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			for i := len(rest) - 1; i >= 0; i-- {
				real = filepath.Join(real, rest[i])
			}
			return real
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return p
		}
		rest = append(rest, filepath.Base(dir))
		dir = parent
	}
}
