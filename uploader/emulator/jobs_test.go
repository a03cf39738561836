package emulator

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestJobLifecycle(t *testing.T) {
	f := start(t, Config{})
	src := f.upload("in/shot.png", objectShot(t))
	sub := f.submit(rbBody(src, map[string]any{"output": map[string]any{"mediaType": "image/png"}}))
	t0 := f.clock.Now()

	steps := []struct {
		at   time.Duration
		want string
	}{
		{0, "pending"},
		{2*time.Second - time.Nanosecond, "pending"}, // first fifth of 10 s
		{2 * time.Second, "running"},
		{10*time.Second - time.Nanosecond, "running"}, // processed by now, but the latency has not passed
		{10 * time.Second, "succeeded"},
	}
	for _, step := range steps {
		if step.want != "pending" {
			f.waitProcessed(sub.JobID)
		}
		f.clock.Advance(t0.Add(step.at).Sub(f.clock.Now()))
		if st := f.status(sub); st.Status != step.want {
			t.Fatalf("at %v: status %q, want %q", step.at, st.Status, step.want)
		}
	}
	st := f.status(sub)
	if st.CreatedTime != t0.Format(timeFormat) || st.ModifiedTime != t0.Add(10*time.Second).Format(timeFormat) {
		t.Errorf("times %q, %q; want %q and 10 s later", st.CreatedTime, st.ModifiedTime, t0.Format(timeFormat))
	}
	if st.Result == nil || len(st.Result.Outputs) != 1 || st.Result.Outputs[0].MediaType != "image/png" {
		t.Fatalf("result %+v, want one image/png output", st.Result)
	}
	resp, body := download(t, st.Result.Outputs[0].Destination.URL)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("result download: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	cut, ok := img.(*image.NRGBA)
	if !ok {
		t.Fatalf("result is %T, want NRGBA with alpha", img)
	}
	if a := cut.NRGBAAt(2, 2).A; a != 0 {
		t.Errorf("border alpha %d, want 0", a)
	}
	if c := cut.NRGBAAt(60, 45); c != (color.NRGBA{20, 60, 200, 255}) {
		t.Errorf("centre %v, want the opaque blue object", c)
	}
	stats := f.s.Stats()
	if stats.Jobs != 1 || stats.JobsSucceeded != 1 || stats.ResultDownloads != 1 || stats.GetsPerJob[sub.JobID] != len(steps)+1 {
		t.Errorf("stats %+v", stats)
	}
}

// TestRunningUntilProcessed: a job whose latency has passed stays running
// while its input is still downloading.
func TestRunningUntilProcessed(t *testing.T) {
	f := start(t, Config{})
	slow := newBlockingSource(t, objectShot(t))
	sub := f.submit(rbBody(slow.URL+"/in.png", nil))
	f.clock.Advance(time.Minute)
	if st := f.status(sub); st.Status != "running" {
		t.Fatalf("status %q while the input downloads, want running", st.Status)
	}
	slow.Release()
	f.waitProcessed(sub.JobID)
	st := f.status(sub)
	if st.Status != "succeeded" {
		t.Fatalf("status %q after processing, want succeeded", st.Status)
	}
	// Ended after its latency: modifiedTime is when processing finished.
	if want := f.clock.Now().Format(timeFormat); st.ModifiedTime != want {
		t.Errorf("modifiedTime %s, want %s", st.ModifiedTime, want)
	}
}

func TestWorkersBoundProcessing(t *testing.T) {
	f := start(t, Config{Workers: 2})
	slow := newBlockingSource(t, objectShot(t))
	var subs []submitted
	for i := range 6 {
		subs = append(subs, f.submit(rbBody(fmt.Sprintf("%s/in-%d.png", slow.URL, i), nil)))
	}
	// Every job either downloads or waits for a worker: two and four. With
	// no bound, none would ever wait, and this would not come about.
	deadline := time.Now().Add(10 * time.Second)
	for {
		w, _ := slow.counts()
		waiting := f.s.Stats().JobsWaiting
		if w == 2 && waiting == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d inputs downloading and %d jobs waiting, want 2 and 4 (Workers: 2)", w, waiting)
		}
		time.Sleep(5 * time.Millisecond)
	}
	slow.Release()
	for _, sub := range subs {
		if st := f.finish(sub); st.Status != "succeeded" {
			t.Errorf("%s: %+v", sub.JobID, st)
		}
	}
	if _, most := slow.counts(); most > 2 {
		t.Errorf("at most %d downloads at once, want ≤ 2", most)
	}
}

