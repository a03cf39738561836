package watcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

const (
	testSettle = 150 * time.Millisecond
	waitLong   = 5 * time.Second // generous: only reached when something is wrong
)

// writeFile writes data to root/rel, creating parents. A positive age sets
// its modification time that far in the past.
func writeFile(t *testing.T, root, rel string, data string, age time.Duration) string {
	t.Helper()
	path := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if age > 0 {
		old := time.Now().Add(-age)
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func newWatcher(t *testing.T, cfg Config) *Watcher {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return w
}

// running is a Run in progress.
type running struct {
	out    chan File
	cancel context.CancelFunc
	done   chan struct{}
	err    error // valid after done is closed
}

// start runs w in the background; the test's cleanup stops it.
func start(t *testing.T, w *Watcher) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{out: make(chan File), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = w.Run(ctx, r.out)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the run and returns what Run returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(waitLong):
		t.Fatal("Run did not return after cancel")
		return nil
	}
}

func (r *running) recv(t *testing.T) File {
	t.Helper()
	select {
	case f := <-r.out:
		return f
	case <-r.done:
		t.Fatalf("Run returned early: %v", r.err)
	case <-time.After(waitLong):
		t.Fatal("no file handed on")
	}
	return File{}
}

// recvRels receives n files and returns their Rel paths, sorted.
func (r *running) recvRels(t *testing.T, n int) []string {
	t.Helper()
	var rels []string
	for range n {
		rels = append(rels, r.recv(t).Rel)
	}
	slices.Sort(rels)
	return rels
}

// expectNone checks that nothing more is handed on for d.
func (r *running) expectNone(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case f := <-r.out:
		t.Errorf("unexpected file handed on: %+v", f)
	case <-time.After(d):
	}
}

// ready starts w over a root holding an old sentinel file and waits for it:
// once it arrives, the initial scan is over and the watches are in place.
func ready(t *testing.T, w *Watcher) *running {
	t.Helper()
	r := start(t, w)
	if f := r.recv(t); f.Rel != "0-sentinel.jpg" {
		t.Fatalf("first file = %q, want the sentinel", f.Rel)
	}
	return r
}

func watchConfig(t *testing.T) Config {
	t.Helper()
	root := t.TempDir()
	writeFile(t, root, "0-sentinel.jpg", "s", time.Hour)
	return Config{Root: root, Settle: testSettle}
}

// runOnce runs w in Once mode and returns everything it handed on.
func runOnce(t *testing.T, w *Watcher) ([]File, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLong)
	defer cancel()
	out := make(chan File)
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx, out) }()
	var got []File
	for {
		select {
		case f := <-out:
			got = append(got, f)
		case err := <-errc:
			select {
			case _, ok := <-out:
				if !ok {
					t.Error("Run closed out; the caller owns it")
				}
			default:
			}
			return got, err
		}
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "file.jpg", "x", 0)
	tests := []struct {
		name    string
		cfg     Config
		wantIs  error  // errors.Is target, if any
		wantMsg string // part of the message a person reads
	}{
		{"ok", Config{Root: dir}, nil, ""},
		{"no root", Config{}, nil, "no hot folder"},
		{"missing", Config{Root: filepath.Join(dir, "missing")}, fs.ErrNotExist, "hot folder"},
		{"file", Config{Root: file}, nil, "not a directory"},
		{"negative settle", Config{Root: dir, Settle: -time.Second}, nil, "negative"},
		{"negative poll", Config{Root: dir, Poll: -time.Second}, nil, "negative"},
		{"root excluded", Config{Root: dir, Exclude: []string{dir + string(filepath.Separator)}}, nil, "excluded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := New(tc.cfg)
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if w.settle != DefaultSettle || w.batch != 50*time.Millisecond {
					t.Errorf("settle %v batch %v, want defaults", w.settle, w.batch)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tc.wantMsg)
			}
		})
	}
}

func TestNewUnreadableRoot(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("needs Unix permissions and a non-root user")
	}
	dir := filepath.Join(t.TempDir(), "locked")
	if err := os.Mkdir(dir, 0o000); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o755)
	if _, err := New(Config{Root: dir}); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("New = %v, want a permission error", err)
	}
}

