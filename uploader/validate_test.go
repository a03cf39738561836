package uploader

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/image/tiff"
)

func testImage(w, h int) image.Image {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(m.Pix); i += 4 {
		x, y := i/4%w, i/4/w
		copy(m.Pix[i:], []byte{uint8(x), uint8(y), uint8(x + y), 255})
	}
	return m
}

func encode(t testing.TB, enc func(io.Writer, image.Image) error, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := enc(&b, testImage(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngEnc(w io.Writer, m image.Image) error  { return png.Encode(w, m) }
func jpegEnc(w io.Writer, m image.Image) error { return jpeg.Encode(w, m, nil) }
func tiffEnc(w io.Writer, m image.Image) error { return tiff.Encode(w, m, nil) }
func gifEnc(w io.Writer, m image.Image) error  { return gif.Encode(w, m, nil) }

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writePNG(t testing.TB, dir, name string, w, h int) string {
	return writeFile(t, dir, name, encode(t, pngEnc, w, h))
}

// pngHeader is the start of a PNG of any declared size: signature and
// IHDR (with its CRC). Only the header is needed to learn the size.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8-bit RGBA
	b := []byte("\x89PNG\r\n\x1a\n")
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}

// blankPNG is a complete w×h black PNG (1-bit grey). It is built row by
// row, so that one of 6000×6000 px costs little time or memory.
func blankPNG(w, h int) []byte {
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, 1, 0, 0, 0, 0) // 1-bit grey
	var idat bytes.Buffer
	idat.WriteString("IDAT")
	z, _ := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	row := make([]byte, 1+(w+7)/8) // filter type 0 (none), then black
	for range h {
		z.Write(row)
	}
	z.Close()
	b := []byte("\x89PNG\r\n\x1a\n")
	for _, c := range [][]byte{ihdr, idat.Bytes(), []byte("IEND")} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(c)-4))
		b = append(b, c...)
		b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(c))
	}
	return b
}

func TestBlankPNG(t *testing.T) {
	m, err := png.Decode(bytes.NewReader(blankPNG(13, 3)))
	if err != nil {
		t.Fatal(err)
	}
	if b := m.Bounds(); b.Dx() != 13 || b.Dy() != 3 {
		t.Errorf("blankPNG(13, 3) is %v", b)
	}
}

// webpVP8L is a lossless WebP's header (RIFF, VP8L chunk with size).
func webpVP8L(w, h int) []byte {
	bits := uint32(w-1) | uint32(h-1)<<14 | 1<<28 // alpha used, version 0
	chunk := binary.LittleEndian.AppendUint32([]byte{0x2f}, bits)
	b := []byte("RIFF")
	b = binary.LittleEndian.AppendUint32(b, uint32(4+8+len(chunk)+1))
	b = append(b, "WEBPVP8L"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(chunk)))
	return append(append(b, chunk...), 0) // padded to even
}

// webpVP8X is an extended WebP's header, with the canvas size.
func webpVP8X(w, h int) []byte {
	b := []byte("RIFF")
	b = binary.LittleEndian.AppendUint32(b, 4+8+10)
	b = append(b, "WEBPVP8X"...)
	b = binary.LittleEndian.AppendUint32(b, 10)
	b = append(b, 0, 0, 0, 0)
	b = append(b, byte(w-1), byte((w-1)>>8), byte((w-1)>>16))
	return append(b, byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		data   []byte
		want   Image  // accepted: format, type, size (Size filled in below)
		reason string // rejected: a phrase of the reason
	}{
		{"photo.jpg", encode(t, jpegEnc, 64, 48), Image{Format: "jpeg", ContentType: "image/jpeg", Width: 64, Height: 48}, ""},
		{"cutout.png", encode(t, pngEnc, 33, 7), Image{Format: "png", ContentType: "image/png", Width: 33, Height: 7}, ""},
		{"scan.tif", encode(t, tiffEnc, 20, 30), Image{Format: "tiff", ContentType: "image/tiff", Width: 20, Height: 30}, ""},
		{"web.webp", webpVP8L(120, 80), Image{Format: "webp", ContentType: "image/webp", Width: 120, Height: 80}, ""},
		{"named wrong.png", encode(t, jpegEnc, 10, 10), Image{Format: "jpeg", ContentType: "image/jpeg", Width: 10, Height: 10}, ""},
		{"largest.png", blankPNG(6000, 6000), Image{Format: "png", ContentType: "image/png", Width: 6000, Height: 6000}, ""},
		{"empty.jpg", nil, Image{}, "the file is empty"},
		{"notes.jpg", []byte("these are not pixels\n"), Image{}, "looks like text/plain; charset=utf-8"},
		{"anim.gif", encode(t, gifEnc, 4, 4), Image{}, "looks like image/gif"},
		{"junk.png", []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 250, 251, 252}, Image{}, "looks like binary data"},
		{"huge.png", pngHeader(7000, 7000), Image{}, "7000×7000 px is larger than remove background accepts"},
		{"wide.png", pngHeader(6001, 10), Image{}, "6001×10 px"},
		{"tall.webp", webpVP8X(100, 6001), Image{}, "100×6001 px"},
		{"cut.png", []byte("\x89PNG\r\n\x1a\n\x00\x00"), Image{}, "the PNG is cut short"},
		{"bad crc.png", append(pngHeader(10, 10)[:29], 0, 0, 0, 0), Image{}, "cannot read the PNG header"},
	}
	e := newEnv(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, tc.name, tc.data)
			img, err := ValidateStep(context.Background(), rbStep(), p)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				tc.want.Size = int64(len(tc.data))
				if img != tc.want {
					t.Errorf("image %+v, want %+v", img, tc.want)
				}
				return
			}
			var rej *RejectedError
			if !errors.As(err, &rej) {
				t.Fatalf("error %v, want a *RejectedError", err)
			}
			if !strings.Contains(rej.Reason, tc.reason) || rej.Path != p || rej.Hint() == "" {
				t.Errorf("rejected %+v, want a reason with %q, the path and a hint", rej, tc.reason)
			}
			if IsFatal(err) || !strings.HasPrefix(err.Error(), "validate: ") {
				t.Errorf("error %q (fatal %v)", err, IsFatal(err))
			}
		})
	}
	// Every refusal names what is accepted; the client's check sends
	// nothing either.
	err := e.c.Check(context.Background(), rbStep(), writeFile(t, dir, "x.jpg", []byte("text")))
	if h := Hint(err); !strings.Contains(h, "JPEG, PNG, WebP and TIFF") {
		t.Errorf("hint %q does not list the accepted formats", h)
	}
	if len(e.adobe.requests("POST /ims/token/v3")) != 0 {
		t.Error("Check sent a request")
	}
}

