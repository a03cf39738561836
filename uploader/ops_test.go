package uploader

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"hotfolder/ratelimit"
)

// normalized returns step normalized in dir.
func normalized(t *testing.T, dir string, step Step) Step {
	t.Helper()
	r := Recipe{Steps: []Step{step}}
	if err := r.Normalize(dir); err != nil {
		t.Fatal(err)
	}
	return r.Steps[0]
}

// Posts counts a POST per step, on the step's bucket.
func TestPosts(t *testing.T) {
	got := Posts([]Step{{Op: OpRemoveBackground}, {Op: OpProductCrop}, {Op: OpComposite}, {Op: OpAutoCrop}})
	want := map[ratelimit.Bucket]int{ratelimit.RemoveBackgroundPost: 1, ratelimit.Post: 3}
	if !maps.Equal(got, want) {
		t.Errorf("Posts = %v, want %v", got, want)
	}
	if got := Posts(nil); len(got) != 0 {
		t.Errorf("Posts of no steps = %v", got)
	}
}

// Each operation is posted to its host and path, charged to its buckets,
// and polled on its host under its status bucket.
func TestSubmitRoutesAndBuckets(t *testing.T) {
	dir := t.TempDir()
	auxFiles(t, dir)
	tests := []struct {
		step      Step
		path      string
		imageHost bool
		post, get ratelimit.Bucket
		anyURL    bool
	}{
		{Step{Op: OpRemoveBackground}, "/v2/remove-background", true, ratelimit.RemoveBackgroundPost, ratelimit.RemoveBackgroundGet, false},
		{Step{Op: OpEdit}, "/v2/edit", false, ratelimit.Post, ratelimit.Get, true},
		{Step{Op: OpActions, Actions: &Actions{Actions: []Action{{File: "house.atn"}}}}, "/v2/execute-actions", false, ratelimit.Post, ratelimit.Get, true},
		{Step{Op: OpProductCrop}, "/v2/execute-actions", false, ratelimit.Post, ratelimit.Get, true},
		{Step{Op: OpComposite}, "/v2/create-composite", false, ratelimit.Post, ratelimit.Get, true},
		{Step{Op: OpManifest}, "/v2/generate-manifest", false, ratelimit.Post, ratelimit.Get, true},
		{Step{Op: OpAutoCrop}, "/v1/auto-crop", true, ratelimit.Post, ratelimit.Get, false},
	}
	for _, tc := range tests {
		t.Run(tc.step.Op, func(t *testing.T) {
			step := normalized(t, dir, tc.step)
			if post, get := step.Buckets(); post != tc.post || get != tc.get {
				t.Errorf("Buckets() = %s, %s; want %s, %s", post, get, tc.post, tc.get)
			}
			if step.AcceptsAnyURL() != tc.anyURL {
				t.Errorf("AcceptsAnyURL() = %v", !tc.anyURL)
			}
			e := newEnv(t, nil)
			host, other := e.ps, e.adobe
			if tc.imageHost {
				host, other = e.adobe, e.ps
			}
			host.on("POST "+tc.path, acceptedReply)
			job, err := e.c.Submit(context.Background(), step, source().URL)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(host.requests("POST " + tc.path)); n != 1 {
				t.Errorf("%d POSTs to %s on the operation's host", n, tc.path)
			}
			if n := len(other.requests("POST " + tc.path)); n != 0 {
				t.Errorf("%d POSTs on the other host", n)
			}
			for _, b := range ratelimit.Buckets() {
				want := 0
				if b == tc.post {
					want = 1
				}
				if got := e.limiter.Waits(b); got != want {
					t.Errorf("POST: %d waits on %s, want %d", got, b, want)
				}
			}
			if job.Op != step.Op || job.API != host.URL() || job.ID != jobID ||
				job.StatusURL != host.URL()+"/v2/status/"+url.PathEscape(jobID) {
				t.Errorf("job %+v", job)
			}
			var wantTypes []string
			for _, r := range step.Outputs {
				wantTypes = append(wantTypes, r.MediaType())
			}
			if step.Op == OpAutoCrop {
				wantTypes = []string{"image/jpeg"} // the input's, from its URL
			}
			if !slices.Equal(job.MediaTypes, wantTypes) {
				t.Errorf("job media types %v, want %v", job.MediaTypes, wantTypes)
			}
			status := `{"status":"succeeded","result":{"outputs":[{"destination":{"url":"https://r.example/o"},"mediaType":"` + wantTypes[0] + `"}]}}`
			if step.Op == OpAutoCrop {
				status = `{"status":"succeeded","result":{"outputs":[{"crops":[{"boundingBoxes":[{"x":0,"y":0,"width":1,"height":1,"url":"https://r.example/o"}]}],"subject":[],"objects":[]}]}}`
			}
			host.on("GET /v2/status/", reply{status: 200, body: status})
			outs, err := e.c.Wait(context.Background(), job)
			if err != nil || len(outs) != 1 || outs[0].URL != "https://r.example/o" {
				t.Fatalf("Wait = %+v, %v", outs, err)
			}
			if got := e.limiter.Waits(tc.get); got != 1 {
				t.Errorf("status: %d waits on %s, want 1", got, tc.get)
			}
			if n := len(other.requests("GET /v2/status/")); n != 0 {
				t.Errorf("%d status GETs on the other host", n)
			}
		})
	}
}

