package review

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hotfolder/pipeline"
	"hotfolder/pipeline/journal"
	"hotfolder/pipeline/review/reviewtest"
)

// nightOf makes a night of n done inputs, 640×480 photos cut out, each
// file its own content (a base image and its index after the image's
// end, which decoders ignore): n inputs and n outputs to thumbnail. One
// in 50 failed.
func nightOf(b *testing.B, n int) *fixture {
	b.Helper()
	root := b.TempDir()
	f := &fixture{in: filepath.Join(root, "in"), out: filepath.Join(root, "out")}
	f.state = pipeline.StateDir(f.out)
	const bases = 16
	var ins, outs [bases][]byte
	for i := range bases {
		ins[i], outs[i] = photo(b, 640, 480, uint8(i*15), false), photo(b, 640, 480, uint8(i*15), true)
	}
	fail := journal.Failure{Stage: "submit", HTTPStatus: 429, Code: "TooManyRequests", Message: "quota spent"}
	for i := range n {
		rel := fmt.Sprintf("batch%02d/p%05d.jpg", i%20, i)
		in := append(append([]byte(nil), ins[i%bases]...), fmt.Sprint(i)...)
		writeFile(b, filepath.Join(f.in, rel), in)
		r := journal.Record{Rel: rel, Size: int64(len(in)), ModTime: time.Unix(1e9, 0), SHA256: sum(in), Op: "remove-background", Steps: 1,
			Outputs: []string{rel[:len(rel)-4] + ".png"}}
		if i%50 == 7 {
			r.State, r.Failure = journal.Failed, &fail
		} else {
			out := append(append([]byte(nil), outs[i%bases]...), fmt.Sprint(i)...)
			writeFile(b, filepath.Join(f.out, r.Outputs[0]), out)
			r.State, r.OutputSHA256s = journal.Done, []string{sum(out)}
		}
		f.recs = append(f.recs, r)
	}
	f.writeJournal(b)
	return f
}

// cpuTime is the CPU time this process has used: on a machine shared
// with other work, a steadier measure than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Building the review of 10,000 results: "cold" makes all 20,000
// thumbnails (none were made during the run), "warm" finds them made as
// the outputs landed (the normal case). s/build is the wall clock,
// cpu-s/build the CPU time over both cores.
func BenchmarkBuild10000(b *testing.B) {
	f := nightOf(b, 10000)
	thumbsDir := filepath.Join(f.state, Dir, "thumbs")
	for _, cold := range []bool{true, false} {
		name := map[bool]string{true: "cold", false: "warm"}[cold]
		b.Run(name, func(b *testing.B) {
			var wall, cpu time.Duration
			for b.Loop() {
				if cold {
					b.StopTimer()
					os.RemoveAll(thumbsDir)
					b.StartTimer()
				}
				start, cpu0 := time.Now(), cpuTime()
				if _, err := Build(context.Background(), BuildOptions{State: f.state, In: f.in, Out: f.out}); err != nil {
					b.Fatal(err)
				}
				wall, cpu = wall+time.Since(start), cpu+cpuTime()-cpu0
			}
			b.ReportMetric(wall.Seconds()/float64(b.N), "s/build")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/build")
		})
	}
}

// Time to interactive of the built page in Chromium, from navigation to
// the first results drawn and the filters wired, for 10,000 and 50,000
// results (thumbnails are not waited for: they load as they are seen).
func BenchmarkInteractive(b *testing.B) {
	for _, n := range []int{10000, 50000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			br := reviewtest.New(b)
			dir := b.TempDir()
			d := Data{Version: 1, Generated: time.Now(), Posts: map[string]int{"remove-background.post": n}, Counts: Counts{Done: n, Skipped: -1}}
			for i := range n {
				d.Items = append(d.Items, Item{Name: fmt.Sprintf("batch%02d/p%05d.jpg", i%20, i), Status: "done", Op: "remove-background",
					Before: fmt.Sprintf("%064x.jpg", i), After: fmt.Sprintf("%064x.png", i), Output: fmt.Sprintf("batch%02d/p%05d.png", i%20, i), Group: -1})
			}
			index, err := write(dir, d)
			if err != nil {
				b.Fatal(err)
			}
			var total float64
			for b.Loop() {
				br.Do(chromedp.Navigate(fileURL(index)+"?"+fmt.Sprint(b.N)), reviewtest.Ready(1))
				ms := reviewtest.Eval[float64](br, `window.hfReadyAt`)
				cards := reviewtest.Eval[int](br, `document.querySelectorAll(".card").length`)
				if cards == 0 || cards > 200 {
					b.Fatalf("%d cards in the DOM for %d results: want only those in sight", cards, n)
				}
				total += ms
			}
			b.ReportMetric(total/float64(b.N), "ms/interactive")
		})
	}
}