func TestOnceWalksTreeInOrder(t *testing.T) {
	real := t.TempDir()
	outside := t.TempDir()
	content := map[string]string{}
	add := func(rel, data string) {
		writeFile(t, real, rel, data, time.Hour)
		content[rel] = data
	}
	// Handed on.
	add("b.jpg", "bb")
	add("a.jpg", "a")
	add("a/x.png", "xxx")
	add("a/c/d.tif", "dddd")
	add("Z.jpg", "zzzzz")
	add("empty.jpg", "")
	add("work/keep.jpg", "keep")
	// Ignored by name, excluded, or not regular files.
	for _, rel := range []string{
		".hidden.jpg", ".dotdir/e.jpg", "x.tmp", "y.PART", "z.crdownload", "~$doc.docx",
		"Thumbs.db", "a/THUMBS.DB", ".DS_Store", "Desktop.ini", "out/result.png", "work/state/job.json",
		"partial.jpg.tmp/inside.jpg",
	} {
		writeFile(t, real, rel, "ignored", time.Hour)
	}
	writeFile(t, outside, "secret.jpg", "outside", time.Hour)
	writeFile(t, outside, "dir/f.jpg", "outside", time.Hour)
	if err := os.Symlink(filepath.Join(outside, "secret.jpg"), filepath.Join(real, "link.jpg")); err != nil {
		t.Skipf("no symlinks: %v", err)
	}
	if err := os.Symlink(filepath.Join(outside, "dir"), filepath.Join(real, "linkdir")); err != nil {
		t.Fatal(err)
	}
	// The root is reached through a link, the excludes both ways.
	root := filepath.Join(t.TempDir(), "hot")
	if err := os.Symlink(real, root); err != nil {
		t.Fatal(err)
	}
	w := newWatcher(t, Config{
		Root:    root,
		Once:    true,
		Settle:  time.Hour, // nothing may wait for it: every file is old
		Exclude: []string{filepath.Join(real, "out"), filepath.Join(root, "work", "state"), outside},
	})

	got, err := runOnce(t, w)
	if err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	var rels []string
	for _, f := range got {
		rels = append(rels, f.Rel)
	}
	want := []string{"Z.jpg", "a/c/d.tif", "a/x.png", "a.jpg", "b.jpg", "empty.jpg", "work/keep.jpg"}
	if !slices.Equal(rels, want) {
		t.Fatalf("handed on %q, want %q", rels, want)
	}
	realRoot, _ := filepath.EvalSymlinks(real)
	for _, f := range got {
		if wantPath := filepath.Join(realRoot, filepath.FromSlash(f.Rel)); f.Path != wantPath {
			t.Errorf("%s: Path %q, want %q", f.Rel, f.Path, wantPath)
		}
		fi, err := os.Stat(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if f.Size != int64(len(content[f.Rel])) || !f.ModTime.Equal(fi.ModTime()) {
			t.Errorf("%s: size %d mtime %v, want %d %v", f.Rel, f.Size, f.ModTime, len(content[f.Rel]), fi.ModTime())
		}
	}
}

func TestOnceStability(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		settle   time.Duration
		age      time.Duration    // of the file's mtime
		now      func() time.Time // nil: real time
		minDelay time.Duration    // Run may not hand it on sooner
	}{
		// With an hour's settle, waiting would time the test out.
		{name: "old file is handed on at once", settle: time.Hour, age: 2 * time.Hour},
		{name: "file old by Now is handed on at once", settle: time.Hour,
			now: func() time.Time { return time.Now().Add(2 * time.Hour) }},
		{name: "fresh file waits for settle", settle: 200 * time.Millisecond, minDelay: 200 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			writeFile(t, root, "photo.jpg", "data", tc.age)
			w := newWatcher(t, Config{Root: root, Once: true, Settle: tc.settle, Now: tc.now})
			began := time.Now()
			got, err := runOnce(t, w)
			took := time.Since(began)
			if err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
			if len(got) != 1 || got[0].Rel != "photo.jpg" || got[0].Size != 4 {
				t.Fatalf("handed on %+v, want photo.jpg once", got)
			}
			if took < tc.minDelay {
				t.Errorf("handed on after %v, want at least %v", took, tc.minDelay)
			}
		})
	}
}

func TestOnceWaitsForFileBeingWritten(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeFile(t, root, "old.jpg", "old", time.Hour)
	path := writeFile(t, root, "growing.jpg", "1", 0)
	w := newWatcher(t, Config{Root: root, Once: true, Settle: testSettle})

	stopWriting := make(chan struct{})
	go func() { // keeps growing for ~4 settle periods after Run starts
		defer close(stopWriting)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		for range 12 {
			time.Sleep(testSettle / 3)
			if _, err := f.WriteString("1"); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	got, err := runOnce(t, w)
	<-stopWriting
	if err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if len(got) != 2 || got[0].Rel != "old.jpg" || got[1].Rel != "growing.jpg" {
		t.Fatalf("handed on %+v, want old.jpg then growing.jpg", got)
	}
	if got[1].Size != 13 {
		t.Errorf("growing.jpg handed on at %d bytes, want its final 13", got[1].Size)
	}
	if fi, _ := os.Stat(path); !got[1].ModTime.Equal(fi.ModTime()) {
		t.Errorf("growing.jpg mtime %v, want the final %v", got[1].ModTime, fi.ModTime())
	}
}

func TestWatchCreatedAfterStart(t *testing.T) {
	t.Parallel()
	cfg := watchConfig(t)
	r := ready(t, newWatcher(t, cfg))
	written := time.Now()
	writeFile(t, cfg.Root, "new.jpg", "fresh", 0)
	f := r.recv(t)
	if f.Rel != "new.jpg" || f.Size != 5 {
		t.Fatalf("got %+v, want new.jpg with 5 bytes", f)
	}
	if waited := time.Since(written); waited < cfg.Settle {
		t.Errorf("handed on after %v, before the settle period %v", waited, cfg.Settle)
	}
	r.expectNone(t, 3*cfg.Settle)
}

// TestWatchSlowWriter writes a file in chunks over about a second, as a
// scanner or a copy over a slow link does: it is handed on once, after the
// last write, with its final size. Copies that keep the source's old
// modification time (Finder, cp -p, rsync) and shares that deliver no
// events (found by polling only) must wait for the writer all the same.
func TestWatchSlowWriter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		keepOld bool // set the mtime an hour back after every chunk
		poll    bool // no events: found by rescans only
	}{
		{name: "events"},
		{name: "events, old mtime kept", keepOld: true},
		{name: "polling only, old mtime kept", keepOld: true, poll: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := watchConfig(t)
			if tc.poll {
				cfg.Poll = 50 * time.Millisecond
			}
			w := newWatcher(t, cfg)
			w.disableEvents = tc.poll
			r := ready(t, w)
			path := filepath.Join(cfg.Root, "slow.tif")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			chunk := bytes.Repeat([]byte("x"), 1024)
			old := time.Now().Add(-time.Hour)
			var lastWrite time.Time
			for range 20 { // ~1s, gaps well under the settle period
				time.Sleep(cfg.Settle / 3)
				if _, err := f.Write(chunk); err != nil {
					t.Fatal(err)
				}
				if tc.keepOld {
					if err := os.Chtimes(path, old, old); err != nil {
						t.Fatal(err)
					}
				}
				lastWrite = time.Now()
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			got := r.recv(t)
			if got.Rel != "slow.tif" || got.Size != 20*1024 {
				t.Fatalf("got %+v, want slow.tif with all %d bytes", got, 20*1024)
			}
			if waited := time.Since(lastWrite); waited < cfg.Settle {
				t.Errorf("handed on %v after the last write, want at least %v", waited, cfg.Settle)
			}
			r.expectNone(t, 3*cfg.Settle)
		})
	}
}

