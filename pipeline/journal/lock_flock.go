//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package journal

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// lockRetry is how often lockFile tries again while another process holds
// the lock.
const lockRetry = 10 * time.Millisecond

// lockFile takes the flock bbolt would take (exclusive to write, shared to
// read), waiting up to timeout: Open takes it before bbolt reads the file,
// so that the file is checked with no writer at work. bbolt's own flock on
// the same open file then succeeds at once. It returns errLockTimeout if
// another process kept the lock.
func lockFile(f *os.File, exclusive bool, timeout time.Duration) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return errLockTimeout
		}
		t := time.NewTimer(min(wait, lockRetry))
		<-t.C
	}
}

// unlock releases the flock on f when bbolt cannot (it panicked). It must
// be explicit: the memory mapping bbolt leaves behind holds the open file,
// and with it the lock, after f is closed.
func unlock(f *os.File) {
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
