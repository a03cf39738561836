// Package watcher finds the files dropped into a hot folder, waits until
// each one is complete, and hands it on exactly once.
//
// # Model
//
// Three sources feed one pending set of candidate files:
//
//   - a recursive scan at start, in lexical order, which also picks up the
//     files that were there before the watcher started;
//   - fsnotify events. fsnotify is not recursive, so every directory gets its
//     own watch, added before the directory is read so that nothing created
//     during the scan is missed. Directories created or moved in while
//     running are watched and scanned the same way;
//   - rescans of the whole tree: every [Config.Poll] when it is set (NFS, SMB
//     and FUSE deliver no events), and after the kernel's event queue
//     overflowed (fsnotify.ErrEventOverflow), when events were lost.
//
// One ticker decides stability; there are no per-file goroutines or timers.
// A file is complete once its size and modification time have not changed
// for [Config.Settle] and it can be opened for reading. Any change, or any
// Create or Write event, restarts its clock, so a file that keeps growing is
// waited for however long it takes. A file whose modification time is
// already older than Settle when it is first seen has not changed for Settle
// and is handed on at once; that makes a -once run over an existing folder
// immediate.
//
// The watcher remembers the size and modification time of every file it
// handed on (a small map entry per path) and hands a path on again only when
// they change: a replaced file is new work, a repeated event or rescan is
// not. Scans and events may therefore overlap freely.
//
// Hidden files and directories (a leading dot), partial downloads and temp
// files (*.tmp, *.part, *.crdownload), Office lock files (~$*), Thumbs.db,
// desktop.ini and .DS_Store are ignored, as are symbolic links (nothing
// outside the root is read), other non-regular files and the directories in
// [Config.Exclude]. File contents are not checked here.
//
// # Limits
//
// Each watched directory costs one inotify watch on Linux. When the limit
// (fs.inotify.max_user_watches) is reached the watcher logs how to raise it
// and falls back to polling, so files are found late rather than missed.
package watcher