func TestWatchTempThenRename(t *testing.T) {
	t.Parallel()
	cfg := watchConfig(t)
	r := ready(t, newWatcher(t, cfg))
	tmp := writeFile(t, cfg.Root, "sub/x.tmp", "complete", 0)
	if err := os.Rename(tmp, filepath.Join(cfg.Root, "sub", "x.jpg")); err != nil {
		t.Fatal(err)
	}
	if f := r.recv(t); f.Rel != "sub/x.jpg" || f.Size != 8 {
		t.Fatalf("got %+v, want sub/x.jpg", f)
	}
	r.expectNone(t, 3*cfg.Settle)
}

func TestWatchNewDirectories(t *testing.T) {
	t.Parallel()
	cfg := watchConfig(t)
	r := ready(t, newWatcher(t, cfg))

	// Made in place, files written right after.
	writeFile(t, cfg.Root, "made/a.jpg", "a", 0)
	writeFile(t, cfg.Root, "made/deeper/b.jpg", "b", 0)
	// Moved in from outside the root with its contents, old and new.
	outside := t.TempDir()
	writeFile(t, outside, "moved/c.jpg", "c", time.Hour)
	writeFile(t, outside, "moved/inner/d.jpg", "d", 0)
	if err := os.Rename(filepath.Join(outside, "moved"), filepath.Join(cfg.Root, "moved")); err != nil {
		t.Fatal(err)
	}
	got := r.recvRels(t, 4)
	want := []string{"made/a.jpg", "made/deeper/b.jpg", "moved/c.jpg", "moved/inner/d.jpg"}
	if !slices.Equal(got, want) {
		t.Fatalf("handed on %q, want %q", got, want)
	}
	// The moved-in subdirectory is watched too.
	writeFile(t, cfg.Root, "moved/inner/e.jpg", "e", 0)
	if f := r.recv(t); f.Rel != "moved/inner/e.jpg" {
		t.Fatalf("got %q, want moved/inner/e.jpg", f.Rel)
	}
	r.expectNone(t, 3*cfg.Settle)
}

// TestWatchFolderMovedIn moves a folder of 50 files, some in subfolders
// and some with old modification times, into the root in one rename, as a
// designer dragging a folder onto the share does: each file is handed on
// exactly once.
func TestWatchFolderMovedIn(t *testing.T) {
	t.Parallel()
	cfg := watchConfig(t)
	r := ready(t, newWatcher(t, cfg))
	outside := t.TempDir()
	want := make(map[string]int64)
	for i := range 50 {
		rel := fmt.Sprintf("shoot/%s/img%02d.jpg", []string{"a", "b", "b/c", "."}[i%4], i)
		rel = filepath.ToSlash(filepath.Clean(rel))
		data := strings.Repeat("x", i+1)
		age := time.Duration(0)
		if i%2 == 0 {
			age = time.Hour
		}
		writeFile(t, outside, rel, data, age)
		want[rel] = int64(len(data))
	}
	if err := os.Rename(filepath.Join(outside, "shoot"), filepath.Join(cfg.Root, "shoot")); err != nil {
		t.Fatal(err)
	}
	got := make(map[string]int64)
	for range len(want) {
		f := r.recv(t)
		if _, dup := got[f.Rel]; dup {
			t.Fatalf("%s handed on twice", f.Rel)
		}
		got[f.Rel] = f.Size
	}
	for rel, size := range want {
		if got[rel] != size {
			t.Errorf("%s: handed on with %d bytes, want %d", rel, got[rel], size)
		}
	}
	r.expectNone(t, 3*cfg.Settle)
}

