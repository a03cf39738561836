//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package emulator

import (
	"errors"
	"os"
	"syscall"
)

// lockDir takes an exclusive flock on the open lock file f without
// waiting: two emulators on one directory would run each other's jobs
// twice and race on their files. It returns errLocked when another holds
// it. The lock ends when f is closed.
func lockDir(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLocked
	}
	return err
}
