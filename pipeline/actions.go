package pipeline

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"hotfolder/watcher"
)

// Action is what becomes of an input once its outcome is journaled.
type Action string

// The actions on inputs: leave them, move them to a folder, delete them.
const (
	Keep   Action = "keep"
	Move   Action = "move"
	Delete Action = "delete"
)

// ParseAction reads a -on-success or -on-failure value; delete is allowed
// only when allowDelete (a failed input is never deleted: it is the only
// copy of what went wrong).
func ParseAction(s string, allowDelete bool) (Action, error) {
	switch a := Action(s); a {
	case Keep, Move:
		return a, nil
	case Delete:
		if allowDelete {
			return a, nil
		}
	}
	if allowDelete {
		return "", fmt.Errorf("%q: want keep, move or delete", s)
	}
	return "", fmt.Errorf("%q: want keep or move", s)
}

// applyInputAction does what Config.OnSuccess or Config.OnFailure says with f,
// whose outcome is already durable in the journal. A failure to do it is
// logged, never a failure of the file: its output is there.
func (p *Pipeline) applyInputAction(f watcher.File, ok bool) {
	action, dir := p.cfg.OnSuccess, p.cfg.ProcessedDir
	if !ok {
		action, dir = p.cfg.OnFailure, p.cfg.FailedDir
	}
	switch action {
	case Move:
		to, err := moveInput(f.Path, filepath.Join(dir, filepath.FromSlash(f.Rel)))
		if errors.Is(err, os.ErrNotExist) {
			return // gone already (deleted while it was processed): nothing to move
		}
		if err != nil {
			p.log.Warn("could not move input", "file", f.Rel, "to", dir, "error", err)
			return
		}
		p.log.Debug("moved input", "file", f.Rel, "to", to)
	case Delete:
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			p.log.Warn("could not delete input", "file", f.Rel, "error", err)
			return
		}
		p.log.Debug("deleted input", "file", f.Rel)
	}
}

// moveInput moves the file from to a free name at to (adding -2, -3, …
// before the extension when taken), creating folders, and returns the name
// used. Across file systems it copies, syncs and then removes the original.
func moveInput(from, to string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(to), 0o777); err != nil {
		return "", err
	}
	ext := filepath.Ext(to)
	stem := strings.TrimSuffix(to, ext)
	for i := 1; ; i++ {
		name := to
		if i > 1 {
			name = stem + "-" + strconv.Itoa(i) + ext
		}
		if _, err := os.Lstat(name); err == nil {
			continue
		}
		err := os.Rename(from, name)
		if err == nil || !isCrossDevice(err) {
			return name, err
		}
		return name, copyAndRemove(from, name)
	}
}

// copyAndRemove copies from to a new file to, syncs it, and removes from.
func copyAndRemove(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(to)
		return err
	}
	return os.Remove(from)
}
