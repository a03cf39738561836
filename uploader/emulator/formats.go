package emulator

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"

	"github.com/HugoSmits86/nativewebp"
	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/tiff"

	"hotfolder/uploader/emulator/cutout"
)

// Media types of the v2 contract.
const (
	mediaJPEG    = "image/jpeg"
	mediaPNG     = "image/png"
	mediaWebP    = "image/webp"
	mediaTIFF    = "image/tiff"
	mediaPSD     = "image/vnd.adobe.photoshop"
	mediaDNG     = "image/x-adobe-dng"
	mediaXMP     = "application/rdf+xml"
	mediaJSON    = "application/json"
	mediaPSDC    = "document/vnd.adobe.cpsd+dcx"
	mediaPSDCUCF = "document/vnd.adobe.cpsd+dcxucf"
)

// extensions names result files by media type; serveResult maps back.
var extensions = map[string]string{
	mediaJPEG: ".jpg",
	mediaPNG:  ".png",
	mediaWebP: ".webp",
	mediaTIFF: ".tif",
	mediaPSD:  ".psd",
	mediaXMP:  ".xmp",
	mediaJSON: ".json",
}

// contentTypeOf is the Content-Type of a result file, by its name.
func contentTypeOf(name string) string {
	for mt, ext := range extensions {
		if len(name) > len(ext) && name[len(name)-len(ext):] == ext {
			return mt
		}
	}
	return "application/octet-stream"
}

// formatName is how Adobe's messages name a media type: PNG, JPEG, …
func formatName(mediaType string) string {
	switch mediaType {
	case mediaJPEG:
		return "JPEG"
	case mediaPNG:
		return "PNG"
	case mediaTIFF:
		return "TIFF"
	case mediaPSD:
		return "PSD"
	case mediaPSDC, mediaPSDCUCF:
		return "PSDC"
	case mediaJSON:
		return "JSON"
	case mediaDNG:
		return "DNG"
	case mediaXMP:
		return "XMP"
	case mediaWebP:
		return "WebP"
	}
	return mediaType
}

// jpegQualities maps the v2 quality enum to image/jpeg's 1–100 scale.
// Photoshop's own scale is 0–12; photoshop_max is its 12.
var jpegQualities = map[string]int{
	"very_poor":     10,
	"poor":          25,
	"low":           40,
	"medium":        60,
	"high":          75,
	"maximum":       90,
	"photoshop_max": 100,
}

// defaultQuality is the JPEG quality when a request names none: Adobe's
// create-composite default, used for every operation (execute-actions
// guarantees none).
const defaultQuality = "photoshop_max"

// pngLevels maps the v2 compression enum to zlib levels ("default" is 6).
var pngLevels = map[string]int{
	"none":        0,
	"very_low":    1,
	"low":         2,
	"medium_low":  3,
	"medium":      4,
	"medium_high": 5,
	"default":     6,
	"high":        7,
	"very_high":   8,
	"maximum":     9,
}

// encodeJPEG writes img as a JPEG of the given quality (an enum value;
// "" is the default), flattened over white: JPEG has no alpha, and
// Photoshop's export flattens transparency onto white.
func encodeJPEG(w io.Writer, img image.Image, quality string) error {
	q, ok := jpegQualities[quality]
	if !ok {
		q = jpegQualities[defaultQuality]
	}
	return jpeg.Encode(w, opaque(img, color.NRGBA{0xff, 0xff, 0xff, 0xff}), &jpeg.Options{Quality: q})
}

// opaque returns img flattened over bg, as an image image/jpeg encodes
// fast; a Gray image is returned as is.
func opaque(img image.Image, bg color.NRGBA) image.Image {
	switch m := img.(type) {
	case *image.Gray:
		return m
	case *image.NRGBA:
		if !m.Opaque() {
			m = cutout.Composite(m, bg)
		}
		return &image.RGBA{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}
	}
	return opaque(toNRGBA(img), bg)
}

// encodePNG writes img as a PNG whose image data is deflated at the zlib
// level of compression (an enum value; "" is "default", level 6).
// image/png offers only levels 0, 1, 6 and 9, so the other levels
// recompress the IDAT stream of a level-1 encoding.
func encodePNG(w io.Writer, img image.Image, compression string) error {
	level, ok := pngLevels[compression]
	if !ok {
		level = 6
	}
	direct := map[int]png.CompressionLevel{0: png.NoCompression, 1: png.BestSpeed, 6: png.DefaultCompression, 9: png.BestCompression}
	if l, ok := direct[level]; ok {
		enc := png.Encoder{CompressionLevel: l}
		return enc.Encode(w, img)
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return err
	}
	out, err := recompressPNG(buf.Bytes(), level)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

// recompressPNG replaces the IDAT chunks of a PNG with one holding the
// same image data deflated at level.
func recompressPNG(b []byte, level int) ([]byte, error) {
	const sigLen = 8
	if len(b) < sigLen {
		return nil, errors.New("png: short file")
	}
	var before, after, idat []byte
	seenIDAT := false
	for p := sigLen; p+12 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[p:]))
		if p+12+n > len(b) {
			return nil, errors.New("png: truncated chunk")
		}
		typ := string(b[p+4 : p+8])
		chunk := b[p : p+12+n]
		switch {
		case typ == "IDAT":
			idat = append(idat, b[p+8:p+8+n]...)
			seenIDAT = true
		case seenIDAT:
			after = append(after, chunk...)
		default:
			before = append(before, chunk...)
		}
		p += 12 + n
	}
	zr, err := zlib.NewReader(bytes.NewReader(idat))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	var z bytes.Buffer
	zw, err := zlib.NewWriterLevel(&z, level)
	if err != nil {
		return nil, err
	}
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	out := append([]byte(nil), b[:sigLen]...)
	out = append(out, before...)
	out = appendChunk(out, "IDAT", z.Bytes())
	return append(out, after...), nil
}

