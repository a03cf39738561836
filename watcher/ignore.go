package watcher

import (
	"cmp"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// ignoredName reports whether a file or directory called name is never
// handed on or descended into: hidden entries, files still being written
// under a temporary name, and operating-system clutter.
func ignoredName(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "~$") {
		return true
	}
	lower := strings.ToLower(name)
	switch lower {
	case "thumbs.db", "desktop.ini":
		return true
	}
	for _, suffix := range [...]string{".tmp", ".part", ".crdownload"} {
		if strings.HasSuffix(lower, suffix) {
			return true
		}
	}
	return false
}

// foldCase reports whether paths on this system usually compare
// case-insensitively (the default file systems of Windows and macOS).
func foldCase() bool { return runtime.GOOS == "windows" || runtime.GOOS == "darwin" }

// samePath reports whether two cleaned absolute paths name the same entry.
func samePath(a, b string) bool {
	if foldCase() {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// within reports whether the cleaned absolute path p lies strictly inside
// dir.
func within(p, dir string) bool {
	if len(p) <= len(dir) || !os.IsPathSeparator(p[len(dir)]) && !strings.HasSuffix(dir, string(filepath.Separator)) {
		return false
	}
	return samePath(p[:len(dir)], dir)
}

// comparePaths orders paths the way a lexical directory walk visits them:
// element by element, so "a/b" comes before "a.jpg" (the directory "a" sorts
// before the name "a.jpg").
func comparePaths(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		switch {
		case os.IsPathSeparator(ca):
			return -1
		case os.IsPathSeparator(cb):
			return 1
		}
		return cmp.Compare(ca, cb)
	}
	return cmp.Compare(len(a), len(b))
}