// TestWatchFlood drops 10,000 files into new subfolders as fast as they can
// be written, more events than the kernel's queue may hold: each file is
// handed on exactly once, none is missed.
func TestWatchFlood(t *testing.T) {
	t.Parallel()
	const files, dirs = 10_000, 4
	cfg := watchConfig(t)
	cfg.Settle = 100 * time.Millisecond
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	r := ready(t, newWatcher(t, cfg))

	wrote := make(chan error, 1)
	go func() {
		for i := range files {
			dir := filepath.Join(cfg.Root, fmt.Sprintf("batch%d", i%dirs))
			if i < dirs {
				if err := os.Mkdir(dir, 0o755); err != nil {
					wrote <- err
					return
				}
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%05d.jpg", i)), []byte("img"), 0o644); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	seen := make(map[string]bool, files)
	deadline := time.After(time.Minute) // only reached when files are missing
	for len(seen) < files {
		select {
		case f := <-r.out:
			if seen[f.Rel] {
				t.Fatalf("%s handed on twice", f.Rel)
			}
			seen[f.Rel] = true
		case err := <-wrote:
			if err != nil {
				t.Fatal(err)
			}
			wrote = nil
		case <-deadline:
			t.Fatalf("%d of %d files handed on; log:\n%s", len(seen), files, logs.String())
		}
	}
	for i := range files {
		if rel := fmt.Sprintf("batch%d/%05d.jpg", i%dirs, i); !seen[rel] {
			t.Errorf("%s never handed on", rel)
		}
	}
	r.expectNone(t, 3*cfg.Settle)
}

func TestWatchRenamedDirectory(t *testing.T) {
	t.Parallel()
	cfg := watchConfig(t)
	writeFile(t, cfg.Root, "old/inner/a.jpg", "a", time.Hour)
	r := ready(t, newWatcher(t, cfg))
	if f := r.recv(t); f.Rel != "old/inner/a.jpg" {
		t.Fatalf("got %q, want old/inner/a.jpg", f.Rel)
	}
	if err := os.Rename(filepath.Join(cfg.Root, "old"), filepath.Join(cfg.Root, "new")); err != nil {
		t.Fatal(err)
	}
	// Its file now lives at a new path: new work under the new name.
	if f := r.recv(t); f.Rel != "new/inner/a.jpg" {
		t.Fatalf("got %q, want new/inner/a.jpg", f.Rel)
	}
	// Events below the renamed directory carry the new name.
	writeFile(t, cfg.Root, "new/inner/b.jpg", "b", 0)
	f := r.recv(t)
	if f.Rel != "new/inner/b.jpg" || f.Path != filepath.Join(cfg.Root, "new", "inner", "b.jpg") {
		t.Fatalf("got %+v, want new/inner/b.jpg", f)
	}
	r.expectNone(t, 3*cfg.Settle)
}

func TestWatchReplacedFile(t *testing.T) {
	t.Parallel()
	cfg := watchConfig(t)
	r := ready(t, newWatcher(t, cfg))
	path := writeFile(t, cfg.Root, "a.jpg", "v1", 0)
	if f := r.recv(t); f.Rel != "a.jpg" || f.Size != 2 {
		t.Fatalf("got %+v, want a.jpg v1", f)
	}
	// Replaced by a rename over it, then overwritten in place.
	tmp := writeFile(t, cfg.Root, "a.jpg.part", "version 2", 0)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if f := r.recv(t); f.Rel != "a.jpg" || f.Size != 9 {
		t.Fatalf("got %+v, want a.jpg version 2", f)
	}
	writeFile(t, cfg.Root, "a.jpg", "third version", 0)
	if f := r.recv(t); f.Rel != "a.jpg" || f.Size != 13 {
		t.Fatalf("got %+v, want a.jpg third version", f)
	}
	r.expectNone(t, 3*cfg.Settle)
}

func TestWatchDeletedBeforeSettle(t *testing.T) {
	t.Parallel()
	cfg := watchConfig(t)
	cfg.Settle = 200 * time.Millisecond
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	r := ready(t, newWatcher(t, cfg))
	gone := writeFile(t, cfg.Root, "gone.jpg", "short-lived", 0)
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	// Deleted after its last event but before it settled: the check at its
	// deadline finds it gone.
	late := writeFile(t, cfg.Root, "late.jpg", "short-lived", 0)
	time.Sleep(cfg.Settle / 2)
	if err := os.Remove(late); err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfg.Root, "stays.jpg", "here", 0)
	if f := r.recv(t); f.Rel != "stays.jpg" {
		t.Fatalf("got %q, want stays.jpg", f.Rel)
	}
	r.expectNone(t, 3*cfg.Settle)
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if out := logs.String(); strings.Contains(out, "level=WARN") || strings.Contains(out, "level=ERROR") {
		t.Errorf("a deleted file was reported as a problem:\n%s", out)
	}
}

func TestWatchRepeatedWritesUnchanged(t *testing.T) {
	t.Parallel()
	cfg := watchConfig(t)
	r := ready(t, newWatcher(t, cfg))
	path := writeFile(t, cfg.Root, "same.jpg", "same bytes", 0)
	first := r.recv(t)
	if first.Rel != "same.jpg" {
		t.Fatalf("got %q, want same.jpg", first.Rel)
	}
	// Write events whose result is the file exactly as handed on.
	for range 5 {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("same bytes"), 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if err := os.Chtimes(path, first.ModTime, first.ModTime); err != nil {
		t.Fatal(err)
	}
	r.expectNone(t, 3*cfg.Settle)
	writeFile(t, cfg.Root, "other.jpg", "o", 0) // the watcher is still alive
	if f := r.recv(t); f.Rel != "other.jpg" {
		t.Fatalf("got %q, want other.jpg", f.Rel)
	}
}

// TestWatchCancel is not parallel: it counts goroutines.
func TestWatchCancel(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := watchConfig(t)
	writeFile(t, cfg.Root, "pending.jpg", "still settling", 0) // keeps the ticker busy
	r := ready(t, newWatcher(t, cfg))
	began := time.Now()
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("Run took %v to return after cancel", took)
	}
	select {
	case _, ok := <-r.out:
		if !ok {
			t.Error("Run closed out; the caller owns it")
		}
	default:
	}
	// No goroutine left behind (fsnotify's reader included).
	deadline := time.Now().Add(waitLong)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Run, %d before", n, before)
	}
}

func TestPollFindsFilesWithoutEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		poll  time.Duration
		found bool
	}{
		{"poll finds it", 100 * time.Millisecond, true},
		{"without poll it is missed", 0, false}, // proves events are really off
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := watchConfig(t)
			cfg.Settle = 100 * time.Millisecond
			cfg.Poll = tc.poll
			w := newWatcher(t, cfg)
			w.disableEvents = true
			r := ready(t, w)
			writeFile(t, cfg.Root, "share/new.jpg", "on a share", 0)
			if !tc.found {
				r.expectNone(t, 600*time.Millisecond)
				return
			}
			if f := r.recv(t); f.Rel != "share/new.jpg" || f.Size != 10 {
				t.Fatalf("got %+v, want share/new.jpg", f)
			}
			r.expectNone(t, 4*cfg.Poll) // later rescans do not hand it on again
		})
	}
}