func appendChunk(dst []byte, typ string, data []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(data)))
	start := len(dst)
	dst = append(dst, typ...)
	dst = append(dst, data...)
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
}

// encodeTIFF writes img as a Deflate-compressed TIFF.
func encodeTIFF(w io.Writer, img image.Image) error {
	return tiff.Encode(w, img, &tiff.Options{Compression: tiff.Deflate, Predictor: true})
}

// encodeWebP writes img as a lossless WebP (VP8L), with alpha when img
// has transparency: github.com/HugoSmits86/nativewebp, pure Go.
func encodeWebP(w io.Writer, img image.Image) error {
	return nativewebp.Encode(w, img, nil)
}

// encodeImage writes img in mediaType, one of the raster formats the
// emulator writes, with a JPEG quality or PNG compression (enum values,
// "" for the default).
func encodeImage(w io.Writer, img image.Image, mediaType, quality, compression string) error {
	switch mediaType {
	case mediaJPEG:
		return encodeJPEG(w, img, quality)
	case mediaPNG:
		return encodePNG(w, img, compression)
	case mediaTIFF:
		return encodeTIFF(w, img)
	case mediaPSD:
		return encodePSD(w, img)
	case mediaWebP:
		return encodeWebP(w, img)
	}
	return fmt.Errorf("the emulator writes no %s", mediaType)
}

// scalers maps the v2 resample enum to x/image/draw's interpolators: both
// Photoshop bicubic variants become Catmull-Rom.
var scalers = map[string]xdraw.Interpolator{
	"nearest_neighbor": xdraw.NearestNeighbor,
	"bilinear":         xdraw.BiLinear,
	"bicubic":          xdraw.CatmullRom,
	"bicubic_smoother": xdraw.CatmullRom,
	"bicubic_sharper":  xdraw.CatmullRom,
}

// resize returns img scaled to w×h with the resample method (an enum
// value; "" is bicubic_sharper, Adobe's default for outputs).
func resize(img *image.NRGBA, w, h int, resample string) *image.NRGBA {
	if img.Rect.Dx() == w && img.Rect.Dy() == h {
		return img
	}
	s, ok := scalers[resample]
	if !ok {
		s = xdraw.CatmullRom
	}
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	// Scaling premultiplied values keeps transparent pixels' colour out of
	// the edges.
	src := &image.RGBA{Pix: premultiply(img), Stride: img.Stride, Rect: img.Rect}
	dst := &image.RGBA{Pix: out.Pix, Stride: out.Stride, Rect: out.Rect}
	s.Scale(dst, dst.Rect, src, src.Rect, xdraw.Src, nil)
	unpremultiply(out.Pix)
	return out
}

// premultiply returns a premultiplied copy of an NRGBA's pixels.
func premultiply(m *image.NRGBA) []byte {
	p := make([]byte, len(m.Pix))
	copy(p, m.Pix)
	for i := 0; i < len(p); i += 4 {
		if a := uint32(p[i+3]); a != 0xff {
			p[i] = uint8((uint32(p[i])*a + 127) / 255)
			p[i+1] = uint8((uint32(p[i+1])*a + 127) / 255)
			p[i+2] = uint8((uint32(p[i+2])*a + 127) / 255)
		}
	}
	return p
}

func unpremultiply(p []byte) {
	for i := 0; i < len(p); i += 4 {
		a := uint32(p[i+3])
		if a == 0xff || a == 0 {
			continue
		}
		for c := range 3 {
			p[i+c] = uint8(min(255, (uint32(p[i+c])*0xff+a/2)/a))
		}
	}
}

// crop returns the part r of img as a new image with its origin at (0, 0).
func crop(img *image.NRGBA, r image.Rectangle) *image.NRGBA {
	r = r.Intersect(img.Rect)
	out := image.NewNRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := range r.Dy() {
		copy(out.Pix[y*out.Stride:][:4*r.Dx()], img.Pix[(r.Min.Y+y-img.Rect.Min.Y)*img.Stride+(r.Min.X-img.Rect.Min.X)*4:])
	}
	return out
}

// trimTransparent returns img cropped to its pixels that are not fully
// transparent; unchanged when none or all are.
func trimTransparent(img *image.NRGBA) *image.NRGBA {
	r := cutout.Opaque(img)
	if r.Empty() || r == img.Rect {
		return img
	}
	return crop(img, r)
}
