package pipeline_test

// The quota benchmarks run the real pieces end to end: watcher, pipeline,
// uploader client, shared limiter, against the emulator enforcing the same
// limits as exact sliding windows, with jobs that take 2–10 s. They measure
// how close to the POST limit hotfolder runs (post_utilization, over the
// steady part of the run: its first 90% of POSTs), whether it
// ever crosses it (window_violations, 429s), what polling costs
// (gets_per_job) and whether a POST is ever wasted (wasted_posts). They are
// benchmarks, not tests, because they take real time: run them with
//
//	go test -run XXX -bench Quota -benchtime 1x ./pipeline/

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"hotfolder/pipeline"
	"hotfolder/ratelimit"
	"hotfolder/uploader"
	"hotfolder/uploader/emulator"
	"hotfolder/watcher"
)

// quotaCase is one benchmark run.
type quotaCase struct {
	name     string
	post     string // the remove-background POST limit, N/DURATION
	files    int    // good inputs; four bad ones are added to each run
	min, max time.Duration
	faults   emulator.Faults
}

func BenchmarkQuota(b *testing.B) {
	cases := []quotaCase{
		// Adobe's remove-background 2/3s, scaled up so a run takes seconds.
		{name: "remove-background-4per1s", post: "4/1s", files: 80, min: 2 * time.Second, max: 10 * time.Second},
		// The general POST limit's rate on the same path.
		{name: "general-15per3s", post: "15/3s", files: 100, min: 2 * time.Second, max: 10 * time.Second},
		// One API answer in ten a 5xx: retried, never a lost file.
		{name: "4per1s-5xx-10pct", post: "4/1s", files: 80, min: 2 * time.Second, max: 10 * time.Second,
			faults: emulator.Faults{ServerErrorRate: 0.1}},
		// Another client spends the same quota: 5% of API requests get a
		// 429 whatever hotfolder does. None may fail a file.
		{name: "4per1s-shared-429-5pct", post: "4/1s", files: 80, min: 2 * time.Second, max: 10 * time.Second,
			faults: emulator.Faults{TooManyRate: 0.05}},
		// Polling economy: every job takes 10 s.
		{name: "jobs-10s", post: "4/1s", files: 40, min: 10 * time.Second, max: 10 * time.Second},
		// Slow jobs: with the default pool the POST limit, not the pool,
		// still sets the pace.
		{name: "jobs-20s", post: "4/1s", files: 100, min: 20 * time.Second, max: 20 * time.Second},
	}
	for _, qc := range cases {
		b.Run(qc.name, func(b *testing.B) {
			for range b.N {
				runQuota(b, qc)
			}
		})
	}
}

// badInputs are files a local check rejects: any POST for one is wasted.
func badInputs(b *testing.B) map[string][]byte {
	var huge bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&huge, image.NewGray(image.Rect(0, 0, 7000, 7000))); err != nil {
		b.Fatal(err)
	}
	return map[string][]byte{
		"bad-empty.jpg": nil,
		"bad-notes.jpg": []byte("call the client about the red shoes\n"),
		"bad-huge.png":  huge.Bytes(),
		"bad-cut.png":   huge.Bytes()[:40], // a copy that never finished: the header is cut short
	}
}

