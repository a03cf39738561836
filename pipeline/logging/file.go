package logging

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// OpenFile opens the log file at path for appending, creating it with mode
// 0600 (before umask) if it does not exist; an existing file keeps its mode.
// The folder it is in must exist: OpenFile creates no folders, so a typo in
// -log-file fails at once instead of logging somewhere unexpected. Each
// Write is one append, so lines from one handler never interleave.
func OpenFile(path string) (io.WriteCloser, error) {
	if path == "" {
		return nil, &fileError{msg: "logging: no log file named", hint: "give -log-file a file name"}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err == nil {
		return f, nil
	}
	dir := filepath.Dir(path)
	e := &fileError{path: path, err: err, msg: fmt.Sprintf("log file %s: %v", path, err)}
	if st, serr := os.Stat(dir); serr != nil && errors.Is(serr, fs.ErrNotExist) {
		e.msg = fmt.Sprintf("log file %s: the folder %s does not exist", path, dir)
		e.hint = "create the folder first, or choose another -log-file"
	} else if serr == nil && !st.IsDir() {
		e.msg = fmt.Sprintf("log file %s: %s is not a folder", path, dir)
		e.hint = "choose another -log-file"
	} else if st, perr := os.Stat(path); perr == nil && st.IsDir() {
		e.msg = fmt.Sprintf("log file %s is a folder, not a file", path)
		e.hint = "name a file in it, for example " + filepath.Join(path, "hotfolder.log")
	} else if errors.Is(err, fs.ErrPermission) {
		e.msg = fmt.Sprintf("log file %s: permission denied", path)
		e.hint = "let the user hotfolder runs as write to " + dir + " (and to the file, if it exists), or choose another -log-file"
	}
	return nil, e
}

// fileError is a log file that could not be opened; errors.Is finds the
// file system error (fs.ErrNotExist, fs.ErrPermission…) in it.
type fileError struct {
	path      string
	err       error
	msg, hint string
}

func (e *fileError) Error() string { return e.msg }
func (e *fileError) Unwrap() error { return e.err }

// Hint says what to do about the error.
func (e *fileError) Hint() string { return e.hint }
