package journal

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Conditions callers branch on; errors.Is finds them in an [*Error].
var (
	// ErrLocked means another process holds the journal: a second
	// hotfolder on the same state folder, or (for a read-only Open) a run
	// that is going on.
	ErrLocked = errors.New("locked")
	// ErrCorrupt means the journal file is damaged: truncated, overwritten,
	// empty, not a bbolt file, or holding a record that does not decode.
	ErrCorrupt = errors.New("corrupt")
	// ErrNewerFormat means the journal was written by a newer hotfolder,
	// in a format this one does not know.
	ErrNewerFormat = errors.New("newer format")
	// ErrClosed means the journal was used after Close.
	ErrClosed = errors.New("closed")
)

// Error is a failure to open, lock, read or write a journal. It is fatal:
// its Fatal method returns true, so a pipeline stops the run instead of
// carrying on without a durable record. Err says what happened; errors.Is
// finds [ErrLocked], [ErrCorrupt], [ErrNewerFormat], [ErrClosed] or the
// underlying file system error in it.
type Error struct {
	Op   string // "open", "read", "write" or "close"
	Path string // the journal file
	Key  string // the record at fault, if one is (its Rel)
	Err  error

	hint string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("journal: " + e.Op + " " + e.Path)
	if e.Key != "" {
		fmt.Fprintf(&b, ": record %q", e.Key)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Fatal reports that the error stops the run: always true.
func (e *Error) Fatal() bool { return true }

// Hint says what to do about the error.
func (e *Error) Hint() string { return e.hint }

// lockedError is the error of an Open that timed out waiting for the lock.
func lockedError(path string, readOnly bool) *Error {
	state := filepath.Dir(path)
	if readOnly {
		return &Error{
			Op: "open", Path: path,
			Err: fmt.Errorf("%w: a running hotfolder is using the state folder %s, and its journal cannot be read "+
				"while that run writes it", ErrLocked, state),
			hint: "wait for the run to end (or stop it), then try again",
		}
	}
	return &Error{
		Op: "open", Path: path,
		Err:  fmt.Errorf("%w: another hotfolder is using the state folder %s", ErrLocked, state),
		hint: "stop the other hotfolder, or give this one a different -state folder",
	}
}

// corruptError reports a damaged journal; key is the record at fault, if
// one is.
func corruptError(op, path, key string, cause error) *Error {
	return &Error{
		Op: op, Path: path, Key: key,
		Err: fmt.Errorf("%w: %w", ErrCorrupt, cause),
		hint: fmt.Sprintf("the journal is damaged: move it aside (mv %s %s) and run again; "+
			"hotfolder then takes inputs whose output is already written and up to date as done, "+
			"so finished files are not processed again",
			ShellQuote(path), ShellQuote(path+".broken")),
	}
}

// newerError reports a journal written in a format this package does not
// know.
func newerError(path string, format uint64) *Error {
	return &Error{
		Op: "open", Path: path,
		Err: fmt.Errorf("%w: the journal has format %d, and this hotfolder understands format %d at most",
			ErrNewerFormat, format, formatVersion),
		hint: "run the newer hotfolder that wrote it, or give this one a different -state folder",
	}
}

// ioError reports a failure of the file system under the journal.
func ioError(op, path string, err error) *Error {
	return &Error{
		Op: op, Path: path, Err: err,
		hint: fmt.Sprintf("check that the state folder %s is readable and writable and has free space", filepath.Dir(path)),
	}
}

// closedError reports use after Close.
func closedError(op, path string) *Error {
	return &Error{Op: op, Path: path, Err: ErrClosed, hint: "this is a bug in hotfolder: the journal was used after it was closed"}
}

// ShellQuote quotes s for a POSIX shell when it holds anything but plain
// path characters, so a hint's command can be pasted as it is.
func ShellQuote(s string) string {
	plain := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+,:@%", r))
	}) < 0
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
