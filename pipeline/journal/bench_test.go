package journal

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// benchDir is where benchmarks put their journals: JOURNAL_BENCH_DIR if
// set (to measure a particular disk), else a temporary folder.
func benchDir(b *testing.B) string {
	if d := os.Getenv("JOURNAL_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "journal-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// bigJournal writes a closed journal of n realistic records, most of them
// done, in batches, and returns its path.
func bigJournal(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(benchDir(b), "journal.db")
	j, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]Record, 0, 5000)
	for i := range n {
		s := Done
		switch i % 50 {
		case 0:
			s = Failed
		case 1:
			s = Submitted
		}
		batch = append(batch, sample("studio/2025-11", i, s))
		if len(batch) == cap(batch) || i == n-1 {
			if err := j.PutMany(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkOpen100k is what a run does at startup: open a journal of
// 100,000 records and read them all. Goal: startup_ms under 1000. It also
// reports the parts: open_ms (Open, which checks the whole file), each_ms
// (Each), and of Open's check, fsck_ms (fsck alone), with txcheck_ms
// (bbolt's tx.Check, which Open does not run) for comparison.
func BenchmarkOpen100k(b *testing.B) {
	const n = 100_000
	path := bigJournal(b, n)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	var open, each, check, txcheck time.Duration
	for b.Loop() {
		t0 := time.Now()
		j, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		count := 0
		if err := j.Each(func(Record) error { count++; return nil }); err != nil || count != n {
			b.Fatalf("Each: %d records, %v", count, err)
		}
		t2 := time.Now()
		b.StopTimer()
		err = fsck(j.file, fi.Size(), inputsBucket, func(k, v []byte) error { return verify(k, v) })
		t3 := time.Now()
		check += t3.Sub(t2)
		if err != nil {
			b.Fatal(err)
		}
		err = j.db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		})
		txcheck += time.Since(t3)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := j.Close(); err != nil {
			b.Fatal(err)
		}
		open += t1.Sub(t0)
		each += t2.Sub(t1)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "startup_ms")
	b.ReportMetric(ms(open), "open_ms")
	b.ReportMetric(ms(each), "each_ms")
	b.ReportMetric(ms(check), "fsck_ms")
	b.ReportMetric(ms(txcheck), "txcheck_ms")
	b.ReportMetric(float64(fi.Size())/1e6, "file_MB")
	b.ReportMetric(float64(fi.Size())/n, "B/record")
}

// BenchmarkPut takes one input per iteration through its four durable
// writes (queued, uploaded, submitted, done), in a journal already holding
// 10,000 records: us/put is one committed and synced Put, journal_ms/file
// what the journal costs an input.
func BenchmarkPut(b *testing.B) {
	path := bigJournal(b, 10_000)
	j, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	states := []State{Queued, Uploaded, Submitted, Done}
	i := 1_000_000
	for b.Loop() {
		for _, s := range states {
			if err := j.Put(sample("bench", i, s)); err != nil {
				b.Fatal(err)
			}
		}
		i++
	}
	perFile := float64(b.Elapsed().Microseconds()) / float64(b.N)
	b.ReportMetric(perFile/float64(len(states)), "us/put")
	b.ReportMetric(perFile/1000, "journal_ms/file")
}

// BenchmarkCodec encodes and decodes one realistic record.
func BenchmarkCodec(b *testing.B) {
	r := sample("studio/2025-11", 12345, Done)
	r.Updated = time.Now()
	var buf []byte
	for b.Loop() {
		buf = encode(buf[:0], &r)
		if _, err := decode([]byte(r.Rel), buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf)), "value_B")
}
