package review

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/gif"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/tiff"
)

// psdOf encodes img as a flat 8-bit RGBA PSD, raw.
func psdOf(img *image.NRGBA) []byte {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	var b bytes.Buffer
	b.WriteString("8BPS")
	binary.Write(&b, binary.BigEndian, uint16(1))
	b.Write(make([]byte, 6))
	binary.Write(&b, binary.BigEndian, uint16(4))
	binary.Write(&b, binary.BigEndian, uint32(h))
	binary.Write(&b, binary.BigEndian, uint32(w))
	binary.Write(&b, binary.BigEndian, uint16(8))
	binary.Write(&b, binary.BigEndian, uint16(3)) // RGB
	b.Write(make([]byte, 12))                     // no colour mode data, resources, layers
	binary.Write(&b, binary.BigEndian, uint16(0)) // raw
	for c := range 4 {
		for i := c; i < len(img.Pix); i += 4 {
			b.WriteByte(img.Pix[i])
		}
	}
	return b.Bytes()
}

// Each format the page cannot show itself gets a thumbnail of the right
// size and kind, or ErrNoThumb (DNG, a damaged file).
func TestThumbnailFormats(t *testing.T) {
	src, err := png.Decode(bytes.NewReader(photo(t, 600, 400, 50, true)))
	if err != nil {
		t.Fatal(err)
	}
	cut := src.(*image.NRGBA)
	var tif, gf bytes.Buffer
	tiff.Encode(&tif, cut, nil)
	gif.Encode(&gf, cut, nil)
	dng := append([]byte("II*\x00\x08\x00\x00\x00"), bytes.Repeat([]byte{0xff}, 64)...)
	for _, tc := range []struct {
		name string
		data []byte
		ext  string // of the thumbnail; "" for none
	}{
		{"cut.psd", psdOf(cut), ".png"},
		{"cut.tif", tif.Bytes(), ".png"},
		{"cut.gif", gf.Bytes(), ".jpg"}, // quantized to an opaque palette
		{"photo.jpg", photo(t, 600, 400, 50, false), ".jpg"},
		{"raw.dng", dng, ""},
		{"fake.psd", []byte("8BPS\x00\x01 not really"), ""},
		{"notes.txt", []byte("hello"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, tc.name)
			writeFile(t, p, tc.data)
			th := newThumbs(filepath.Join(dir, "thumbs"))
			name, err := th.make(p, "")
			if tc.ext == "" {
				if !errors.Is(err, ErrNoThumb) {
					t.Errorf("got %q, %v; want ErrNoThumb", name, err)
				}
				return
			}
			if err != nil || !strings.HasSuffix(name, tc.ext) {
				t.Fatalf("got %q, %v; want a %s thumbnail", name, err, tc.ext)
			}
			f, err := os.Open(filepath.Join(th.dir, name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			c, _, err := image.DecodeConfig(f)
			if err != nil || c.Width != ThumbSize || c.Height != ThumbSize*2/3 {
				t.Errorf("thumbnail %dx%d (%v), want %dx%d", c.Width, c.Height, err, ThumbSize, ThumbSize*2/3)
			}
		})
	}
}

// A file changed since the journal hashed it is not thumbnailed under the
// old hash.
func TestThumbnailChangedFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.jpg")
	writeFile(t, p, photo(t, 64, 64, 1, false))
	if _, err := newThumbs(filepath.Join(dir, "thumbs")).make(p, strings.Repeat("0", 64)); err == nil {
		t.Error("thumbnailed a file whose content is not the journal's")
	}
}
