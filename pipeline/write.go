package pipeline

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unicode/utf8"
)

// Temporary file names are ".<final name>.hotfolder-<16 hex digits>.tmp":
// dot-prefixed so watchers and file browsers pass them over, and specific
// enough that cleaning up after a killed run removes only our own files.
const (
	tempMid    = ".hotfolder-"
	tempSuffix = ".tmp"
	tempRandom = 16  // hex digits
	tempMaxRef = 100 // bytes of the final name kept in a temporary name, so it stays under NAME_MAX
)

// isTempName reports whether name is a temporary file name made by
// [createTemp].
func isTempName(name string) bool {
	if !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, tempSuffix) {
		return false
	}
	i := strings.LastIndex(name, tempMid)
	if i < 2 {
		return false
	}
	digits := name[i+len(tempMid) : len(name)-len(tempSuffix)]
	if len(digits) != tempRandom {
		return false
	}
	for _, c := range digits {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// tempFile is a result being downloaded next to its final name. It is
// handed to the downloader as an io.WriteSeeker (with a Truncate method); [tempFile.commit] moves it
// into place, [tempFile.remove] throws it away. Every name is relative to
// root and goes through it, so no symbolic link can take a write outside
// the output folder. Not safe for concurrent use.
type tempFile struct {
	root  *os.Root
	f     *os.File
	name  string // temporary file
	final string // where commit puts it
	werr  error  // first error writing to the file: a local problem, not the download's
	done  bool   // committed or removed
}

// createTemp creates a new, empty temporary file in the folder of final, a
// path relative to root.
func createTemp(root *os.Root, final string) (*tempFile, error) {
	dir, base := filepath.Split(final)
	if len(base) > tempMaxRef {
		n := tempMaxRef
		for n > 0 && !utf8.RuneStart(base[n]) {
			n--
		}
		base = base[:n]
	}
	for range 10 {
		var b [tempRandom / 2]byte
		rand.Read(b[:])
		name := filepath.Join(dir, "."+base+tempMid+hex.EncodeToString(b[:])+tempSuffix)
		f, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &tempFile{root: root, f: f, name: name, final: final}, nil
	}
	return nil, fmt.Errorf("create temporary file in %s: too many name collisions", filepath.Join(root.Name(), dir))
}

func (t *tempFile) Write(p []byte) (int, error) {
	n, err := t.f.Write(p)
	if err != nil && t.werr == nil {
		t.werr = err
	}
	return n, err
}

func (t *tempFile) Seek(offset int64, whence int) (int64, error) {
	return t.f.Seek(offset, whence)
}

// Truncate lets a downloader that starts over empty the file first.
func (t *tempFile) Truncate(size int64) error {
	err := t.f.Truncate(size)
	if err != nil && t.werr == nil {
		t.werr = err
	}
	return err
}

// size is the length of the result: where the last write ended. A
// downloader that retried from offset 0 may have left longer, stale bytes
// behind it, which commit cuts off.
func (t *tempFile) size() (int64, error) { return t.f.Seek(0, io.SeekCurrent) }

// hash returns the SHA-256 of the first size bytes, hex-encoded, for the
// journal: a later run can tell the output it wrote from another.
func (t *tempFile) hash(size int64) (string, error) {
	if _, err := t.f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return sha256Hex(io.LimitReader(t.f, size))
}

// sha256Hex returns the SHA-256 of what r holds, hex-encoded.
func sha256Hex(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// commit makes the first size bytes of the temporary file the final file:
// cut, sync, close, rename over the final name, sync the folder. Until the
// rename the final name is untouched (absent, or the previous result); after
// it the final name holds the whole new result.
func (t *tempFile) commit(size int64, log *slog.Logger) error {
	if err := t.f.Truncate(size); err != nil {
		return err
	}
	if err := t.f.Sync(); err != nil {
		return err
	}
	err := t.f.Close()
	t.f = nil
	if err != nil {
		return err
	}
	if err := t.root.Rename(t.name, t.final); err != nil {
		return err
	}
	t.done = true
	// The result is complete and in place; a folder that cannot be synced
	// (some network and FUSE file systems) at worst loses the rename in a
	// power cut, and then the next run redoes the file.
	if err := syncDir(t.root, filepath.Dir(t.final)); err != nil {
		log.Warn("could not sync output folder", "folder", filepath.Join(t.root.Name(), filepath.Dir(t.final)), "error", err)
	}
	return nil
}

// remove deletes the temporary file unless it was committed. It is safe to
// call more than once.
func (t *tempFile) remove() {
	if t.done {
		return
	}
	t.done = true
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
	t.root.Remove(t.name)
}

// syncDir makes a rename in dir, relative to root, durable.
func syncDir(root *os.Root, dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there; NTFS journals renames
	}
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// checkWritable creates and removes a temporary file in dir.
func checkWritable(dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	t, err := createTemp(root, "write-test")
	if err != nil {
		return err
	}
	t.remove()
	return nil
}

// removeStale deletes temporary files left in root by a run that was
// killed, skipping the folder skip (the state folder). Only names made by
// [createTemp] are touched. Folders that cannot be read are passed over with
// a warning: they are not the run's to fix here.
func removeStale(root, skip string, log *slog.Logger) int {
	removed := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			log.Warn("looking for stale temporary files", "error", err)
			return nil
		}
		if d.IsDir() {
			if p == skip && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !isTempName(d.Name()) {
			return nil
		}
		if err := os.Remove(p); err != nil {
			log.Warn("could not remove stale temporary file", "file", p, "error", err)
			return nil
		}
		log.Info("removed stale temporary file", "file", p)
		removed++
		return nil
	})
	return removed
}
