//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package journal

import (
	"os"
	"time"
)

// lockFile does nothing where bbolt does not use flock: bbolt takes its
// own lock after Open has checked the file, so there a check can race a
// writer's commit.
func lockFile(*os.File, bool, time.Duration) error { return nil }

// unlock does nothing: bbolt's locks there end when the file is closed.
func unlock(*os.File) {}
