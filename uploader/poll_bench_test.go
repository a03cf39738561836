package uploader_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hotfolder/ratelimit"
	"hotfolder/uploader"
	"hotfolder/uploader/emulator"
)

// speedup is how much faster than the wall clock the benchmark's clock
// runs: a 60 s job takes 3 s. Both the emulator and the client use it.
const speedup = 20

// scaledClock is a clock running speedup times faster than the wall clock.
type scaledClock struct{ epoch, start time.Time }

func newScaledClock() scaledClock {
	return scaledClock{epoch: time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC), start: time.Now()}
}

func (c scaledClock) Now() time.Time {
	return c.epoch.Add(time.Since(c.start) * speedup)
}

func (c scaledClock) After(d time.Duration) <-chan time.Time {
	out := make(chan time.Time, 1)
	time.AfterFunc(d/speedup, func() { out <- c.Now() })
	return out
}

// statusSpy counts the status GETs of each job and notes, from the answer
// that says succeeded, when the job ended at the emulator and when the
// client learned it.
type statusSpy struct {
	base  http.RoundTripper
	clock scaledClock
	mu    sync.Mutex
	gets  map[string]int
	ended map[string][3]time.Time // created, modified, seen
}

func (s *statusSpy) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.base.RoundTrip(r)
	if err != nil || r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/status/") {
		return resp, err
	}
	seen := s.clock.Now()
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, err
	}
	var st struct{ Status, CreatedTime, ModifiedTime string }
	json.Unmarshal(body, &st)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets[path.Base(r.URL.Path)]++
	if st.Status == "succeeded" {
		c, _ := time.Parse(time.RFC3339Nano, st.CreatedTime)
		m, _ := time.Parse(time.RFC3339Nano, st.ModifiedTime)
		s.ended[path.Base(r.URL.Path)] = [3]time.Time{c, m, seen}
	}
	return resp, err
}

// BenchmarkPolling runs remove background jobs against the emulator, whose
// jobs last a random time spread evenly over the range, in waves of 8 at
// once, and reports the median status GETs per job (gets_per_job) and the
// median time from a job's end to the client knowing it, over the job's
// duration (detection_delay_ratio). The first wave is left out of both
// (learning needs some jobs). Policies: "before", the polling hotfolder had
// (1 s, ×1.5, at most 15 s); "guidance", Adobe's (2 s, ×1.5, at most 30 s);
// "learned", JobTimes.
func BenchmarkPolling(b *testing.B) {
	for _, r := range []struct {
		name     string
		min, max time.Duration
	}{{"2-10s", 2 * time.Second, 10 * time.Second}, {"20-60s", 20 * time.Second, 60 * time.Second}} {
		for _, policy := range []string{"before", "guidance", "learned"} {
			b.Run(r.name+"/"+policy, func(b *testing.B) {
				var gets, ratios []float64
				for range b.N {
					g, d := pollWaves(b, r.min, r.max, policy)
					gets, ratios = append(gets, g...), append(ratios, d...)
				}
				b.ReportMetric(medianOf(gets), "gets_per_job")
				b.ReportMetric(medianOf(ratios), "detection_delay_ratio")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// pollWaves runs 6 waves of 8 jobs and returns, for the jobs after the
// first wave, their status GETs and detection delay ratios.
func pollWaves(b *testing.B, lo, hi time.Duration, policy string) (gets, ratios []float64) {
	clock := newScaledClock()
	emu, err := emulator.Start(emulator.Config{Limits: ratelimit.Profile{}, MinLatency: lo, MaxLatency: hi,
		Now: clock.Now, Seed: 14})
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	spy := &statusSpy{base: http.DefaultTransport, clock: clock, gets: map[string]int{}, ended: map[string][3]time.Time{}}
	id, secret := emu.Credentials()
	cfg := uploader.Config{
		ClientID: id, ClientSecret: secret, HTTPClient: &http.Client{Transport: spy},
		IMSURL: emu.IMSURL(), ImageAPIURL: emu.ImageAPIURL(), PhotoshopAPIURL: emu.PhotoshopAPIURL(),
		Storage: emulator.NewStore(emu.StorageURL(), nil),
		Limiter: ratelimit.New(ratelimit.Profile{
			ratelimit.RemoveBackgroundPost: {N: 1000, Window: time.Second}, ratelimit.RemoveBackgroundGet: {N: 1000, Window: time.Second}},
			ratelimit.Options{}),
		JobTimeout: time.Hour, Now: clock.Now, After: clock.After,
	}
	switch policy {
	case "before":
		cfg.Poll = uploader.PollPolicy{Initial: time.Second, Factor: 1.5, Max: 15 * time.Second}
	case "learned":
		cfg.JobTimes = uploader.NewJobTimes()
	}
	c, err := uploader.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	src, err := c.Upload(ctx, benchImage(b))
	if err != nil {
		b.Fatal(err)
	}
	step := uploader.Step{Op: uploader.OpRemoveBackground, Outputs: []uploader.Rendition{{Format: "png"}}}
	const waves, perWave = 6, 8
	for w := range waves {
		var wg sync.WaitGroup
		jobs := make([]uploader.Job, perWave)
		for i := range perWave {
			if jobs[i], err = c.Submit(ctx, step, src.URL); err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Wait(ctx, jobs[i]); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		if w == 0 {
			continue
		}
		spy.mu.Lock()
		for _, j := range jobs {
			e, ok := spy.ended[j.ID]
			if !ok {
				b.Fatalf("no succeeded status seen for job %s", j.ID)
			}
			gets = append(gets, float64(spy.gets[j.ID]))
			ratios = append(ratios, float64(e[2].Sub(e[1]))/float64(e[1].Sub(e[0])))
		}
		spy.mu.Unlock()
	}
	return gets, ratios
}

// benchImage writes a small image to cut out and returns its path.
func benchImage(b *testing.B) string {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	img.Set(20, 15, color.RGBA{200, 0, 0, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		b.Fatal(err)
	}
	name := filepath.Join(b.TempDir(), "a.png")
	if err := os.WriteFile(name, buf.Bytes(), 0o666); err != nil {
		b.Fatal(err)
	}
	return name
}
