package logging

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenFileCreatesPrivateAndAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hotfolder.log")
	for _, line := range []string{"first\n", "second\n"} {
		f, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "first\nsecond\n" {
		t.Errorf("file holds %q, want both lines in order", data)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("created with mode %v, want no access for group and others (0600)", perm)
	}
}

func TestOpenFileKeepsExistingContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hotfolder.log")
	if err := os.WriteFile(path, []byte("yesterday\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	log, err := New(f, Options{Secrets: []string{clientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("tonight", "secret", clientSecret)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 2 || lines[0] != "yesterday" || !strings.HasSuffix(lines[1], "msg=tonight secret=[REDACTED]") {
		t.Errorf("file holds %q, want yesterday's line then tonight's, redacted", data)
	}
}

func TestOpenFileErrors(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "plain")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       []string // in the message
		is         error
	}{
		{"missing folder", filepath.Join(dir, "nope", "hotfolder.log"), []string{"the folder " + filepath.Join(dir, "nope") + " does not exist"}, fs.ErrNotExist},
		{"folder is a file", filepath.Join(notDir, "hotfolder.log"), []string{notDir + " is not a folder"}, nil},
		{"path is a folder", dir, []string{dir + " is a folder, not a file"}, nil},
		{"empty path", "", []string{"no log file named"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := OpenFile(tc.path)
			if err == nil {
				f.Close()
				t.Fatalf("OpenFile(%q) succeeded", tc.path)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
			var h interface{ Hint() string }
			if !errors.As(err, &h) || h.Hint() == "" {
				t.Errorf("error %q has no hint", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("OpenFile created the missing folder")
	}
}

func TestOpenFilePermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write anywhere")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	_, err := OpenFile(filepath.Join(dir, "hotfolder.log"))
	if err == nil || !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("err = %v, want a permission error", err)
	}
}
