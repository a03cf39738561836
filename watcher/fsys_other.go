//go:build !linux

package watcher

// detectFileSystem knows no file system types outside Linux: it reports
// unknown and local, so polling stays as configured.
func detectFileSystem(string) fileSystem { return fileSystem{} }
