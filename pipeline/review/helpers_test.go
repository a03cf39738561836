package review

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"hotfolder/pipeline"
	"hotfolder/pipeline/journal"
)

// hostile is a file name that is markup: the page must show it as text.
const hostile = `<img src=x onerror=alert(1)>.jpg`

// fixture is a night: input and output folders and a state folder whose
// journal has records of every kind.
type fixture struct {
	in, out, state string
	recs           []journal.Record
}

// photo encodes a w×h test image: JPEG when opaque, else PNG with a
// transparent border (a cut-out).
func photo(t testing.TB, w, h int, seed uint8, alpha bool) []byte {
	t.Helper()
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{uint8(x*255/w) ^ seed, uint8(y*255/h) + seed, seed * 3, 0xff}
			if alpha && (x < w/5 || x > 4*w/5) {
				c.A = 0
			}
			m.SetNRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	var err error
	if alpha {
		err = png.Encode(&b, m)
	} else {
		err = jpeg.Encode(&b, m, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func writeFile(t testing.TB, name string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, b, 0o666); err != nil {
		t.Fatal(err)
	}
}

// done adds an input processed into a cut-out.
func (f *fixture) done(t testing.TB, rel, op string, seed uint8) journal.Record {
	in, out := photo(t, 320, 240, seed, false), photo(t, 320, 240, seed, true)
	outRel := rel[:len(rel)-len(filepath.Ext(rel))] + ".png"
	writeFile(t, filepath.Join(f.in, rel), in)
	writeFile(t, filepath.Join(f.out, outRel), out)
	r := journal.Record{Rel: rel, Size: int64(len(in)), ModTime: time.Unix(1e9, 0), SHA256: sum(in), State: journal.Done,
		Outputs: []string{outRel}, OutputSHA256s: []string{sum(out)}, Op: op, Steps: 1}
	f.recs = append(f.recs, r)
	return r
}

// failed adds an input that failed.
func (f *fixture) failed(t testing.TB, rel string, fl journal.Failure) {
	in := photo(t, 200, 300, uint8(len(rel)), false)
	writeFile(t, filepath.Join(f.in, rel), in)
	fl.Time = time.Now()
	hash := sum(in)
	if fl.Stage == "check" {
		hash = "" // failed before its upload: the journal has no hash
	}
	f.recs = append(f.recs, journal.Record{Rel: rel, Size: int64(len(in)), ModTime: time.Unix(1e9, 0), SHA256: hash,
		State: journal.Failed, Outputs: []string{rel + ".png"}, Op: "remove-background", Steps: 1, Failure: &fl})
}

// pending adds an input still queued.
func (f *fixture) pending(rel string) {
	f.recs = append(f.recs, journal.Record{Rel: rel, Size: 1, ModTime: time.Unix(1e9, 0), State: journal.Queued,
		Outputs: []string{rel + ".png"}, Op: "remove-background", Steps: 1})
}

// newFixture is the night the tests look at: 6 done (one in a sub-folder,
// one named as markup, one with an output in a format without preview),
// 3 failed for 2 reasons, 1 pending.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{in: filepath.Join(root, "in"), out: filepath.Join(root, "out")}
	f.state = pipeline.StateDir(f.out)
	f.done(t, "apricot.jpg", "remove-background", 10)
	f.done(t, "avocado.jpg", "remove-background", 40)
	f.done(t, "sub/cherries.jpg", "product-crop", 90)
	f.done(t, hostile, "remove-background", 120)
	f.done(t, "spade.jpg", "remove-background", 160)
	r := f.done(t, "layers.jpg", "remove-background", 200)
	// An output the page cannot show (a PSD): a placeholder, not a thumbnail.
	psd := append([]byte("8BPS\x00\x01"), make([]byte, 64)...)
	writeFile(t, filepath.Join(f.out, "layers.psd"), psd)
	f.recs[len(f.recs)-1].Outputs, f.recs[len(f.recs)-1].OutputSHA256s = []string{"layers.psd"}, []string{sum(psd)}
	_ = r
	quota := journal.Failure{Stage: "submit", HTTPStatus: 400, Code: "InputValidationError", Message: "the image is too large", Hint: "resize it below 8000 px"}
	f.failed(t, "big1.jpg", quota)
	f.failed(t, "sub/big2.jpg", quota)
	f.failed(t, "corrupt.jpg", journal.Failure{Stage: "check", Message: "not an image"})
	f.pending("later.jpg")
	f.writeJournal(t)
	return f
}

func (f *fixture) writeJournal(t testing.TB) {
	t.Helper()
	if err := os.MkdirAll(f.state, 0o777); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(filepath.Join(f.state, pipeline.JournalFile), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.PutMany(f.recs); err != nil {
		t.Fatal(err)
	}
}
