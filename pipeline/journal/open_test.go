package journal

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// short is a lock timeout for tests: one attempt, no waiting.
const short = time.Millisecond

func TestOpenCreatesFolderAndFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "journal.db")
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if j.Path() != path {
		t.Errorf("Path = %q, want %q", j.Path(), path)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Size() == 0 {
		t.Fatalf("journal file: %v, %v", fi, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("state folder holds %d files, want only the journal: %v", len(entries), entries)
	}
}

func TestOpenRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	j, err := Open("journal.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if want := filepath.Join(dir, "journal.db"); j.Path() != want {
		t.Errorf("Path = %q, want the absolute %q", j.Path(), want)
	}
}

func TestOpenRemovesStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "journal.db")
	// What a run killed while creating the journal leaves behind.
	stale := path + ".new-12345"
	other := filepath.Join(dir, "outputs.jsonl")
	for _, name := range []string{stale, other} {
		if err := os.WriteFile(name, []byte("x"), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file still there: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another file in the state folder was touched: %v", err)
	}
}

func TestSecondWriterIsLocked(t *testing.T) {
	j, _ := openTemp(t)
	_, err := Open(j.Path(), Options{Timeout: short})
	checkJournalError(t, err, ErrLocked, "stop the other hotfolder", "-state")
	if !strings.Contains(err.Error(), "another hotfolder is using the state folder "+filepath.Dir(j.Path())) {
		t.Errorf("message %q should say another hotfolder uses the state folder", err)
	}
	// The first one is unharmed, and once it is closed the lock is free.
	mustPut(t, j, sample("l", 1, Queued))
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j2, err := Open(j.Path(), Options{Timeout: short})
	if err != nil {
		t.Fatalf("Open after the first closed: %v", err)
	}
	defer j2.Close()
	if _, ok, _ := j2.Get(sample("l", 1, Queued).Rel); !ok {
		t.Error("record lost")
	}
}

// TestReadOnly documents what bbolt allows: readers share the file with
// readers, never with a writer.
func TestReadOnly(t *testing.T) {
	setup := func(t *testing.T) string {
		j, _ := openTemp(t)
		mustPut(t, j, sample("ro", 1, Done))
		path := j.Path()
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ro := Options{ReadOnly: true, Timeout: short}
	rw := Options{Timeout: short}

	t.Run("alone", func(t *testing.T) {
		path := setup(t)
		before, _ := os.ReadFile(path)
		r, err := Open(path, ro)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, ok, err := r.Get(sample("ro", 1, Done).Rel); !ok || err != nil {
			t.Errorf("Get = %v, %v", ok, err)
		}
		if c, err := r.Counts(); err != nil || c[Done] != 1 {
			t.Errorf("Counts = %v, %v", c, err)
		}
		var e *Error
		if err := r.Put(sample("ro", 2, Queued)); !errors.As(err, &e) {
			t.Errorf("Put on a read-only journal = %v, want an *Error", err)
		}
		if after, _ := os.ReadFile(path); string(after) != string(before) {
			t.Error("a read-only journal changed the file")
		}
	})
	t.Run("beside readers", func(t *testing.T) {
		path := setup(t)
		r1, err := Open(path, ro)
		if err != nil {
			t.Fatal(err)
		}
		defer r1.Close()
		r2, err := Open(path, ro)
		if err != nil {
			t.Fatalf("second reader: %v", err)
		}
		r2.Close()
	})
	t.Run("while a run writes", func(t *testing.T) {
		path := setup(t)
		w, err := Open(path, rw)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		_, err = Open(path, ro)
		checkJournalError(t, err, ErrLocked, "wait for the run to end")
		if !strings.Contains(err.Error(), "cannot be read while that run writes it") {
			t.Errorf("message %q should say a reader cannot open it while a run writes it", err)
		}
	})
	t.Run("blocks a run", func(t *testing.T) {
		path := setup(t)
		r, err := Open(path, ro)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		_, err = Open(path, rw)
		checkJournalError(t, err, ErrLocked)
	})
	t.Run("missing journal", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state", "journal.db")
		_, err := Open(path, ro)
		checkJournalError(t, err, fs.ErrNotExist, "no hotfolder run has used this state folder")
		if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
			t.Error("a read-only Open created the state folder")
		}
	})
}

func TestOpenStateFolderIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(file, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	_, err := Open(filepath.Join(file, "journal.db"), Options{})
	checkJournalError(t, err, syscall.ENOTDIR, "writable")
}

func TestOpenUnwritableFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	_, err := Open(filepath.Join(dir, "journal.db"), Options{})
	checkJournalError(t, err, fs.ErrPermission, "writable")
}