// product is a small product shot: a coloured disc on a light backdrop.
func product(b *testing.B, i int) []byte {
	const w, h = 96, 72
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	c := color.RGBA{uint8(40 + i*37%180), uint8(60 + i*53%160), uint8(90 + i*71%140), 255}
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{235, 235, 230, 255})
			if dx, dy := x-w/2, y-h/2; dx*dx+dy*dy < 24*24 {
				img.Set(x, y, c)
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func runQuota(b *testing.B, qc quotaCase) {
	b.StopTimer() // time only the run
	post, err := ratelimit.ParseLimit(qc.post)
	if err != nil {
		b.Fatal(err)
	}
	prof := ratelimit.Soft()
	prof[ratelimit.RemoveBackgroundPost] = post

	in, out := b.TempDir(), b.TempDir()
	for i := range qc.files {
		write(b, filepath.Join(in, "good", name(i)), product(b, i))
	}
	bad := badInputs(b)
	for n, data := range bad {
		write(b, filepath.Join(in, n), data)
	}

	emu, err := emulator.Start(emulator.Config{
		Limits: prof, MinLatency: qc.min, MaxLatency: qc.max, Faults: qc.faults, Seed: 1,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	limiter := ratelimit.New(prof, ratelimit.Options{})
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	id, secret := emu.Credentials()
	jobTimes := uploader.NewJobTimes() // polling that learns, as the command has
	client, err := uploader.New(uploader.Config{
		ClientID: id, ClientSecret: secret,
		IMSURL: emu.IMSURL(), ImageAPIURL: emu.ImageAPIURL(), PhotoshopAPIURL: emu.PhotoshopAPIURL(),
		HTTPClient: hc, Storage: emulator.NewStore(emu.StorageURL(), hc), Limiter: limiter, JobTimes: jobTimes,
	})
	if err != nil {
		b.Fatal(err)
	}
	w, err := watcher.New(watcher.Config{Root: in, Once: true, Settle: 10 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	workers := pipeline.WorkersFor(limiter.Interval(ratelimit.RemoveBackgroundPost)) // the command's default
	recipe := uploader.Recipe{Steps: []uploader.Step{{Op: uploader.OpRemoveBackground,
		RemoveBackground: &uploader.RemoveBackground{Mode: "cutout"}, Outputs: []uploader.Rendition{{Format: "png"}}}}}
	p, err := pipeline.New(pipeline.Config{In: in, Out: out, Recipe: recipe, Workers: workers, JobTimes: jobTimes,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, w, client)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b.StartTimer()
	sum, err := p.Run(ctx)
	b.StopTimer()
	if err != nil {
		b.Fatalf("run: %v", err)
	}
	st := emu.Stats()

	// Every input ends done or failed with a reason; bad ones fail locally.
	total := int64(qc.files + len(bad))
	if sum.Done+sum.Failed != total || sum.Pending != 0 {
		b.Errorf("%d done + %d failed (%d pending) of %d inputs", sum.Done, sum.Failed, sum.Pending, total)
	}
	retriedOut := 0
	var apiErr *uploader.APIError
	for _, f := range sum.Failures {
		switch {
		case strings.HasPrefix(path.Base(f.Rel), "bad-"):
			if f.Stage != "check" {
				b.Errorf("%s failed at %s, want the local check: %v", f.Rel, f.Stage, f.Err)
			}
		case qc.faults.ServerErrorRate > 0 && errors.As(f.Err, &apiErr) && apiErr.StatusCode >= 500:
			retriedOut++ // 5xx four times in a row: failed after three retries
		default:
			b.Errorf("%s failed: %v", f.Rel, f.Err)
		}
	}
	if n := sum.Failed - int64(retriedOut); n != int64(len(bad)) {
		b.Errorf("%d bad inputs failed, want %d", n, len(bad))
	}

	// POSTs per input, by the file name at the end of the upload key.
	perInput := map[string]int{}
	for src, n := range st.PostsPerSource {
		perInput[path.Base(src)] += n
	}
	wasted := 0
	for n, posts := range perInput {
		if strings.HasPrefix(n, "bad-") {
			wasted += posts
		} else {
			wasted += posts - 1
		}
	}

	times := slices.Clone(st.PostTimes)
	slices.SortFunc(times, time.Time.Compare)
	// The steady part: the first 90% of POSTs. At the end the queue has
	// drained, and the last POSTs wait out 5xx back-offs (up to 20 s) or
	// 429 pauses with nothing else left to send; that tail says nothing
	// about pacing, so it is reported apart (post_utilization_all).
	rate := func(ts []time.Time) float64 {
		if len(ts) < 2 {
			return 0
		}
		span := ts[len(ts)-1].Sub(ts[0])
		return float64(len(ts)-1) / span.Seconds() / (float64(post.N) / post.Window.Seconds())
	}
	util := rate(times[:len(times)*9/10])
	rbGets := st.GetsByBucket[ratelimit.RemoveBackgroundGet]
	b.ReportMetric(util, "post_utilization")
	b.ReportMetric(rate(times), "post_utilization_all")
	b.ReportMetric(float64(ratelimit.Violations(post, times)+st.LimitRefusals), "window_violations")
	b.ReportMetric(float64(st.TooMany), "429s")
	b.ReportMetric(float64(rbGets)/float64(max(st.Jobs, 1)), "gets_per_job")
	b.ReportMetric(float64(wasted), "wasted_posts")
	b.ReportMetric(float64(sum.Done), "done")
	b.ReportMetric(float64(retriedOut), "failed_after_retries")
	b.ReportMetric(float64(st.ServerErrors), "5xx_served")
}

func name(i int) string { return "p" + string(rune('a'+i/26%26)) + string(rune('a'+i%26)) + ".png" }

func write(b *testing.B, p string, data []byte) {
	b.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
}
