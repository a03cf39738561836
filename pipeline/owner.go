package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"hotfolder/pipeline/journal"
)

// Two state folders must never share an output folder: each would claim
// output names on its own, give one name to two inputs, and take the
// other's outputs for its own. The output folder therefore names the state
// folder that owns it, in OUT/.hotfolder/owner (beside the default state
// folder's files, or alone there when -state is elsewhere).

// ownerFile is the owner mark's name, in the default state folder.
const ownerFile = "owner"

// ownerMark is the owner mark's content.
type ownerMark struct {
	State string `json:"state"` // absolute path of the state folder
}

// claimOutputFolder makes state the owner of out, unless another state
// folder that still holds a journal owns it: that is a fatal error saying
// what to do. A mark naming a state folder that is gone (deleted, moved)
// is taken over. With dry set it only checks.
func claimOutputFolder(out, state string, dry bool, log *slog.Logger) error {
	name := filepath.Join(StateDir(out), ownerFile)
	var mark ownerMark
	data, err := os.ReadFile(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return &fatalError{err: fmt.Errorf("read the output folder's owner mark: %w", err), hint: outHint}
	case json.Unmarshal(data, &mark) != nil || !filepath.IsAbs(mark.State):
		log.Warn("the output folder's owner mark is damaged; replacing it", "file", name)
		mark = ownerMark{}
	}
	switch {
	case mark.State != "" && samePath(mark.State, state):
		return nil
	case mark.State != "" && hasJournal(mark.State):
		return &fatalError{
			err: fmt.Errorf("the output folder %s belongs to another state folder, %s: two state folders on one output folder "+
				"would give one output name to two inputs", out, mark.State),
			hint: fmt.Sprintf("to go on with that work, run with -state %s; otherwise give this run another -out "+
				"(if %s is no longer used, delete %s)", journal.ShellQuote(mark.State), mark.State, journal.ShellQuote(name)),
		}
	case mark.State != "":
		log.Info("the output folder's previous state folder is gone; this one takes it over", "was", mark.State, "now", state)
	}
	if dry {
		return nil
	}
	if err := writeOwner(name, state); err != nil {
		return &fatalError{err: fmt.Errorf("mark the output folder as this state folder's: %w", err), hint: outHint}
	}
	return nil
}

// writeOwner writes the owner mark atomically.
func writeOwner(name, state string) error {
	data, err := json.Marshal(ownerMark{State: state})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o777); err != nil {
		return err
	}
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o666); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// samePath reports whether a and b name the same folder, symbolic links
// resolved where they exist.
func samePath(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	ra, erra := filepath.EvalSymlinks(a)
	rb, errb := filepath.EvalSymlinks(b)
	return erra == nil && errb == nil && ra == rb
}

// hasJournal reports whether state holds a journal: a state folder in use.
func hasJournal(state string) bool {
	_, err := os.Stat(filepath.Join(state, JournalFile))
	return err == nil
}
