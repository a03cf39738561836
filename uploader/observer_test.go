package uploader_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"hotfolder/ratelimit"
	"hotfolder/uploader"
	"hotfolder/uploader/emulator"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu        sync.Mutex
	requests  map[string][]int // op → statuses
	jobs      []string
	transfers map[string]int64
}

func (r *recorder) Request(op string, status int, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests[op] = append(r.requests[op], status)
}

func (r *recorder) JobEnded(outcome string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.jobs = append(r.jobs, outcome)
}

func (r *recorder) Transferred(dir string, n int64, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.transfers[dir] += n
}

// The Observer sees each request with its status, the job's end and both
// transfers, through a whole job against the emulator.
func TestObserver(t *testing.T) {
	emu, err := emulator.Start(emulator.Config{Limits: ratelimit.Profile{}, MinLatency: time.Millisecond, MaxLatency: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	rec := &recorder{requests: map[string][]int{}, transfers: map[string]int64{}}
	id, secret := emu.Credentials()
	c, err := uploader.New(uploader.Config{
		ClientID: id, ClientSecret: secret,
		IMSURL: emu.IMSURL(), ImageAPIURL: emu.ImageAPIURL(), PhotoshopAPIURL: emu.PhotoshopAPIURL(),
		Storage: emulator.NewStore(emu.StorageURL(), nil), Limiter: ratelimit.New(ratelimit.Profile{
			ratelimit.RemoveBackgroundPost: {N: 100, Window: time.Second}, ratelimit.RemoveBackgroundGet: {N: 100, Window: time.Second}},
			ratelimit.Options{}),
		Poll:     uploader.PollPolicy{Initial: 10 * time.Millisecond},
		Observer: rec,
	})
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	img.Set(20, 15, color.RGBA{200, 0, 0, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "a.png")
	if err := os.WriteFile(path, buf.Bytes(), 0o666); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src, err := c.Upload(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	step := uploader.Step{Op: uploader.OpRemoveBackground, Outputs: []uploader.Rendition{{Format: "png"}}}
	job, err := c.Submit(ctx, step, src.URL)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := c.Wait(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 {
		t.Fatalf("outputs %+v, want one", outs)
	}
	out := outs[0]
	f, err := os.Create(filepath.Join(t.TempDir(), "a.out.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := c.Download(ctx, out, f)
	if err != nil {
		t.Fatal(err)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	for op, want := range map[string]int{"token": 200, "submit": 202, "status": 200, "download": 200} {
		got := rec.requests[op]
		if len(got) == 0 || got[len(got)-1] != want {
			t.Errorf("%s requests: statuses %v, want the last %d", op, got, want)
		}
	}
	if len(rec.jobs) != 1 || rec.jobs[0] != "succeeded" {
		t.Errorf("jobs ended: %v, want one succeeded", rec.jobs)
	}
	if rec.transfers["up"] != int64(buf.Len()) || rec.transfers["down"] != n {
		t.Errorf("transfers %v, want up %d, down %d", rec.transfers, buf.Len(), n)
	}
}
