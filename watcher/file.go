package watcher

import "time"

// File is an input file that is complete: its size and modification time
// have not changed for the settle period and it could be opened for
// reading. The one exception is a file that cannot be read (no permission):
// it is handed on all the same, so that its failure is reported rather than
// waited on forever; see the package documentation.
type File struct {
	Path    string    // absolute path
	Rel     string    // path relative to the watched root, slash-separated
	Size    int64     // bytes, when it was found stable
	ModTime time.Time // modification time, when it was found stable
}
