package watcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// makeTree writes the given number of small files, spread over dirs
// folders below root.
func makeTree(root string, dirs, files int) error {
	data := []byte("image")
	for d := range dirs {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for i := d; i < files; i += dirs {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%06d.jpg", i)), data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// BenchmarkInitialScan100k measures a Once run over a folder of 100,000
// complete files in 100 folders: how long until every one is handed on.
func BenchmarkInitialScan100k(b *testing.B) {
	const files = 100_000
	root := b.TempDir()
	if err := makeTree(root, 100, files); err != nil {
		b.Fatal(err)
	}
	// The files were just written; a clock an hour ahead makes them old, as
	// they are in a folder someone points a -once run at.
	later := func() time.Time { return time.Now().Add(time.Hour) }
	b.ResetTimer()
	began := time.Now()
	for b.Loop() {
		w, err := New(Config{Root: root, Once: true, Now: later})
		if err != nil {
			b.Fatal(err)
		}
		out := make(chan File, 64)
		errc := make(chan error, 1)
		go func() { errc <- w.Run(b.Context(), out) }()
		got := 0
	recv:
		for {
			select {
			case <-out:
				got++
			case err := <-errc:
				if err != nil {
					b.Fatal(err)
				}
				break recv
			}
		}
		for len(out) > 0 {
			<-out
			got++
		}
		if got != files {
			b.Fatalf("handed on %d files, want %d", got, files)
		}
	}
	per := time.Since(began).Seconds() / float64(b.N)
	b.ReportMetric(per, "scan_s")
	b.ReportMetric(files/per, "files/s")
}

// BenchmarkSettleLatency measures how long after a file's last write it is
// handed on, beyond the settle period itself, in watch mode with events.
func BenchmarkSettleLatency(b *testing.B) {
	const (
		settle  = time.Second
		perIter = 4 // files per iteration, written at staggered moments
	)
	root := b.TempDir()
	w, err := New(Config{Root: root, Settle: settle})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	out := make(chan File)
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx, out) }()
	// The watches are in place once a first file comes through.
	if err := os.WriteFile(filepath.Join(root, "warm-up.jpg"), []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	select {
	case <-out:
	case err := <-errc:
		b.Fatal(err)
	}

	var total, worst time.Duration
	samples := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		written := make(map[string]time.Time, perIter)
		for j := range perIter {
			rel := fmt.Sprintf("f%d-%d.jpg", i, j)
			f, err := os.Create(filepath.Join(root, rel))
			if err != nil {
				b.Fatal(err)
			}
			for range 3 {
				if _, err := f.Write([]byte("chunk")); err != nil {
					b.Fatal(err)
				}
			}
			written[rel] = time.Now()
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			time.Sleep(settle / 9) // spread the deadlines over any tick phase
		}
		for range perIter {
			select {
			case f := <-out:
				over := time.Since(written[f.Rel]) - settle
				total += over
				worst = max(worst, over)
				samples++
			case err := <-errc:
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return d.Seconds() * 1000 }
	b.ReportMetric(ms(total)/float64(samples), "latency_over_settle_ms")
	b.ReportMetric(ms(worst), "max_over_settle_ms")
}

// BenchmarkMemoryPerFile measures the heap a watch-mode run keeps per file
// it has handed on: 100,000 files dropped into a watched folder.
func BenchmarkMemoryPerFile(b *testing.B) {
	const files = 100_000
	for b.Loop() {
		root := b.TempDir()
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)

		w, err := New(Config{Root: root, Settle: 50 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(b.Context())
		out := make(chan File, 64)
		errc := make(chan error, 1)
		go func() { errc <- w.Run(ctx, out) }()
		made := make(chan error, 1)
		go func() { made <- makeTree(root, 100, files) }()
		got := 0
		for got < files {
			select {
			case <-out:
				got++
			case err := <-errc:
				b.Fatal(err)
			}
		}
		if err := <-made; err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		perFile := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / files
		cancel()
		<-errc
		b.ReportMetric(perFile, "bytes/file")
		runtime.KeepAlive(w)
	}
}
