package cutout

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// ErrUnsupportedFormat means the input is not one of the formats the
// Photoshop API reads: JPEG, PNG, WebP or TIFF.
var ErrUnsupportedFormat = errors.New("not a JPEG, PNG, WebP or TIFF image")

// TooLargeError reports an input larger than the service accepts.
type TooLargeError struct {
	Width, Height, Max int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the image is %d×%d pixels; at most %d×%d are accepted", e.Width, e.Height, e.Max, e.Max)
}

// Format names an input file format as [Sniff] recognises it.
type Format string

// The input formats the Photoshop API reads.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	WebP Format = "webp"
	TIFF Format = "tiff"
)

// MediaType returns the format's media type, e.g. image/jpeg.
func (f Format) MediaType() string { return "image/" + string(f) }

// Sniff recognises a format from the first bytes of a file (12 are enough).
func Sniff(head []byte) (Format, bool) {
	switch {
	case bytes.HasPrefix(head, []byte{0xff, 0xd8, 0xff}):
		return JPEG, true
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return PNG, true
	case len(head) >= 12 && bytes.Equal(head[:4], []byte("RIFF")) && bytes.Equal(head[8:12], []byte("WEBP")):
		return WebP, true
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return TIFF, true
	}
	return "", false
}

type codec struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

// codecs is a switch rather than image.RegisterFormat so that decoding does
// not depend on which packages happen to be linked in.
func codecFor(f Format) codec {
	switch f {
	case JPEG:
		return codec{jpeg.DecodeConfig, jpeg.Decode}
	case PNG:
		return codec{png.DecodeConfig, png.Decode}
	case WebP:
		return codec{webp.DecodeConfig, webp.Decode}
	default:
		return codec{tiff.DecodeConfig, tiff.Decode}
	}
}

// Decode reads a JPEG, PNG, WebP or TIFF image from r. It reads the header
// first and refuses, with a [*TooLargeError], an image wider or taller than
// maxSide pixels before allocating it (maxSide <= 0: no limit).
func Decode(r io.ReadSeeker, maxSide int) (image.Image, Format, error) {
	head := make([]byte, 12)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, "", fmt.Errorf("read image: %w", err)
	}
	f, ok := Sniff(head[:n])
	if !ok {
		return nil, "", ErrUnsupportedFormat
	}
	c := codecFor(f)
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, f, fmt.Errorf("read image: %w", err)
	}
	cfg, err := c.config(bufio.NewReader(r))
	if err != nil {
		return nil, f, fmt.Errorf("read %s header: %w", f, err)
	}
	if maxSide > 0 && (cfg.Width > maxSide || cfg.Height > maxSide) {
		return nil, f, &TooLargeError{Width: cfg.Width, Height: cfg.Height, Max: maxSide}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, f, fmt.Errorf("read %s header: empty image (%d×%d)", f, cfg.Width, cfg.Height)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, f, fmt.Errorf("read image: %w", err)
	}
	img, err := c.decode(bufio.NewReader(r))
	if err != nil {
		return nil, f, fmt.Errorf("decode %s: %w", f, err)
	}
	return img, f, nil
}