// syncBuffer is a log sink the Run goroutine and the test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWatchLimitFallsBackToPolling(t *testing.T) {
	t.Parallel()
	cfg := watchConfig(t)
	writeFile(t, cfg.Root, "a/b/c.jpg", "deep", time.Hour) // several directories fail
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	w := newWatcher(t, cfg)
	w.fallbackPoll = 100 * time.Millisecond
	w.addWatch = func(*fsnotify.Watcher, string) error {
		return fmt.Errorf("add watch: %w", syscall.ENOSPC)
	}
	r := start(t, w)
	if got := r.recvRels(t, 2); !slices.Equal(got, []string{"0-sentinel.jpg", "a/b/c.jpg"}) {
		t.Fatalf("initial files %q", got)
	}
	writeFile(t, cfg.Root, "a/new.jpg", "found by polling", 0)
	if f := r.recv(t); f.Rel != "a/new.jpg" {
		t.Fatalf("got %q, want a/new.jpg", f.Rel)
	}
	r.stop(t)
	if n := strings.Count(logs.String(), "fs.inotify.max_user_watches"); n != 1 {
		t.Errorf("the sysctl to raise was named %d times, want once; log:\n%s", n, logs.String())
	}
}

// TestNetworkFileSystem pretends the hot folder (or a folder below it) is a
// network share: polling comes on by itself and says so once, and file
// events stay on for local writers.
func TestNetworkFileSystem(t *testing.T) {
	t.Parallel()
	nfs := fileSystem{name: "nfs", remote: true}
	tests := []struct {
		name      string
		remoteDir string        // "" is the root; else a folder below it
		poll      time.Duration // Config.Poll
		noEvents  bool          // watches succeed but deliver nothing, as for remote writers
		fallback  time.Duration // the interval switched on by itself
		local     bool          // the fake says everything is local
		found     bool          // the new file is handed on
		warn      bool          // the one warning is logged
	}{
		{name: "remote writer found by polling", noEvents: true, fallback: 100 * time.Millisecond, found: true, warn: true},
		{name: "local writer still found by events", fallback: time.Hour, found: true, warn: true},
		{name: "share mounted below the root", remoteDir: "share", noEvents: true, fallback: 100 * time.Millisecond, found: true, warn: true},
		{name: "poll set already", poll: 100 * time.Millisecond, noEvents: true, fallback: time.Hour, found: true},
		{name: "local file system is not polled", local: true, noEvents: true, fallback: 100 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := watchConfig(t)
			cfg.Poll = tc.poll
			var logs syncBuffer
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			remoteDir := filepath.Join(cfg.Root, tc.remoteDir)
			if err := os.MkdirAll(remoteDir, 0o755); err != nil {
				t.Fatal(err)
			}
			w := newWatcher(t, cfg)
			w.fallbackPoll = tc.fallback
			w.fileSystem = func(dir string) fileSystem {
				if !tc.local && dir == remoteDir {
					return nfs
				}
				return fileSystem{}
			}
			if tc.noEvents {
				w.addWatch = func(*fsnotify.Watcher, string) error { return nil }
			}
			r := ready(t, w)
			writeFile(t, remoteDir, "scan.jpg", "from afar", 0)
			if tc.found {
				if f := r.recv(t); f.Rel != filepath.ToSlash(filepath.Join(tc.remoteDir, "scan.jpg")) {
					t.Fatalf("got %q, want scan.jpg", f.Rel)
				}
			} else {
				r.expectNone(t, 600*time.Millisecond)
			}
			r.stop(t)
			out := logs.String()
			warnings := strings.Count(out, "level=WARN")
			switch {
			case tc.warn && warnings != 1:
				t.Errorf("%d warnings, want exactly one; log:\n%s", warnings, out)
			case tc.warn && !(strings.Contains(out, "network file system (nfs)") &&
				strings.Contains(out, "no file events") && strings.Contains(out, "-poll") &&
				strings.Contains(out, "path="+remoteDir+" ")):
				t.Errorf("the warning does not say what, why and what to do; log:\n%s", out)
			case !tc.warn && warnings != 0:
				t.Errorf("%d warnings, want none; log:\n%s", warnings, out)
			}
		})
	}
}

