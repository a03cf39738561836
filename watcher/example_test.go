package watcher_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"hotfolder/watcher"
)

// A -once run over a folder that is already complete hands every file on
// at once, in walk order, skipping temporary and hidden files.
func ExampleWatcher_Run() {
	root, err := os.MkdirTemp("", "hot")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(root)
	old := time.Now().Add(-time.Hour)
	for _, rel := range []string{"b.jpg", "a/1.png", "a.jpg", "upload.part", ".DS_Store"} {
		path := filepath.Join(root, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, []byte("image"), 0o644)
		os.Chtimes(path, old, old)
	}

	w, err := watcher.New(watcher.Config{Root: root, Once: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	files := make(chan watcher.File)
	errc := make(chan error, 1)
	go func() { errc <- w.Run(context.Background(), files) }()
	for {
		select {
		case f := <-files:
			fmt.Println(f.Rel, f.Size)
		case err := <-errc:
			fmt.Println("done:", err)
			return
		}
	}
	// Output:
	// a/1.png 5
	// a.jpg 5
	// b.jpg 5
	// done: <nil>
}
