package pipeline

import (
	"errors"
	"fmt"
	"hotfolder/uploader"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestIsTempName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{".a.png.hotfolder-0123456789abcdef.tmp", true},
		{".a.hotfolder-0123456789abcdef.tmp.hotfolder-fedcba9876543210.tmp", true},
		{"a.png.hotfolder-0123456789abcdef.tmp", false},   // not hidden
		{".a.png.hotfolder-0123456789ABCDEF.tmp", false},  // not ours: upper-case
		{".a.png.hotfolder-0123456789abcde.tmp", false},   // 15 digits
		{".a.png.hotfolder-0123456789abcdefg.tmp", false}, // 17
		{"..hotfolder-0123456789abcdef.tmp", false},       // no name
		{".a.png.tmp", false},
		{".a.png.part", false},
		{".hotfolder", false},
	}
	for _, tc := range tests {
		if got := isTempName(tc.name); got != tc.want {
			t.Errorf("isTempName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
	// Names createTemp makes, including from very long output names, match.
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, final := range []string{"a.png", strings.Repeat("é", 120) + ".png", strings.Repeat("x", 250)} {
		tf, err := createTemp(root, final)
		if err != nil {
			t.Fatalf("createTemp for %d-byte name: %v", len(final), err)
		}
		if base := filepath.Base(tf.name); !isTempName(base) || len(base) > 255 {
			t.Errorf("createTemp made %q (%d bytes)", base, len(base))
		}
		tf.remove()
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("remove left %v", left)
	}
}

func TestNewRemovesStaleTempFiles(t *testing.T) {
	e := newEnv(t)
	files := map[string]bool{ // name → removed
		".a.png.hotfolder-0123456789abcdef.tmp":            true,
		"sub/deep/.b.png.hotfolder-00000000000000ff.tmp":   true,
		".hotfolder/.c.png.hotfolder-0123456789abcdef.tmp": false, // state folder is not walked
		".user.tmp":      false,
		"a.png":          false,
		"sub/b.png":      false,
		"sub/.hotfolder": false,
	}
	for name := range files {
		p := e.outPath(name)
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	e.pipeline(e.config(1), &fakeSource{}, &fakeRemote{})
	for name, removed := range files {
		_, err := os.Stat(e.outPath(name))
		if gone := errors.Is(err, fs.ErrNotExist); gone != removed {
			t.Errorf("%s: removed = %v, want %v", name, gone, removed)
		}
	}
}

func TestDiskErrorsAreFatal(t *testing.T) {
	tests := []struct {
		err   error
		fatal bool
	}{
		{&fs.PathError{Op: "open", Path: "/out/a.png", Err: syscall.EACCES}, true},
		{&fs.PathError{Op: "mkdir", Path: "/out/sub", Err: syscall.EPERM}, true},
		{&fs.PathError{Op: "write", Path: "/out/a.png", Err: syscall.ENOSPC}, true},
		{&fs.PathError{Op: "write", Path: "/out/a.png", Err: syscall.EDQUOT}, true},
		{&os.LinkError{Op: "rename", Old: "/out/.a", New: "/out/a.png", Err: syscall.EROFS}, true},
		{fmt.Errorf("write output: %w", &fs.PathError{Op: "open", Err: syscall.ENAMETOOLONG}), false},
		{&fs.PathError{Op: "write", Path: "/out/a.png", Err: syscall.EIO}, false},
		{errors.New("something else"), false},
	}
	for _, tc := range tests {
		err := outputError(tc.err)
		if uploader.IsFatal(err) != tc.fatal {
			t.Errorf("outputError(%v) fatal = %v, want %v", tc.err, uploader.IsFatal(err), tc.fatal)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("outputError(%v) lost the cause", tc.err)
		}
		if tc.fatal && uploader.Hint(err) != outHint {
			t.Errorf("outputError(%v) hint = %q", tc.err, uploader.Hint(err))
		}
	}
	// Only a true Fatal() counts.
	if uploader.IsFatal(notFatal{}) || !uploader.IsFatal(fmt.Errorf("x: %w", &testFatal{"auth"})) {
		t.Error("isFatal does not follow Fatal()")
	}
}

type notFatal struct{}

func (notFatal) Error() string { return "retryable" }
func (notFatal) Fatal() bool   { return false }