// TestWatchExcludedFolders writes into the output and state folders inside
// the root while watching, by events and by polling: nothing there is
// handed on, including folders made or moved in later.
func TestWatchExcludedFolders(t *testing.T) {
	t.Parallel()
	for _, poll := range []bool{false, true} {
		t.Run(fmt.Sprintf("poll=%v", poll), func(t *testing.T) {
			t.Parallel()
			cfg := watchConfig(t)
			out := filepath.Join(cfg.Root, "out")
			state := filepath.Join(cfg.Root, "work", "state") // made during the run
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			cfg.Exclude = []string{out, state}
			if poll {
				cfg.Poll = 50 * time.Millisecond
			}
			w := newWatcher(t, cfg)
			w.disableEvents = poll
			r := ready(t, w)

			writeFile(t, out, "result.png", "output", 0)
			writeFile(t, out, "sub/deeper/result.png", "output", 0)
			writeFile(t, state, "claims.db", "state", 0)
			writeFile(t, state, "jobs/1.json", "state", 0)
			moved := t.TempDir()
			writeFile(t, moved, "batch/x.png", "moved", 0)
			if err := os.Rename(filepath.Join(moved, "batch"), filepath.Join(out, "batch")); err != nil {
				t.Fatal(err)
			}
			writeFile(t, cfg.Root, "work/input.jpg", "input", 0)
			if f := r.recv(t); f.Rel != "work/input.jpg" {
				t.Fatalf("got %q, want work/input.jpg", f.Rel)
			}
			// Written into again after they were first seen.
			writeFile(t, out, "result.png", "output, rewritten", 0)
			writeFile(t, state, "claims.db", "state, rewritten", 0)
			r.expectNone(t, 4*cfg.Settle)
		})
	}
}

// TestWatchSymlinkNotFollowed links a file and a folder outside the root
// into it while watching, then writes into the outside folder: nothing
// outside the root is handed on.
func TestWatchSymlinkNotFollowed(t *testing.T) {
	t.Parallel()
	for _, poll := range []bool{false, true} {
		t.Run(fmt.Sprintf("poll=%v", poll), func(t *testing.T) {
			t.Parallel()
			cfg := watchConfig(t)
			if poll {
				cfg.Poll = 50 * time.Millisecond
			}
			w := newWatcher(t, cfg)
			w.disableEvents = poll
			r := ready(t, w)
			outside := t.TempDir()
			writeFile(t, outside, "secret.jpg", "outside", 0)
			writeFile(t, outside, "dir/old.jpg", "outside", time.Hour)
			if err := os.Symlink(filepath.Join(outside, "secret.jpg"), filepath.Join(cfg.Root, "link.jpg")); err != nil {
				t.Skipf("no symlinks: %v", err)
			}
			if err := os.Symlink(filepath.Join(outside, "dir"), filepath.Join(cfg.Root, "linkdir")); err != nil {
				t.Fatal(err)
			}
			writeFile(t, outside, "dir/new.jpg", "outside", 0)
			writeFile(t, cfg.Root, "inside.jpg", "inside", 0)
			if f := r.recv(t); f.Rel != "inside.jpg" {
				t.Fatalf("got %q, want inside.jpg", f.Rel)
			}
			r.expectNone(t, 4*cfg.Settle)
		})
	}
}

// TestWatchSymlinkInsideNotFollowed: a link to a file or folder that is
// itself inside the root is not followed either, so one image is never
// two inputs (and two paid jobs).
func TestWatchSymlinkInsideNotFollowed(t *testing.T) {
	t.Parallel()
	cfg := watchConfig(t)
	writeFile(t, cfg.Root, "shoes/red.jpg", "inside", time.Hour)
	if err := os.Symlink(filepath.Join(cfg.Root, "shoes", "red.jpg"), filepath.Join(cfg.Root, "red-link.jpg")); err != nil {
		t.Skipf("no symlinks: %v", err)
	}
	if err := os.Symlink("shoes", filepath.Join(cfg.Root, "shoes-link")); err != nil {
		t.Fatal(err)
	}
	w := newWatcher(t, cfg)
	r := ready(t, w)
	if f := r.recv(t); f.Rel != "shoes/red.jpg" {
		t.Fatalf("got %q, want shoes/red.jpg", f.Rel)
	}
	r.expectNone(t, 4*cfg.Settle)
}