func TestOutputs(t *testing.T) {
	f := start(t, Config{})
	src := f.upload("shot.png", objectShot(t))
	blue := color.NRGBA{20, 60, 200, 255}
	tests := []struct {
		name            string
		extra           map[string]any
		wantType        string
		corner, centre  color.NRGBA // expected, within a JPEG tolerance
		wantGray, lossy bool
		wantSize        image.Point
	}{
		{name: "png cutout", extra: map[string]any{"output": map[string]any{"mediaType": "image/png"}},
			wantType: "image/png", corner: color.NRGBA{}, centre: blue, wantSize: image.Pt(120, 90)},
		{name: "default output is the input's format", extra: nil,
			wantType: "image/png", corner: color.NRGBA{}, centre: blue, wantSize: image.Pt(120, 90)},
		{name: "png over a colour", extra: map[string]any{"output": map[string]any{"mediaType": "image/png"},
			"backgroundColor": map[string]any{"red": 255, "green": 0, "blue": 0, "alpha": 1}},
			wantType: "image/png", corner: color.NRGBA{255, 0, 0, 255}, centre: blue, wantSize: image.Pt(120, 90)},
		{name: "jpeg without backgroundColor is black", extra: map[string]any{"output": map[string]any{"mediaType": "image/jpeg"}},
			wantType: "image/jpeg", corner: color.NRGBA{0, 0, 0, 255}, centre: blue, lossy: true, wantSize: image.Pt(120, 90)},
		{name: "jpeg over white", extra: map[string]any{"output": map[string]any{"mediaType": "image/jpeg"},
			"backgroundColor": map[string]any{"red": 255, "green": 255, "blue": 255, "alpha": 1}},
			wantType: "image/jpeg", corner: color.NRGBA{255, 255, 255, 255}, centre: blue, lossy: true, wantSize: image.Pt(120, 90)},
		{name: "mask", extra: map[string]any{"mode": "mask", "output": map[string]any{"mediaType": "image/png"}},
			wantType: "image/png", corner: color.NRGBA{0, 0, 0, 255}, centre: color.NRGBA{255, 255, 255, 255}, wantGray: true, wantSize: image.Pt(120, 90)},
		{name: "trim", extra: map[string]any{"trim": true, "output": map[string]any{"mediaType": "image/png"}},
			wantType: "image/png", corner: blue, centre: blue, wantSize: image.Pt(40, 40)},
	}
	for _, tc := range tests {
		st := f.finish(f.submit(rbBody(src, tc.extra)))
		if st.Status != "succeeded" {
			t.Errorf("%s: %+v", tc.name, st)
			continue
		}
		out := st.Result.Outputs[0]
		if out.MediaType != tc.wantType {
			t.Errorf("%s: media type %s, want %s", tc.name, out.MediaType, tc.wantType)
		}
		_, body := download(t, out.Destination.URL)
		var img image.Image
		var err error
		if tc.wantType == "image/jpeg" {
			img, err = jpeg.Decode(bytes.NewReader(body))
		} else {
			img, err = png.Decode(bytes.NewReader(body))
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if _, gray := img.(*image.Gray); gray != tc.wantGray {
			t.Errorf("%s: image is %T, want gray %v", tc.name, img, tc.wantGray)
		}
		if got := img.Bounds().Size(); got != tc.wantSize {
			t.Errorf("%s: size %v, want %v", tc.name, got, tc.wantSize)
			continue
		}
		b := img.Bounds()
		tol := 0
		if tc.lossy {
			tol = 12
		}
		for _, p := range []struct {
			name string
			at   image.Point
			want color.NRGBA
		}{{"corner", b.Min.Add(image.Pt(1, 1)), tc.corner}, {"centre", b.Min.Add(b.Size().Div(2)), tc.centre}} {
			got := color.NRGBAModel.Convert(img.At(p.at.X, p.at.Y)).(color.NRGBA)
			if diff(got.R, p.want.R) > tol || diff(got.G, p.want.G) > tol || diff(got.B, p.want.B) > tol || diff(got.A, p.want.A) > tol {
				t.Errorf("%s: %s %v, want %v", tc.name, p.name, got, p.want)
			}
		}
	}
}

func diff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func TestJobFailures(t *testing.T) {
	f := start(t, Config{})
	var huge bytes.Buffer
	png.Encode(&huge, image.NewGray(image.Rect(0, 0, 6001, 2)))
	tooLarge := f.upload("huge.png", huge.Bytes())
	gif := f.upload("anim.gif", []byte("GIF89a\x01\x00\x01\x00"))
	shot := objectShot(t)
	truncated := f.upload("cut.png", shot[:len(shot)/2])
	missing := f.s.URL() + "/storage/nothing-here.png?expires=1&sig=00"

	tests := []struct {
		name, source string
		extra        map[string]any
		wantCode     string
		wantMessage  string
	}{
		{"over 6000 px", tooLarge, nil, "input_too_large", "6001×2 pixels"},
		{"not an image format", gif, nil, "unsupported_input", "not a JPEG, PNG, WebP or TIFF"},
		{"truncated", truncated, nil, "input_unreadable", "could not be decoded"},
		{"fetch refused", missing, nil, "input_fetch_failed", "/storage/nothing-here.png (query removed): HTTP 403"},
	}
	for _, tc := range tests {
		st := f.finish(f.submit(rbBody(tc.source, tc.extra)))
		if st.Status != "failed" || len(st.ErrorDetails) != 1 {
			t.Errorf("%s: %+v, want failed with one error", tc.name, st)
			continue
		}
		d := st.ErrorDetails[0]
		if d.Code != tc.wantCode || !strings.Contains(d.Message, tc.wantMessage) || strings.Contains(d.Message, "sig=") {
			t.Errorf("%s: %s %q, want %s mentioning %q (and no signature)", tc.name, d.Code, d.Message, tc.wantCode, tc.wantMessage)
		}
		if st.Result != nil {
			t.Errorf("%s: a failed job has a result", tc.name)
		}
	}
	if st := f.s.Stats(); st.JobsFailed != len(tests) {
		t.Errorf("JobsFailed = %d, want %d", st.JobsFailed, len(tests))
	}
}

func TestResultExpiryAndJobRetention(t *testing.T) {
	f := start(t, Config{ResultTTL: time.Hour})
	src := f.upload("x.png", objectShot(t))
	sub := f.submit(rbBody(src, nil))
	f.waitProcessed(sub.JobID)
	f.clock.Advance(10 * time.Second)
	st := f.status(sub)
	u := st.Result.Outputs[0].Destination.URL
	if resp, _ := download(t, u); resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh result: %s", resp.Status)
	}
	if resp, body := download(t, strings.Replace(u, "sig=", "sig=0", 1)); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "SignatureDoesNotMatch") {
		t.Errorf("tampered result URL: %s %s, want 403 SignatureDoesNotMatch", resp.Status, body)
	}
	f.clock.Advance(time.Hour)
	if resp, _ := download(t, u); resp.StatusCode != http.StatusOK {
		t.Fatalf("result at exactly its expiry: %s, want 200", resp.Status)
	}
	f.clock.Advance(time.Second)
	resp, body := download(t, u)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<Code>AccessDenied</Code>") || !strings.Contains(string(body), "Request has expired") {
		t.Errorf("expired result: %s %s, want 403 AccessDenied Request has expired", resp.Status, body)
	}
	// Past its retention the job is forgotten (swept when work arrives).
	f.clock.Advance(time.Minute)
	f.submit(rbBody(src, nil))
	if resp, body := f.call(http.MethodGet, sub.StatusURL, nil); resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "unknown_job_id") {
		t.Errorf("expired job status: %s %s, want 404 unknown_job_id", resp.Status, body)
	}
}
