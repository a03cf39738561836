//go:build !linux

package pipeline

// nameMax is the longest file name in dir: 255 bytes on the file systems
// hotfolder meets outside Linux.
func nameMax(string) int { return defaultNameMax }