// deny makes w's opens of path fail for lack of permission until the
// returned func is called: with chmod where that works, else through the
// open seam (root reads everything).
func deny(t *testing.T, w *Watcher, path string) (allow func()) {
	t.Helper()
	if runtime.GOOS != "windows" && os.Geteuid() != 0 {
		if err := os.Chmod(path, 0o000); err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := os.Chmod(path, 0o644); err != nil {
				t.Error(err)
			}
		}
	}
	var mu sync.Mutex
	denied := true
	w.open = func(name string) (*os.File, error) {
		mu.Lock()
		defer mu.Unlock()
		if denied && name == path {
			return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
		}
		return os.Open(name)
	}
	return func() {
		mu.Lock()
		denied = false
		mu.Unlock()
		if err := os.Chmod(path, 0o644); err != nil { // the event a fix makes
			t.Error(err)
		}
	}
}

// TestUnreadableFile checks that a file that cannot be read is handed on
// rather than waited on forever, so the run reports it and a -once run
// ends; and that, once its permissions are fixed, a watching run hands it
// on again.
func TestUnreadableFile(t *testing.T) {
	t.Parallel()
	t.Run("once", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		path := writeFile(t, root, "locked.jpg", "secret", time.Hour)
		writeFile(t, root, "open.jpg", "fine", 0)
		var logs syncBuffer
		w := newWatcher(t, Config{Root: root, Once: true, Settle: 50 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		deny(t, w, path)
		got, err := runOnce(t, w)
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		var rels []string
		for _, f := range got {
			rels = append(rels, f.Rel)
		}
		slices.Sort(rels)
		if !slices.Equal(rels, []string{"locked.jpg", "open.jpg"}) {
			t.Fatalf("handed on %q, want both files", rels)
		}
		if !strings.Contains(logs.String(), "cannot be read") {
			t.Errorf("no warning about the unreadable file; log:\n%s", logs.String())
		}
	})
	t.Run("watch", func(t *testing.T) {
		t.Parallel()
		cfg := watchConfig(t)
		cfg.Poll = 50 * time.Millisecond // rescans must not hand it on again
		w := newWatcher(t, cfg)
		path := writeFile(t, cfg.Root, "locked.jpg", "secret", 0)
		allow := deny(t, w, path)
		r := start(t, w)
		if got := r.recvRels(t, 2); !slices.Equal(got, []string{"0-sentinel.jpg", "locked.jpg"}) {
			t.Fatalf("handed on %q", got)
		}
		r.expectNone(t, 4*cfg.Settle)
		allow()
		if f := r.recv(t); f.Rel != "locked.jpg" {
			t.Fatalf("got %q, want locked.jpg again once readable", f.Rel)
		}
		r.expectNone(t, 4*cfg.Settle)
	})
}

// TestOpenFailures covers the other ways opening a settled file can go
// wrong: a -once run gives up on a file that never opens, so it ends; and
// a file that changed by the time it is opened (an NFS client's cached
// attributes were stale) waits for its new settle period.
func TestOpenFailures(t *testing.T) {
	t.Parallel()
	t.Run("once gives up", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		path := writeFile(t, root, "broken.jpg", "data", time.Hour)
		w := newWatcher(t, Config{Root: root, Once: true, Settle: 20 * time.Millisecond})
		var tries int
		w.open = func(name string) (*os.File, error) {
			tries++ // only the Run goroutine opens
			return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EIO}
		}
		got, err := runOnce(t, w)
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		if len(got) != 1 || got[0].Path != path {
			t.Fatalf("handed on %+v, want broken.jpg", got)
		}
		if tries != onceOpenTries {
			t.Errorf("opened %d times, want %d", tries, onceOpenTries)
		}
	})
	t.Run("changed when opened", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		path := writeFile(t, root, "copy.jpg", "first part", time.Hour)
		w := newWatcher(t, Config{Root: root, Once: true, Settle: 50 * time.Millisecond})
		opened := 0
		w.open = func(name string) (*os.File, error) {
			if opened++; opened == 1 { // the writer moved on since the last stat
				f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					return nil, err
				}
				_, err = f.WriteString(", second part")
				f.Close()
				if err != nil {
					return nil, err
				}
			}
			return os.Open(name)
		}
		got, err := runOnce(t, w)
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Size != fi.Size() || !got[0].ModTime.Equal(fi.ModTime()) {
			t.Fatalf("handed on %+v, want copy.jpg at its final %d bytes", got, fi.Size())
		}
		if opened < 2 {
			t.Errorf("opened %d times, want a second look after the change", opened)
		}
	})
}