func TestSubmitRefusesBadSteps(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		step Step
		want string
	}{
		{Step{Op: "blur"}, `op: unknown operation "blur"`},
		{Step{Op: OpEdit}, "outputs: edit needs at least one"},
		{Step{Op: OpEdit, Outputs: []Rendition{{Format: "tiff"}}}, "edit cannot write tiff"},
		{Step{Op: OpEdit, Composite: &Composite{}, Outputs: []Rendition{{Format: "png"}}}, "the step is edit, but has options of composite"},
		{Step{Op: OpAutoCrop, Outputs: []Rendition{{Format: "png"}}}, "auto-crop takes no outputs"},
		{Step{Op: OpAutoCrop, AutoCrop: &AutoCrop{Mode: "subjectCrop"}}, "subjectCrop needs focus labels"},
		{Step{Op: OpActions, Outputs: []Rendition{{Format: "png"}}}, "actions: no action file given"},
	} {
		_, err := e.c.Submit(context.Background(), tc.step, source().URL)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "submit: ") {
			t.Errorf("%+v: error %v, want one with %q", tc.step, err, tc.want)
		}
	}
	if _, err := e.c.Submit(context.Background(), rbStep(), ""); err == nil {
		t.Error("no source: no error")
	}
}

// A status with 3 outputs gives 3 results in the request's order; media
// types the status leaves out come from the job.
func TestWaitReturnsEveryOutput(t *testing.T) {
	e := newEnv(t, nil)
	e.ps.on("GET /v2/status/", reply{status: 200, body: `{"status":"running"}`}, reply{status: 200, body: `{"jobId":"j","status":"succeeded","result":{"outputs":[
		{"destination":{"url":"https://r.example/1.jpg?sig=` + sigMarker + `"},"mediaType":"image/jpeg","quality":"maximum"},
		{"url":"https://r.example/2.jpg","mediaType":"image/jpeg","maxWidth":2048},
		{"destination":{"url":"https://r.example/3.png"}}]}}`})
	job := Job{ID: jobID, Op: OpComposite, Submitted: e.clock.Now(), MediaTypes: []string{"image/jpeg", "image/jpeg", "image/png"}}
	outs, err := e.c.Wait(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{{URL: "https://r.example/1.jpg?sig=" + sigMarker, MediaType: "image/jpeg"}, {URL: "https://r.example/2.jpg", MediaType: "image/jpeg"},
		{URL: "https://r.example/3.png", MediaType: "image/png"}}
	if len(outs) != 3 {
		t.Fatalf("outputs %+v", outs)
	}
	for i := range want {
		if outs[i].URL != want[i].URL || outs[i].MediaType != want[i].MediaType || outs[i].Content != nil {
			t.Errorf("output %d: %+v, want %+v", i, outs[i], want[i])
		}
	}
	if n := e.limiter.Waits(ratelimit.Get); n != 2 {
		t.Errorf("%d waits on the general GET bucket, want 2", n)
	}

	// Fewer outputs than requested, or one without a URL: failed, not
	// resubmitted.
	for name, body := range map[string]string{
		"two of three": `{"status":"succeeded","result":{"outputs":[{"destination":{"url":"https://r.example/1"}},{"destination":{"url":"https://r.example/2"}}]}}`,
		"no URL":       `{"status":"succeeded","result":{"outputs":[{"destination":{"url":"https://r.example/1"}},{"destination":{"creativeCloudPath":"x"}},{"url":"ftp://r.example/3"}]}}`,
		"none":         `{"status":"succeeded","result":{}}`,
	} {
		e := newEnv(t, nil)
		e.ps.on("GET /v2/status/", reply{status: 200, body: body})
		_, err := e.c.Wait(context.Background(), job)
		var jf *JobFailedError
		if !errors.As(err, &jf) || jf.Code != "no_output" || IsFatal(err) {
			t.Errorf("%s: %v, want a no_output *JobFailedError", name, err)
		}
	}
}

// Embedded outputs come back with their content, and downloading one sends
// no request.
func TestWaitEmbeddedOutputs(t *testing.T) {
	e := newEnv(t, nil)
	manifest := `{"document":{"name":"a.psd","width":10},"layers":[{"id":1,"name":"L"}]}`
	e.ps.on("GET /v2/status/", reply{status: 200, body: `{"status":"succeeded","result":{"outputs":[
		{"destination":{"embedded":"json","content":` + manifest + `},"mediaType":"application/json"},
		{"destination":{"embedded":"string","content":"<x:xmpmeta/>"},"mediaType":"application/rdf+xml"},
		{"destination":{"embedded":"base64","content":"` + base64.StdEncoding.EncodeToString([]byte("\x00binary\xff")) + `"}},
		{"destination":{"embedded":"json","content":"{\"as\":\"text\"}"}},
		{"destination":{"embedded":"string","content":""},"mediaType":"application/rdf+xml"}]}}`})
	job := Job{ID: jobID, Op: OpManifest, Submitted: e.clock.Now()}
	outs, err := e.c.Wait(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{{MediaType: "application/json", Content: []byte(manifest)}, {MediaType: "application/rdf+xml", Content: []byte("<x:xmpmeta/>")},
		{Content: []byte("\x00binary\xff")}, {Content: []byte(`{"as":"text"}`)}, {MediaType: "application/rdf+xml", Content: []byte{}}}
	if len(outs) != len(want) {
		t.Fatalf("outputs %+v", outs)
	}
	for i, w := range want {
		if outs[i].URL != "" || outs[i].MediaType != w.MediaType || string(outs[i].Content) != string(w.Content) || outs[i].Content == nil {
			t.Errorf("output %d: %+v, want %+v", i, outs[i], w)
		}
		var buf seekBuffer
		n, err := e.c.Download(context.Background(), outs[i], &buf)
		if err != nil || n != int64(len(w.Content)) || string(buf.b) != string(w.Content) {
			t.Errorf("download %d: %d, %v, %q", i, n, err, buf.b)
		}
	}
	if n := len(e.adobe.requests("GET /hosted/")) + len(e.ps.requests("GET /hosted/")); n != 0 {
		t.Errorf("downloading embedded outputs sent %d requests", n)
	}

	// Base64 that does not decode is a failed job.
	e = newEnv(t, nil)
	e.ps.on("GET /v2/status/", reply{status: 200, body: `{"status":"succeeded","result":{"outputs":[{"destination":{"embedded":"base64","content":"!!"}}]}}`})
	var jf *JobFailedError
	if _, err := e.c.Wait(context.Background(), job); !errors.As(err, &jf) || !strings.Contains(jf.Message, "base64") {
		t.Errorf("bad base64: %v", err)
	}
}

// An auto-crop status gives one result per crop, in the order of the
// aspect ratios, wherever the AutoCropOutput sits.
func TestWaitAutoCrop(t *testing.T) {
	crops := `"crops":[
		{"boundingBoxes":[{"x":0,"y":0,"width":100,"height":100,"url":"https://r.example/1x1.jpg"}]},
		{"boundingBoxes":[{"x":0,"y":0,"width":80,"height":100,"url":"https://r.example/4x5.jpg"}]},
		{"boundingBoxes":[{"x":0,"y":10,"width":160,"height":90,"url":"https://r.example/16x9.jpg"}]}],
		"subject":[{"boundingBoxes":[{"x":1,"y":1,"width":5,"height":5}]}],"objects":[]`
	for name, body := range map[string]string{
		"in result.outputs[]": `{"status":"succeeded","result":{"outputs":[{` + crops + `}]}}`,
		"in result":           `{"status":"succeeded","result":{` + crops + `}}`,
		"as result.outputs":   `{"status":"succeeded","result":{"outputs":{` + crops + `}}}`,
	} {
		e := newEnv(t, nil)
		e.adobe.on("GET /v2/status/", reply{status: 200, body: body})
		outs, err := e.c.Wait(context.Background(), Job{ID: jobID, Op: OpAutoCrop, Submitted: e.clock.Now(), MediaTypes: []string{"image/jpeg"}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var urls []string
		for _, o := range outs {
			urls = append(urls, o.URL)
			if o.MediaType != "image/jpeg" {
				t.Errorf("%s: media type %q", name, o.MediaType)
			}
		}
		if want := []string{"https://r.example/1x1.jpg", "https://r.example/4x5.jpg", "https://r.example/16x9.jpg"}; !slices.Equal(urls, want) {
			t.Errorf("%s: %v, want %v", name, urls, want)
		}
		if n := e.limiter.Waits(ratelimit.Get); n != 1 {
			t.Errorf("%s: %d waits on the general GET bucket", name, n)
		}
	}
	// Detection modes: the subject's and objects' images.
	e := newEnv(t, nil)
	e.adobe.on("GET /v2/status/", reply{status: 200, body: `{"status":"succeeded","result":{"outputs":[{"crops":[],
		"subject":[{"boundingBoxes":[{"x":0,"y":0,"width":1,"height":1,"url":"https://r.example/s.png"}]}],
		"objects":[{"objectName":"shoe","confidence":0.9,"boundingBoxes":[{"x":0,"y":0,"width":1,"height":1,"url":"https://r.example/o.png"}]}]}]}}`})
	outs, err := e.c.Wait(context.Background(), Job{ID: jobID, Op: OpAutoCrop, Submitted: e.clock.Now()})
	if err != nil || len(outs) != 2 || outs[0].URL != "https://r.example/s.png" || outs[1].URL != "https://r.example/o.png" {
		t.Errorf("detection: %+v, %v", outs, err)
	}
	// No image at all: failed.
	e = newEnv(t, nil)
	e.adobe.on("GET /v2/status/", reply{status: 200, body: `{"status":"succeeded","result":{"outputs":[{"crops":[{"boundingBoxes":[{"x":0,"y":0,"width":1,"height":1}]}],"subject":[],"objects":[]}]}}`})
	var jf *JobFailedError
	if _, err := e.c.Wait(context.Background(), Job{ID: jobID, Op: OpAutoCrop, Submitted: e.clock.Now()}); !errors.As(err, &jf) || jf.Code != "no_output" {
		t.Errorf("no crops: %v", err)
	}
}

// Auxiliary files are uploaded once per content, presigned again when
// their URL would expire too soon, and deleted at Close.
func TestAuxUploads(t *testing.T) {
	dir := t.TempDir()
	auxFiles(t, dir)
	writeFile(t, dir, "same-logo.png", mustRead(t, filepath.Join(dir, "logo.png")))
	e := newEnv(t, func(c *Config) { c.JobTimeout = 10 * time.Minute })
	e.ps.on("POST /v2/create-composite", acceptedReply)
	e.ps.on("POST /v2/execute-actions", acceptedReply)
	ctx := context.Background()
	r := Recipe{Steps: []Step{
		{Op: OpComposite, Composite: &Composite{Watermark: "logo.png"}},
		{Op: OpComposite, Composite: &Composite{Watermark: "same-logo.png"}},
	}}
	if err := r.Normalize(dir); err != nil {
		t.Fatal(err)
	}
	watermark := func() string {
		reqs := e.ps.requests("POST /v2/create-composite")
		var b struct {
			Edits struct {
				Layers []layerBody `json:"layers"`
			} `json:"edits"`
		}
		if err := json.Unmarshal(reqs[len(reqs)-1].body, &b); err != nil || len(b.Edits.Layers) != 1 {
			t.Fatalf("body %s: %v", reqs[len(reqs)-1].body, err)
		}
		return b.Edits.Layers[0].Image.Source.URL
	}
	for _, s := range r.Steps {
		if _, err := e.c.Submit(ctx, s, source().URL); err != nil {
			t.Fatal(err)
		}
	}
	puts := e.storage.Puts()
	if len(puts) != 1 || !strings.HasSuffix(puts[0], "/logo.png") || !strings.HasPrefix(puts[0], "hotfolder/") {
		t.Fatalf("puts %v, want the logo once for both paths", puts)
	}
	first := watermark()
	if !strings.Contains(first, puts[0]) || string(e.storage.objects[puts[0]]) != string(mustRead(t, filepath.Join(dir, "logo.png"))) {
		t.Errorf("watermark URL %s for key %s", first, puts[0])
	}
	if p := e.storage.Presigns(); len(p) != 1 || p[0].ttl != 10*time.Minute+time.Hour {
		t.Errorf("presigns %+v, want one for JobTimeout+1h", p)
	}

	// Until the URL would expire within a job's time, it is reused…
	e.clock.Advance(59 * time.Minute)
	if _, err := e.c.Submit(ctx, r.Steps[0], source().URL); err != nil {
		t.Fatal(err)
	}
	if len(e.storage.Presigns()) != 1 || len(e.storage.Puts()) != 1 {
		t.Errorf("presigned or uploaded again with 11 minutes left")
	}
	// …then presigned again, not uploaded again.
	e.clock.Advance(2 * time.Minute)
	if _, err := e.c.Submit(ctx, r.Steps[0], source().URL); err != nil {
		t.Fatal(err)
	}
	if p := e.storage.Presigns(); len(p) != 2 || p[1].key != puts[0] || len(e.storage.Puts()) != 1 {
		t.Errorf("presigns %+v, puts %v: want one more presign of the same key", p, e.storage.Puts())
	}

	// New content is uploaded again; the old stays for jobs that use it.
	writeFile(t, dir, "logo.png", encode(t, pngEnc, 9, 9))
	if _, err := e.c.Submit(ctx, r.Steps[0], source().URL); err != nil {
		t.Fatal(err)
	}
	if puts := e.storage.Puts(); len(puts) != 2 || watermark() == first {
		t.Errorf("puts %v after the logo changed", puts)
	}
	// The other path still has the old content: its upload is reused.
	if _, err := e.c.Submit(ctx, r.Steps[1], source().URL); err != nil {
		t.Fatal(err)
	}
	if puts := e.storage.Puts(); len(puts) != 2 {
		t.Errorf("puts %v, want the old content's upload reused", puts)
	}

	// An inline ActionJSON is not uploaded; an .atn is, once.
	act := normalized(t, dir, Step{Op: OpActions, Actions: &Actions{Actions: []Action{{File: "tweak.json"}, {File: "house.atn"}, {File: "house.atn", Action: "Other"}}}})
	if _, err := e.c.Submit(ctx, act, source().URL); err != nil {
		t.Fatal(err)
	}
	if puts := e.storage.Puts(); len(puts) != 3 || !strings.HasSuffix(puts[2], "/house.atn") {
		t.Errorf("puts %v, want house.atn once more", puts)
	}
	// ActionJSON broken after the recipe was checked fails the submit,
	// before any POST.
	posts := len(e.ps.requests("POST /v2/execute-actions"))
	good, _ := os.ReadFile(filepath.Join(dir, "tweak.json"))
	writeFile(t, dir, "tweak.json", []byte("[{broken"))
	if _, err := e.c.Submit(ctx, act, source().URL); err == nil || !strings.Contains(err.Error(), "not ActionJSON") {
		t.Errorf("submit with broken ActionJSON: %v, want not ActionJSON", err)
	}
	if n := len(e.ps.requests("POST /v2/execute-actions")); n != posts {
		t.Errorf("%d POSTs for a broken ActionJSON", n-posts)
	}
	writeFile(t, dir, "tweak.json", good)

	// Close deletes every auxiliary upload, and nothing else.
	e.storage.Put(ctx, "hotfolder/input/a.jpg", strings.NewReader("x"), 1, "image/jpeg")
	if err := e.c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(slices.Values(e.storage.deleted)); !slices.Equal(got, slices.Sorted(slices.Values(e.storage.Puts()[:3]))) {
		t.Errorf("deleted %v", got)
	}
	if _, ok := e.storage.objects["hotfolder/input/a.jpg"]; !ok {
		t.Error("Close deleted an input")
	}
	// The Client can go on: the files are uploaded again.
	if _, err := e.c.Submit(ctx, r.Steps[0], source().URL); err != nil {
		t.Fatal(err)
	}
	if n := len(e.storage.Puts()); n != 5 {
		t.Errorf("%d puts, want the watermark uploaded again after Close", n)
	}

	// KeepUploads keeps them.
	k := newEnv(t, func(c *Config) { c.KeepUploads = true })
	k.ps.on("POST /v2/create-composite", acceptedReply)
	if _, err := k.c.Submit(ctx, r.Steps[0], source().URL); err != nil {
		t.Fatal(err)
	}
	if err := k.c.Close(ctx); err != nil || len(k.storage.deleted) != 0 {
		t.Errorf("KeepUploads: deleted %v, %v", k.storage.deleted, err)
	}
}

// Concurrent submits of one file upload it once.
func TestAuxUploadOnceConcurrently(t *testing.T) {
	dir := t.TempDir()
	auxFiles(t, dir)
	e := newEnv(t, nil)
	e.ps.on("POST /v2/create-composite", acceptedReply)
	s := normalized(t, dir, Step{Op: OpComposite, Composite: &Composite{Watermark: "logo.png", ICC: &ICCProfile{Name: "House", File: "profile.icc"}}})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := e.c.Submit(context.Background(), s, source().URL)
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if puts := e.storage.Puts(); len(puts) != 2 {
		t.Errorf("puts %v, want the logo and the profile once each", puts)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tiffWithTag is a minimal little-endian TIFF whose only directory entry
// is tag (a 4-byte BYTE value).
func tiffWithTag(tag uint16) []byte {
	b := []byte("II*\x00")
	b = binary.LittleEndian.AppendUint32(b, 8)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, tag)
	b = binary.LittleEndian.AppendUint16(b, 1) // BYTE
	b = binary.LittleEndian.AppendUint32(b, 4)
	b = append(b, 1, 4, 0, 0)
	return binary.LittleEndian.AppendUint32(b, 0)
}

// psdFile is a w×h 8-bit RGB PSD with uncompressed image data, cut to
// keep bytes when keep > 0.
func psdFile(w, h int, keep int) []byte {
	be := binary.BigEndian
	b := []byte("8BPS")
	b = be.AppendUint16(b, 1)
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = be.AppendUint16(b, 3) // channels
	b = be.AppendUint32(b, uint32(h))
	b = be.AppendUint32(b, uint32(w))
	b = be.AppendUint16(b, 8)
	b = be.AppendUint16(b, 3)             // RGB
	b = be.AppendUint32(b, 0)             // colour mode data
	b = be.AppendUint32(b, 4)             // image resources
	b = append(b, "8BIM"...)              //
	b = be.AppendUint32(b, 0)             // layers and masks
	b = be.AppendUint16(b, 0)             // raw
	b = append(b, make([]byte, 3*w*h)...) // the pixels
	if keep > 0 {
		b = b[:keep]
	}
	return b
}

func TestCheckPerOperation(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, nil)
	tiff := encode(t, tiffEnc, 20, 10)
	tests := []struct {
		op, name string
		data     []byte
		format   string // accepted: Image.Format; "" rejected
		reason   string // rejected: a phrase of the reason
	}{
		{OpEdit, "raw.dng", tiff, "dng", ""},
		{OpEdit, "raw.tif", tiffWithTag(tiffDNGVersion), "dng", ""},
		{OpEdit, "scan.tif", tiff, "tiff", ""},
		{OpEdit, "camera.cr3", []byte("\x00\x00\x00\x18ftypcrx "), "raw", ""},
		{OpEdit, "camera.nef", tiffWithTag(271), "raw", ""},
		{OpEdit, "comp.psd", psdFile(8, 6, 0), "psd", ""},
		{OpEdit, "web.webp", webpVP8L(12, 8), "webp", ""},
		{OpEdit, "anim.gif", encode(t, gifEnc, 4, 4), "", "not an image edit accepts: the content looks like image/gif"},
		{OpRemoveBackground, "comp.psd", psdFile(8, 6, 0), "", "not an image remove background accepts: the content looks like a PSD"},
		{OpRemoveBackground, "raw.dng", tiffWithTag(tiffDNGVersion), "", "cannot read the TIFF header"},
		{OpAutoCrop, "scan.tif", tiff, "", "not an image auto-crop accepts: the content looks like a TIFF"},
		{OpAutoCrop, "photo.jpg", encode(t, jpegEnc, 16, 16), "jpeg", ""},
		{OpComposite, "comp.psd", psdFile(8, 6, 0), "psd", ""},
		{OpComposite, "raw.dng", tiffWithTag(tiffDNGVersion), "", "cannot read the TIFF header"},
		{OpComposite, "camera.cr3", []byte("\x00\x00\x00\x18ftypcrx "), "", "not an image composite accepts"},
		{OpActions, "cut.psd", psdFile(40, 30, 2000), "", "the PSD is cut short: its image data runs past the end of the file"},
		{OpManifest, "bad.psd", append([]byte("8BPS\x00\x07"), make([]byte, 40)...), "", "cannot read the PSD header: unknown version 7"},
		{OpProductCrop, "big.png", blankPNG(7000, 10), "png", ""}, // no 6000 px limit
		{OpRemoveBackground, "big.png", blankPNG(7000, 10), "", "7000×10 px is larger than remove background accepts"},
	}
	for _, tc := range tests {
		t.Run(tc.op+" "+tc.name, func(t *testing.T) {
			p := writeFile(t, dir, tc.name, tc.data)
			img, err := ValidateStep(context.Background(), Step{Op: tc.op}, p)
			if cerr := e.c.Check(context.Background(), Step{Op: tc.op}, p); (cerr == nil) != (err == nil) {
				t.Errorf("Check %v, ValidateStep %v", cerr, err)
			}
			if tc.format != "" {
				if err != nil || img.Format != tc.format || img.Size != int64(len(tc.data)) {
					t.Errorf("image %+v, %v; want format %s", img, err, tc.format)
				}
				return
			}
			var rej *RejectedError
			if !errors.As(err, &rej) || !strings.Contains(rej.Reason, tc.reason) || rej.Hint() == "" || IsFatal(err) {
				t.Errorf("error %v, want a *RejectedError saying %q", err, tc.reason)
			}
		})
	}
	// The client-less check agrees.
	if err := CheckInput(context.Background(), Step{Op: OpAutoCrop}, filepath.Join(dir, "scan.tif")); err == nil {
		t.Error("CheckInput: auto-crop accepts a TIFF")
	}
	// Remove background still refuses a PSD.
	p := writeFile(t, dir, "c.psd", psdFile(8, 6, 0))
	if _, err := ValidateStep(context.Background(), rbStep(), p); err == nil {
		t.Error("remove background's check accepts a PSD")
	}
	if img, err := ValidateStep(context.Background(), Step{Op: OpComposite}, p); err != nil || img.Width != 8 || img.Height != 6 ||
		img.ContentType != "image/vnd.adobe.photoshop" {
		t.Errorf("PSD: %+v, %v", img, err)
	}
	if _, err := ValidateStep(context.Background(), Step{Op: "blur"}, p); err == nil {
		t.Error("an unknown op checks")
	}
}

// Files over 5 GB are refused without being read.
func TestCheckFileSizeLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "huge.png")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(blankPNG(10, 10))
	if err := f.Truncate(MaxFileSize + 1); err != nil { // sparse
		t.Skipf("no sparse file: %v", err)
	}
	f.Close()
	for _, op := range Ops() {
		_, err := ValidateStep(context.Background(), Step{Op: op}, p)
		var rej *RejectedError
		if !errors.As(err, &rej) || !strings.Contains(rej.Reason, "more than Adobe accepts (5 GB)") {
			t.Errorf("%s: %v", op, err)
		}
	}
	// Exactly 5 GB is accepted (a PNG's scan ends at IEND, whatever
	// follows), and a refused one is not read.
	r := &countingReaderAt{r: sparseReader{head: blankPNG(10, 10)}}
	if _, rej := inspectFor(OpComposite, "x.png", r, MaxFileSize); rej != nil || r.n.Load() > 1<<20 {
		t.Errorf("5 GB exactly: %v, read %d bytes", rej, r.n.Load())
	}
	r = &countingReaderAt{r: sparseReader{head: blankPNG(10, 10)}}
	if _, rej := inspectFor(OpComposite, "x.png", r, MaxFileSize+1); rej == nil || r.calls.Load() != 0 {
		t.Errorf("5 GB and a byte: %v, %d reads", rej, r.calls.Load())
	}
}

// sparseReader reads head, then zeros.
type sparseReader struct{ head []byte }

func (s sparseReader) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	if off < int64(len(s.head)) {
		copy(p, s.head[off:])
	}
	return len(p), nil
}

// The hints of a refused submit name the right flag and cause for each
// host.
func TestSubmitHintsPerHost(t *testing.T) {
	for _, tc := range []struct {
		url      string
		status   int
		has, not string
	}{
		{"https://image.adobe.io/v2/remove-background", 404, "-image-api-url", "-photoshop-api-url"},
		{"https://image.adobe.io/v1/auto-crop", 404, "-image-api-url", "-photoshop-api-url"},
		{"https://photoshop-api.adobe.io/v2/edit", 404, "-photoshop-api-url", "-image-api-url"},
		{"https://image.adobe.io/v2/remove-background", 422, "allow-list", "recipe"},
		{"https://image.adobe.io/v1/auto-crop", 422, "allow-list", "recipe"},
		{"https://photoshop-api.adobe.io/v2/create-composite", 422, "recipe", "allow-list"},
		{"https://image.adobe.io/v2/remove-background", 400, "-mode", "recipe"},
		{"https://photoshop-api.adobe.io/v2/execute-actions", 400, "recipe", "-mode"},
	} {
		e := &APIError{Op: opSubmit, StatusCode: tc.status, URL: tc.url}
		if h := e.Hint(); !strings.Contains(h, tc.has) || strings.Contains(h, tc.not) {
			t.Errorf("%d from %s: hint %q, want %q and not %q", tc.status, tc.url, h, tc.has, tc.not)
		}
	}
}

func TestAutoCropRatios(t *testing.T) {
	for _, tc := range []struct {
		a    *AutoCrop
		want []string
	}{
		{nil, []string{"1:1"}},
		{&AutoCrop{}, []string{"1:1"}},
		{&AutoCrop{Mode: "subjectCrop", AspectRatio: []string{"4:5", "16:9"}}, []string{"4:5", "16:9"}},
		{&AutoCrop{Mode: "objectDetection"}, nil},
	} {
		if got := tc.a.Ratios(); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.a, got, tc.want)
		}
	}
}