func TestValidateUnreadable(t *testing.T) {
	e := newEnv(t, nil)
	dir := t.TempDir()
	for p, reason := range map[string]string{filepath.Join(dir, "missing.jpg"): "removed or renamed", dir: "not a regular file"} {
		err := e.c.Check(context.Background(), rbStep(), p)
		var rej *RejectedError
		if !errors.As(err, &rej) || IsFatal(err) {
			t.Errorf("%s: error %v, want a *RejectedError", p, err)
		} else if !strings.Contains(rej.Reason, reason) {
			t.Errorf("%s: reason %q, want it to say %q", p, rej.Reason, reason)
		}
		if gone := reason == "removed or renamed"; errors.Is(err, fs.ErrNotExist) != gone {
			t.Errorf("%s: errors.Is(err, fs.ErrNotExist) = %v, want %v", p, !gone, gone)
		}
	}
	// Permission denied is shown end to end (main's mixed-folder test), as
	// an unprivileged user: file modes do not stop root.
}

// countingReaderAt counts the reads through it and the bytes they read.
type countingReaderAt struct {
	r     io.ReaderAt
	n     atomic.Int64
	calls atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	c.calls.Add(1)
	return n, err
}

// Validate reads a JPEG or PNG once, to its end marker and no further; of
// a TIFF or a WebP, only headers and tables, not the pixel data.
func TestValidateReadsNoMoreThanTheImage(t *testing.T) {
	const pad = 8 << 20
	pngData, jpegData := encode(t, pngEnc, 700, 700), encode(t, jpegEnc, 700, 700)
	tests := []struct {
		name     string
		data     []byte
		min, max int // bytes
	}{
		// The header is read first (up to 4.5 KiB), then the image once;
		// the scan's buffer may read up to 32 KiB past its end.
		{"png", append(pngData, make([]byte, pad)...), len(pngData), len(pngData) + 40<<10},
		{"jpeg", append(jpegData, make([]byte, pad)...), len(jpegData), len(jpegData) + 40<<10},
		{"tiff", encode(t, tiffEnc, 700, 700), 0, 16 << 10}, // 2 MB of pixels before its directory
		{"webp", append(webpVP8X(700, 700), make([]byte, pad)...), 0, 16 << 10},
	}
	for _, tc := range tests {
		r := &countingReaderAt{r: bytes.NewReader(tc.data)}
		img, rej := inspect(r, int64(len(tc.data)))
		if rej != nil {
			t.Fatalf("%s: %v", tc.name, rej)
		}
		if img.Width != 700 || img.Height != 700 {
			t.Errorf("%s: %dx%d", tc.name, img.Width, img.Height)
		}
		if n := r.n.Load(); n < int64(tc.min) || n > int64(tc.max) {
			t.Errorf("%s: read %d of %d bytes, want %d to %d", tc.name, n, len(tc.data), tc.min, tc.max)
		}
	}
}
