package emulator

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// obj is a JSON object in a test request.
type obj = map[string]any

// arr is a JSON array in a test request.
type arr = []any

// src is an image source reference.
func src(u string) obj { return obj{"source": obj{"url": u}} }

// submitTo posts body to an operation's path; it must be accepted, and
// the 202 answer must match the spec's JobAcceptedResponse.
func (f *fixture) submitTo(path string, body any) submitted {
	f.t.Helper()
	resp, b := f.call(http.MethodPost, path, body)
	if resp.StatusCode != http.StatusAccepted {
		f.t.Fatalf("POST %s: %s %s", path, resp.Status, b)
	}
	checkSchema(f.t, "JobAcceptedResponse", b)
	var sub submitted
	if err := json.Unmarshal(b, &sub); err != nil {
		f.t.Fatal(err)
	}
	return sub
}

// refuse posts body to path; it must be refused with 400 validation_error
// (an ErrorResponse) whose errors name each of mentions.
func (f *fixture) refuse(path string, body any, mentions ...string) {
	f.t.Helper()
	resp, b := f.call(http.MethodPost, path, body)
	if resp.StatusCode != http.StatusBadRequest {
		f.t.Errorf("POST %s: %s %s, want 400", path, resp.Status, b)
		return
	}
	checkSchema(f.t, "ErrorResponse", b)
	var e apiError
	if err := json.Unmarshal(b, &e); err != nil || e.Code != "validation_error" || len(e.Errors) == 0 {
		f.t.Errorf("POST %s: %s, want validation_error with errors", path, b)
		return
	}
	for _, m := range mentions {
		found := false
		for _, d := range e.Errors {
			found = found || strings.Contains(d.Message, m)
		}
		if !found {
			f.t.Errorf("POST %s: errors %+v, want one mentioning %q", path, e.Errors, m)
		}
	}
}

// statusJSON finishes a job (waits for its processing, moves the clock
// past its latency) and returns its status answer, checked against the
// spec's JobStatusResponse, decoded as JSON.
func (f *fixture) statusJSON(sub submitted) map[string]any {
	f.t.Helper()
	f.waitProcessed(sub.JobID)
	f.clock.Advance(time.Hour)
	defer f.clock.Advance(-time.Hour)
	resp, b := f.call(http.MethodGet, sub.StatusURL, nil)
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("status: %s %s", resp.Status, b)
	}
	checkSchema(f.t, "JobStatusResponse", b)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		f.t.Fatal(err)
	}
	return m
}

// succeeded finishes a job that must succeed and returns its outputs.
func (f *fixture) succeeded(sub submitted) []obj {
	f.t.Helper()
	st := f.statusJSON(sub)
	if st["status"] != "succeeded" {
		f.t.Fatalf("job %s: %v, want succeeded", sub.JobID, st)
	}
	res, _ := st["result"].(obj)
	list, _ := res["outputs"].(arr)
	var outs []obj
	for _, o := range list {
		outs = append(outs, o.(obj))
	}
	return outs
}

// failed finishes a job that must fail and returns its one error.
func (f *fixture) failed(sub submitted) (code, message string) {
	f.t.Helper()
	st := f.statusJSON(sub)
	details, _ := st["errorDetails"].(arr)
	if st["status"] != "failed" || len(details) != 1 || st["result"] != nil {
		f.t.Fatalf("job %s: %v, want failed with one error and no result", sub.JobID, st)
	}
	d := details[0].(obj)
	return d["errorCode"].(string), d["message"].(string)
}

// checkSchema validates a JSON answer against a component schema of the
// spec as the emulator loads it.
func checkSchema(t *testing.T, name string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v: %s", name, err, body)
	}
	if err := componentSchema(specs().current, name).VisitJSON(v, openapi3.MultiErrors()); err != nil {
		t.Errorf("%s does not match the spec: %v\n%s", name, err, body)
	}
}

