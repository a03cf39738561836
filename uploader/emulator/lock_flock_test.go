//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package emulator

import (
	"errors"
	"testing"
)

// TestDirInUse: a second emulator on a Dir fails while the first uses it,
// and starts once it has closed.
func TestDirInUse(t *testing.T) {
	dir := t.TempDir()
	a, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(Config{Dir: dir})
	if !errors.Is(err, ErrDirInUse) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("second emulator on the Dir: %v, want ErrDirInUse", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
