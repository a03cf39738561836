// Package watcher finds the files dropped into a hot folder, waits until
// each one is complete, and hands it on exactly once per version of its
// content.
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
//   - rescans of the whole tree: every [Config.Poll] when polling is on (see
//     Network shares), and after the kernel's event queue overflowed
//     (fsnotify.ErrEventOverflow), when events were lost, as they are when
//     thousands of files arrive at once. A rescan starts one interval after
//     the previous one ended, and never sooner than the last one took.
//
// # Completeness
//
// A file is handed on once its size and modification time have not changed
// for [Config.Settle] and it can be opened for reading. Any change, and any
// Create or Write event, restarts its clock, so a file that keeps growing is
// waited for however long the copy takes. Each pending file is looked at
// again at its own settle deadline: one timer, set for the earliest
// deadline, serves them all, with no goroutine or timer per file. Files due
// close together share one look (within Settle/20, at most 50 ms), so a
// flood wakes the watcher a few times rather than once per file.
//
// The last look goes through an open handle: the file is opened and its
// size and modification time are read from it (fstat). On NFS, opening
// fetches fresh attributes where a plain stat may answer from the client's
// cache, so a copy still being written on another machine is not mistaken
// for a finished one; any difference restarts the clock.
//
// When opening fails:
//
//   - the file is gone: it is dropped quietly (deleted before it settled);
//   - permission is denied: waiting will not fix that, so it is handed on
//     all the same and the consumer reports that it cannot be read; a -once
//     run therefore ends. A watching run hands it on again if a later Chmod
//     event or rescan finds it readable;
//   - any other error (a file locked by its writer, a share that hiccups):
//     it is retried every settle period, with one warning. A -once run gives
//     up after a few tries and hands it on to be reported, so that it ends.
//
// Only the initial scan trusts modification times: a file found then whose
// modification time is older than Settle is handed on at once, which makes
// a -once run over a finished folder immediate. Files that turn up later,
// by event or rescan, always wait for Settle: copies made by Finder, cp -p,
// rsync or Explorer over SMB may carry their source's old modification time
// while still being written, and a file server's clock may be off.
//
// # Exactly once
//
// The watcher remembers the size and modification time of every file it
// handed on (a small map entry per path) and hands a path on again only when
// they change: a replaced file is new work, a repeated event or rescan is
// not. Scans and events may therefore overlap freely. A file renamed within
// the hot folder is new work under its new name.
//
// Hidden files and directories (a leading dot), partial downloads and temp
// files (*.tmp, *.part, *.crdownload), Office lock files (~$*), Thumbs.db,
// desktop.ini and .DS_Store are ignored, as are symbolic links, wherever
// they point (one into the root would make an image two inputs, paid for
// twice; one out of it could read anything), other non-regular files and
// the directories in
// [Config.Exclude]. File contents are not checked here.
//
// # Network shares
//
// On Linux the watcher asks statfs which file system the hot folder is on,
// and each directory below it while polling is off (a share may be mounted
// inside a local folder). NFS, SMB/CIFS, FUSE (sshfs, rclone mount, s3fs,
// virtiofs...), 9p (WSL2's Windows drives), Ceph, AFS, Coda, OCFS2, GFS2,
// Lustre, GPFS, BeeGFS and the VirtualBox and Parallels shared folders count
// as remote: files written there by other machines produce no file events
// on this one. On a remote file system a watching run switches polling on by
// itself, at [DefaultPoll] unless [Config.Poll] is set, keeps file events on
// for local writers, and logs one warning saying so. Elsewhere the type is
// not known and the file system is taken to be local.
//
// # Limits
//
// Each watched directory costs one inotify watch on Linux. When the limit
// (fs.inotify.max_user_watches) is reached the watcher logs how to raise it
// and falls back to polling, so files are found late rather than missed.
package watcher