// hostedBytes downloads a hosted output.
func hostedBytes(t *testing.T, out obj) []byte {
	t.Helper()
	d := out["destination"].(obj)
	u, _ := d["url"].(string)
	resp, b := download(t, u)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download %s: %s %s", u, resp.Status, b)
	}
	return b
}

// decodeAs decodes an image in a media type, failing the test when it
// is not one.
func decodeAs(t *testing.T, mediaType string, b []byte) image.Image {
	t.Helper()
	var img image.Image
	var err error
	switch mediaType {
	case mediaJPEG:
		img, err = jpeg.Decode(bytes.NewReader(b))
	case mediaPNG:
		img, err = png.Decode(bytes.NewReader(b))
	case mediaTIFF:
		img, err = tiff.Decode(bytes.NewReader(b))
	case mediaWebP:
		img, err = webp.Decode(bytes.NewReader(b))
	case mediaPSD:
		if !bytes.HasPrefix(b, []byte("8BPS\x00\x01")) {
			t.Fatalf("not a PSD: % x", b[:min(len(b), 8)])
		}
		img, err = decodePSD(bytes.NewReader(b), 0)
	default:
		t.Fatalf("no decoder for %s", mediaType)
	}
	if err != nil {
		t.Fatalf("%s: %v", mediaType, err)
	}
	return img
}

// sink is an httptest server that takes presigned PUTs and keeps them.
type sink struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	types map[string]string
}

func newSink(t *testing.T) *sink {
	k := &sink{files: make(map[string][]byte), types: make(map[string]string)}
	k.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			http.Error(w, "PUT only", http.StatusMethodNotAllowed)
			return
		}
		b, _ := io.ReadAll(r.Body)
		k.mu.Lock()
		k.files[r.URL.Path] = b
		k.types[r.URL.Path] = r.Header.Get("Content-Type")
		k.mu.Unlock()
	}))
	t.Cleanup(k.Close)
	return k
}

// url is a presigned-looking PUT URL for name.
func (k *sink) url(name string) string { return k.URL + "/" + name + "?X-Amz-Signature=put" }

func (k *sink) get(t *testing.T, name string) ([]byte, string) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	b, ok := k.files["/"+name]
	if !ok {
		t.Fatalf("nothing was PUT to %s", name)
	}
	return b, k.types["/"+name]
}

// encodeTest encodes img in a media type for an upload.
func encodeTest(t *testing.T, img image.Image, mediaType string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := encodeImage(&b, img, mediaType, "maximum", ""); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// shotImage is objectShot's image: a blue square (40..80 × 25..65) on a
// light grey 120×90 backdrop.
func shotImage() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, 120, 90))
	for y := range 90 {
		for x := range 120 {
			c := color.NRGBA{235, 235, 235, 255}
			if x >= 40 && x < 80 && y >= 25 && y < 65 {
				c = color.NRGBA{20, 60, 200, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// floating is a 120×90 image, transparent but for an opaque orange block
// at 30..70 × 20..50.
func floating() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, 120, 90))
	for y := 20; y < 50; y++ {
		for x := 30; x < 70; x++ {
			img.SetNRGBA(x, y, color.NRGBA{240, 120, 20, 255})
		}
	}
	return img
}

// solid is a w×h image of one colour.
func solid(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// at returns the colour of img at (x, y).
func at(img image.Image, x, y int) color.NRGBA {
	b := img.Bounds()
	return color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
}

func near(a, b color.NRGBA, tol int) bool {
	return diff(a.R, b.R) <= tol && diff(a.G, b.G) <= tol && diff(a.B, b.B) <= tol && diff(a.A, b.A) <= tol
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// componentSchema returns #/components/schemas/name of doc.
func componentSchema(doc *openapi3.T, name string) *openapi3.Schema {
	ref := doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		panic("emulator: the spec has no schema " + name)
	}
	return ref.Value
}