// TestOverflowRescans drives a run directly: a lost-events error must find
// what no event reported and forget what went away.
func TestOverflowRescans(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "kept.jpg", "k", time.Hour)
	gone := writeFile(t, root, "gone.jpg", "g", time.Hour)
	w := newWatcher(t, Config{Root: root, Settle: testSettle})
	r := newRun(w, nil)
	r.initial = true
	if _, err := r.scan(t.Context(), w.root); err != nil {
		t.Fatal(err)
	}
	r.initial = false
	r.ready = nil // as if sent
	writeFile(t, root, "unreported/new.jpg", "n", time.Hour)
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}

	if err := r.eventError(t.Context(), fmt.Errorf("read: %w", fsnotify.ErrEventOverflow)); err != nil {
		t.Fatal(err)
	}
	// Found by the rescan, it waits for Settle like any file that turns up
	// while watching, old modification time or not.
	if len(r.ready) != 0 || len(r.pending) != 1 {
		t.Fatalf("after the rescan: %d queued, %d pending; want 0 and 1", len(r.ready), len(r.pending))
	}
	r.check(w.now().Add(w.settle))
	var rels []string
	for _, f := range r.ready {
		rels = append(rels, f.Rel)
	}
	if !slices.Equal(rels, []string{"unreported/new.jpg"}) {
		t.Errorf("queued %q after the rescan, want only unreported/new.jpg", rels)
	}
	var remembered []string
	for path := range r.done {
		remembered = append(remembered, filepath.Base(path))
	}
	slices.Sort(remembered)
	if !slices.Equal(remembered, []string{"kept.jpg", "new.jpg"}) {
		t.Errorf("remembers %q, want kept.jpg and new.jpg", remembered)
	}
}

// TestExactlyOnce checks the memory of handed-on files and the queue's
// handling of entries that went stale before they were sent.
func TestExactlyOnce(t *testing.T) {
	root := t.TempDir()
	w := newWatcher(t, Config{Root: root, Settle: testSettle})
	r := newRun(w, nil)
	r.initial = true // an old file is offered at once only by the first scan
	path := writeFile(t, root, "a.jpg", "one", time.Hour)
	stat := func() fs.FileInfo {
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	r.observe(path, stat(), false)
	r.observe(path, stat(), true) // an event with nothing changed
	r.observe(path, stat(), false)
	if len(r.ready) != 1 || len(r.pending) != 0 {
		t.Fatalf("queued %d, pending %d; want 1 and 0", len(r.ready), len(r.pending))
	}
	if f, ok := r.head(); !ok || f.Rel != "a.jpg" {
		t.Fatalf("head = %+v %v", f, ok)
	}

	// Rewritten while queued: the queued entry is dropped and the new
	// version is pending.
	r.initial = false
	writeFile(t, root, "a.jpg", "two", 0)
	r.observe(path, stat(), true)
	if f, ok := r.head(); ok {
		t.Fatalf("head = %+v, want nothing while a.jpg is being written", f)
	}
	if len(r.pending) != 1 {
		t.Fatalf("pending %d, want 1", len(r.pending))
	}
	r.check(w.now().Add(w.settle))
	f, ok := r.head()
	if !ok || f.Rel != "a.jpg" || !f.ModTime.Equal(stat().ModTime()) {
		t.Fatalf("head = %+v %v, want the new a.jpg", f, ok)
	}
}

func TestIgnoredName(t *testing.T) {
	tests := []struct {
		name    string
		ignored bool
	}{
		{"photo.jpg", false},
		{"PHOTO.PNG", false},
		{"report.pdf", false}, // content is checked later, not here
		{"tmp.jpg", false},
		{"part", false},
		{".hidden.jpg", true},
		{".DS_Store", true},
		{"upload.tmp", true},
		{"upload.TMP", true},
		{"movie.part", true},
		{"photo.jpg.crdownload", true},
		{"~$budget.xlsx", true},
		{"Thumbs.db", true},
		{"thumbs.DB", true},
		{"desktop.ini", true},
	}
	for _, tc := range tests {
		if got := ignoredName(tc.name); got != tc.ignored {
			t.Errorf("ignoredName(%q) = %v, want %v", tc.name, got, tc.ignored)
		}
	}
}

// TestComparePaths checks that sorting paths gives a directory walk's order.
func TestComparePaths(t *testing.T) {
	root := t.TempDir()
	for _, rel := range []string{"a.jpg", "a/b.jpg", "a/b/c.jpg", "a-b.jpg", "ab/c.jpg", "A.jpg", "a0.jpg", "b.jpg"} {
		writeFile(t, root, rel, "x", 0)
	}
	var walked []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			walked = append(walked, path)
		}
		return err
	})
	sorted := slices.Clone(walked)
	rand.Shuffle(len(sorted), func(i, j int) { sorted[i], sorted[j] = sorted[j], sorted[i] })
	slices.SortFunc(sorted, comparePaths)
	if !slices.Equal(sorted, walked) {
		t.Errorf("sorted %q\nwalk   %q", sorted, walked)
	}
}

func TestWithin(t *testing.T) {
	sep := string(filepath.Separator)
	root := filepath.Join(sep+"data", "in")
	tests := []struct {
		path string
		want bool
	}{
		{root + sep + "out", true},
		{root + sep + "a" + sep + "b", true},
		{root, false},
		{root + "box", false},
		{filepath.Join(sep+"data", "out"), false},
	}
	for _, tc := range tests {
		if got := within(tc.path, root); got != tc.want {
			t.Errorf("within(%q, %q) = %v, want %v", tc.path, root, got, tc.want)
		}
	}
	if !within(sep+"x", sep) {
		t.Errorf("within(%q, %q) = false", sep+"x", sep)
	}
}
