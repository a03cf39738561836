//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package pipeline

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on the claims file, so that two
// hotfolders never share a state folder (they would hand out the same output
// names and delete each other's temporary files). The lock goes with the
// open file: closing it, or the process ending, releases it. File systems
// without locks are used unlocked.
func lockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return &fatalError{
			err:  fmt.Errorf("%s is in use by another hotfolder", f.Name()),
			hint: "stop the other hotfolder, or give this one its own -out or -state",
		}
	}
	return nil
}
