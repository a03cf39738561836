package review

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// Building the review of 10,000 results: "cold" makes all 20,000
// thumbnails (none were made during the run), "warm" finds them made as
// the outputs landed (the normal case).
func BenchmarkBuild10000(b *testing.B) {
	f := nightOf(b, 10000)
	thumbsDir := filepath.Join(f.state, Dir, "thumbs")
	b.Run("cold", func(b *testing.B) {
		var total time.Duration
		for b.Loop() {
			b.StopTimer()
			os.RemoveAll(thumbsDir)
			b.StartTimer()
			start := time.Now()
			if _, err := Build(context.Background(), BuildOptions{State: f.state, In: f.in, Out: f.out}); err != nil {
				b.Fatal(err)
			}
			total += time.Since(start)
		}
		b.ReportMetric(total.Seconds()/float64(b.N), "s/build")
	})
	b.Run("warm", func(b *testing.B) {
		var total time.Duration
		for b.Loop() {
			start := time.Now()
			if _, err := Build(context.Background(), BuildOptions{State: f.state, In: f.in, Out: f.out}); err != nil {
				b.Fatal(err)
			}
			total += time.Since(start)
		}
		b.ReportMetric(total.Seconds()/float64(b.N), "s/build")
	})
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