// submitted submits step (normalized in dir) and returns the body sent.
func submitted(t *testing.T, e *testEnv, dir string, step Step) map[string]any {
	t.Helper()
	step = normalized(t, dir, step)
	host := e.ps
	if onImageHost(step.Op) {
		host = e.adobe
	}
	route := "POST " + endpoint(step.Op)
	host.on(route, acceptedReply)
	if _, err := e.c.Submit(context.Background(), step, "https://bucket.s3.amazonaws.com/k/in.png"); err != nil {
		t.Fatal(err)
	}
	reqs := host.requests(route)
	var body map[string]any
	if err := json.Unmarshal(reqs[len(reqs)-1].body, &body); err != nil {
		t.Fatal(err)
	}
	return body
}

// at reads a value of a decoded body by its path: "outputs.0.quality".
func at(v any, p string) any {
	for _, k := range strings.Split(p, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i := 0
			for _, c := range k {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// The choices photoshop-v2-ops.md leaves to the client, in the bodies.
func TestRequestBodyChoices(t *testing.T) {
	dir := t.TempDir()
	auxFiles(t, dir)
	jpeg := []Rendition{{Format: "jpeg"}, {Format: "jpeg", Quality: "low"}, {Format: "png"}}
	e := newEnv(t, func(c *Config) { c.ResultValidity = 2 * time.Hour })
	for _, tc := range []struct {
		name string
		step Step
		want map[string]any // path → value; nil: absent
	}{
		{"execute-actions JPEG asks for photoshop_max", Step{Op: OpActions, Actions: &Actions{Actions: []Action{{File: "house.atn"}}}, Outputs: jpeg},
			map[string]any{"outputs.0.quality": "photoshop_max", "outputs.1.quality": "low", "outputs.2.quality": nil,
				"outputs.0.destination.validityPeriod": 7200.0, "outputs.2.destination.validityPeriod": 7200.0}},
		{"product-crop too", Step{Op: OpProductCrop, Outputs: jpeg}, map[string]any{"outputs.0.quality": "photoshop_max", "outputs.1.quality": "low"}},
		{"composite and edit leave it to Adobe", Step{Op: OpComposite, Outputs: jpeg}, map[string]any{"outputs.0.quality": nil}},
		{"edit", Step{Op: OpEdit, Outputs: []Rendition{{Format: "jpeg"}, {Format: "xmp"}}},
			map[string]any{"outputs.0.quality": nil, "outputs.1.mediaType": "application/rdf+xml", "outputs.1.destination.validityPeriod": 7200.0, "edits": nil}},
		{"manifest embedded as JSON", Step{Op: OpManifest},
			map[string]any{"outputs.0.destination.embedded": "json", "outputs.0.destination.validityPeriod": nil, "outputs.0.mediaType": "application/json"}},
		{"small ActionJSON inline, big by URL, .atn by URL", Step{Op: OpActions, Actions: &Actions{Actions: []Action{{File: "one.json"}, {File: "big.json"}, {File: "house.atn", Action: "A"}}}},
			map[string]any{"options.actions.0.source.content": `[{"_obj":"brightnessEvent","brightness":20}]`,
				"options.actions.0.source.contentType": "application/json", "options.actions.0.source.url": nil,
				"options.actions.1.source.content": nil, "options.actions.2.actionName": "A"}},
		{"ICC on every output, watermark on top", Step{Op: OpComposite, Composite: &Composite{Watermark: "logo.png", Trim: true,
			ICC: &ICCProfile{Name: "Gray Gamma 2.2", ImageMode: "grayscale"}}, Outputs: jpeg},
			map[string]any{"outputs.0.iccProfile.name": "Gray Gamma 2.2", "outputs.2.iccProfile.type": "standard", "outputs.2.iccProfile.imageMode": "grayscale",
				"edits.layers.0.type": "layer", "edits.layers.0.operation.type": "add", "edits.layers.0.operation.placement.type": "top",
				"edits.document.trim.trimUpon": "transparent_pixels", "edits.document.resize": nil}},
		{"resize sends its defaults", Step{Op: OpComposite, Composite: &Composite{Resize: &Resize{Height: &Dimension{Value: 30, Percent: true}}}},
			map[string]any{"edits.document.resize.height.unit": "percent_unit", "edits.document.resize.height.value": 30.0,
				"edits.document.resize.resample": "bicubic", "edits.document.resize.constrainProportions": true, "edits.document.resize.width": nil}},
		{"auto-crop: arrays, images, the input's type", Step{Op: OpAutoCrop, AutoCrop: &AutoCrop{AspectRatio: []string{"4:5"}, Zoom: []float64{0.8}}},
			map[string]any{"aspectRatio.0": "4:5", "zoom.0": 0.8, "mode": "smartCrop", "outputType": "images", "image.mediaType": "image/png", "outputs": nil}},
		{"remove background: its one output", Step{Op: OpRemoveBackground, Outputs: []Rendition{{Format: "webp"}}},
			map[string]any{"output.mediaType": "image/webp", "outputs": nil}},
	} {
		body := submitted(t, e, dir, tc.step)
		for p, want := range tc.want {
			if got := at(body, p); !reflectEqual(got, want) {
				b, _ := json.Marshal(body)
				t.Errorf("%s: %s = %v, want %v\n%s", tc.name, p, got, want, b)
			}
		}
	}
}

func reflectEqual(a, b any) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return string(ab) == string(bb)
}
