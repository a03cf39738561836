package review

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"

	"hotfolder/uploader/emulator"
)

// ThumbSize is the long edge of a thumbnail, in pixels: twice a grid
// cell, for high-density screens.
const ThumbSize = 256

// maxPixels bounds what is decoded for a thumbnail (a 100-megapixel
// image decodes to 400 MB); maxSide bounds a PSD's sides likewise.
const (
	maxPixels = 100 << 20
	maxSide   = 12000
)

// ErrNoThumb means the image is in a format the page gets a placeholder
// for (PSD, DNG, an unknown one), or too large to decode.
var ErrNoThumb = errors.New("no thumbnail for this format")

// validThumb is a thumbnail's file name: a SHA-256 and an extension. The
// live server serves nothing else.
var validThumb = regexp.MustCompile(`^[0-9a-f]{64}\.(jpg|png)$`)

// thumbs is the folder of thumbnails, named by content hash. It
// remembers those it found: the live page looks every result up at each
// change.
type thumbs struct {
	dir   string
	known *sync.Map // sum → file name
}

func newThumbs(dir string) thumbs { return thumbs{dir: dir, known: new(sync.Map)} }

// find returns the name of the thumbnail of content sum, if made.
func (t thumbs) find(sum string) string {
	if len(sum) != 64 {
		return ""
	}
	if name, ok := t.known.Load(sum); ok {
		return name.(string)
	}
	for _, ext := range [...]string{".jpg", ".png"} {
		if _, err := os.Stat(filepath.Join(t.dir, sum+ext)); err == nil {
			t.known.Store(sum, sum+ext)
			return sum + ext
		}
	}
	return ""
}

// make thumbnails the image at path, whose content hash is sum ("" to
// compute it), unless it was done before, and returns its file name.
func (t thumbs) make(path, sum string) (string, error) {
	if name := t.find(sum); name != "" {
		return name, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	got := sha256.Sum256(data)
	if h := hex.EncodeToString(got[:]); sum == "" {
		sum = h
		if name := t.find(sum); name != "" {
			return name, nil
		}
	} else if h != sum {
		return "", fmt.Errorf("%s has changed since it was journaled", path)
	}
	img, err := decode(data)
	if err != nil {
		return "", err
	}
	small := scale(img, ThumbSize)
	var buf bytes.Buffer
	ext := ".jpg"
	if opaque(small) {
		err = jpeg.Encode(&buf, small, &jpeg.Options{Quality: 75})
	} else {
		ext = ".png"
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, small)
	}
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(t.dir, 0o777); err != nil {
		return "", err
	}
	name := sum + ext
	tmp, err := os.CreateTemp(t.dir, ".thumb-*")
	if err != nil {
		return "", err
	}
	_, werr := tmp.Write(buf.Bytes())
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), filepath.Join(t.dir, name))
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return "", werr
	}
	t.known.Store(sum, name)
	return name, nil
}

// decode reads a JPEG, PNG, GIF, WebP, TIFF or PSD image (its merged
// image, with the emulator's decoder), refusing the rest (DNG, say) and
// images too large with ErrNoThumb.
func decode(data []byte) (image.Image, error) {
	var (
		config func(io.Reader) (image.Config, error)
		dec    func(io.Reader) (image.Image, error)
	)
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
		config, dec = jpeg.DecodeConfig, jpeg.Decode
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		config, dec = png.DecodeConfig, png.Decode
	case bytes.HasPrefix(data, []byte("GIF8")):
		config, dec = gif.DecodeConfig, gif.Decode
	case len(data) >= 12 && bytes.Equal(data[:4], []byte("RIFF")) && bytes.Equal(data[8:12], []byte("WEBP")):
		config, dec = webp.DecodeConfig, webp.Decode
	case bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")):
		config, dec = tiff.DecodeConfig, tiff.Decode
	case bytes.HasPrefix(data, []byte("8BPS")):
		img, err := emulator.DecodePSD(bytes.NewReader(data), maxSide)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoThumb, err)
		}
		return img, nil
	default:
		return nil, ErrNoThumb
	}
	c, err := config(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoThumb, err) // DNG, say: a TIFF the decoder does not take
	}
	if c.Width <= 0 || c.Height <= 0 || int64(c.Width)*int64(c.Height) > maxPixels {
		return nil, fmt.Errorf("%w: %d×%d pixels", ErrNoThumb, c.Width, c.Height)
	}
	img, err := dec(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoThumb, err)
	}
	return img, nil
}

// scale fits img in a square of side edge, keeping its aspect ratio:
// averaged over k×k boxes first (k the whole part of the ratio: what
// keeps the small picture from aliasing), then bilinear for the rest
// (less than 2×). Both are linear in the source's pixels, a few times
// faster than x/image/draw's kernels, which mattered for 20,000 images.
func scale(img image.Image, edge int) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w > edge || h > edge {
		if w >= h {
			w, h = edge, max(1, h*edge/w)
		} else {
			w, h = max(1, w*edge/h), edge
		}
	}
	src, ok := img.(*image.RGBA)
	if !ok || b.Min != (image.Point{}) {
		src = image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(src, src.Rect, img, b.Min, draw.Src) // fast paths from YCbCr, NRGBA, Gray
	}
	if k := min(b.Dx()/w, b.Dy()/h); k >= 2 {
		src = shrink(src, k)
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.ApproxBiLinear.Scale(dst, dst.Rect, src, src.Rect, xdraw.Src, nil)
	return dst
}

// shrink averages m over k×k boxes (premultiplied, so transparent pixels
// do not darken the edges), dropping the last partial box of each side.
func shrink(m *image.RGBA, k int) *image.RGBA {
	w, h := m.Rect.Dx()/k, m.Rect.Dy()/k
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	sums := make([]uint32, w*4)
	n := uint32(k * k)
	for y := range h {
		clear(sums)
		for yy := y * k; yy < y*k+k; yy++ {
			row := m.Pix[yy*m.Stride : yy*m.Stride+w*k*4]
			for x := range w {
				s, p := sums[x*4:x*4+4:x*4+4], row[x*k*4:(x+1)*k*4]
				for i := 0; i < len(p); i += 4 {
					s[0] += uint32(p[i])
					s[1] += uint32(p[i+1])
					s[2] += uint32(p[i+2])
					s[3] += uint32(p[i+3])
				}
			}
		}
		o := out.Pix[y*out.Stride : y*out.Stride+w*4]
		for i, v := range sums {
			o[i] = uint8((v + n/2) / n)
		}
	}
	return out
}

// opaque reports whether every pixel of m is opaque.
func opaque(m *image.RGBA) bool {
	for i := 3; i < len(m.Pix); i += 4 {
		if m.Pix[i] != 0xff {
			return false
		}
	}
	return true
}
