package watcher

import "time"

// File is an input file that is complete: its size and modification time
// have not changed for the settle period.
type File struct {
	Path    string    // absolute path
	Rel     string    // path relative to the watched root, slash-separated
	Size    int64     // bytes, when it was found stable
	ModTime time.Time // modification time, when it was found stable
}
