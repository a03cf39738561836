package watcher

// fileSystem is what the watcher knows of the file system a directory is
// on.
type fileSystem struct {
	name   string // short type name ("nfs", "smb", "fuse"...); "" when unknown
	remote bool   // changes made elsewhere produce no file events here
}
