package emulator

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"io"
)

// The emulator writes flat PSDs, the simplest file Photoshop opens: the
// header, no colour-mode data, no image resources, no layers, and the
// merged image as PackBits (RLE) compressed planes, 8 bits per channel.
// RGB with a fourth channel for the alpha of a transparent image (a
// cutout), or grayscale (a mask). It reads the same kind of file back:
// 8- or 16-bit RGB or grayscale, raw or RLE merged data, layers skipped.

const (
	psdModeGray = 1
	psdModeRGB  = 3
)

// psdMagic starts every PSD.
var psdMagic = []byte("8BPS")

// errPSD is the root of the reasons a PSD cannot be read.
var errPSD = errors.New("psd")

// encodePSD writes img as a flat PSD: grayscale for an *image.Gray, RGB
// otherwise, with an alpha channel when img is not opaque.
func encodePSD(w io.Writer, img image.Image) error {
	b := img.Bounds()
	width, height := b.Dx(), b.Dy()
	if width < 1 || height < 1 || width > 30000 || height > 30000 {
		return fmt.Errorf("psd: cannot write a %d×%d image (1 to 30000 pixels a side)", width, height)
	}
	var planes [][]byte
	mode := psdModeRGB
	switch m := img.(type) {
	case *image.Gray:
		mode = psdModeGray
		p := make([]byte, width*height)
		for y := range height {
			copy(p[y*width:], m.Pix[(y+b.Min.Y-m.Rect.Min.Y)*m.Stride+(b.Min.X-m.Rect.Min.X):][:width])
		}
		planes = [][]byte{p}
	default:
		n := toNRGBA(img)
		channels := 3
		if !n.Opaque() {
			channels = 4
		}
		planes = make([][]byte, channels)
		for c := range planes {
			planes[c] = make([]byte, width*height)
		}
		for y := range height {
			row := n.Pix[y*n.Stride:]
			for x := range width {
				for c := range channels {
					planes[c][y*width+x] = row[4*x+c]
				}
			}
		}
	}

	bw := bufio.NewWriter(w)
	hdr := make([]byte, 26)
	copy(hdr, psdMagic)
	binary.BigEndian.PutUint16(hdr[4:], 1) // version 1: PSD, not PSB
	binary.BigEndian.PutUint16(hdr[12:], uint16(len(planes)))
	binary.BigEndian.PutUint32(hdr[14:], uint32(height))
	binary.BigEndian.PutUint32(hdr[18:], uint32(width))
	binary.BigEndian.PutUint16(hdr[22:], 8)
	binary.BigEndian.PutUint16(hdr[24:], uint16(mode))
	bw.Write(hdr)
	bw.Write(make([]byte, 4*3)) // colour-mode data, image resources, layer and mask info: all empty
	bw.Write([]byte{0, 1})      // RLE

	// Every row of every plane, packed; then their lengths first.
	var packed [][]byte
	counts := make([]byte, 0, 2*len(planes)*height)
	for _, p := range planes {
		for y := range height {
			row := packBits(nil, p[y*width:(y+1)*width])
			packed = append(packed, row)
			counts = binary.BigEndian.AppendUint16(counts, uint16(len(row)))
		}
	}
	bw.Write(counts)
	for _, row := range packed {
		bw.Write(row)
	}
	return bw.Flush()
}

// packBits compresses src with Apple's PackBits, as PSD's RLE is, and
// appends it to dst.
func packBits(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		j := i + 1
		for j < len(src) && j-i < 128 && src[j] == src[i] {
			j++
		}
		if j-i >= 3 {
			dst = append(dst, byte(1-(j-i)), src[i]) // -(n-1) as int8
			i = j
			continue
		}
		k := i
		for k < len(src) && k-i < 128 {
			if k+2 < len(src) && src[k] == src[k+1] && src[k] == src[k+2] {
				break
			}
			k++
		}
		dst = append(dst, byte(k-i-1))
		dst = append(dst, src[i:k]...)
		i = k
	}
	return dst
}

// unpackBits expands PackBits data into exactly n bytes.
func unpackBits(src []byte, n int) ([]byte, error) {
	out := make([]byte, 0, n)
	for i := 0; i < len(src) && len(out) < n; {
		h := int8(src[i])
		i++
		switch {
		case h >= 0:
			l := int(h) + 1
			if i+l > len(src) {
				return nil, fmt.Errorf("%w: truncated RLE data", errPSD)
			}
			out = append(out, src[i:i+l]...)
			i += l
		case h != -128:
			if i >= len(src) {
				return nil, fmt.Errorf("%w: truncated RLE data", errPSD)
			}
			for range 1 - int(h) {
				out = append(out, src[i])
			}
			i++
		}
	}
	if len(out) != n {
		return nil, fmt.Errorf("%w: an RLE row holds %d bytes, want %d", errPSD, len(out), n)
	}
	return out, nil
}

// psdConfig reads a PSD's header.
type psdHeader struct {
	channels, height, width, depth, mode int
}

func readPSDHeader(r io.Reader) (psdHeader, error) {
	hdr := make([]byte, 26)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return psdHeader{}, fmt.Errorf("%w: header: %v", errPSD, err)
	}
	if string(hdr[:4]) != string(psdMagic) {
		return psdHeader{}, fmt.Errorf("%w: not a PSD file", errPSD)
	}
	if v := binary.BigEndian.Uint16(hdr[4:]); v != 1 {
		return psdHeader{}, fmt.Errorf("%w: version %d (large-document PSB files are not emulated)", errPSD, v)
	}
	h := psdHeader{
		channels: int(binary.BigEndian.Uint16(hdr[12:])),
		height:   int(binary.BigEndian.Uint32(hdr[14:])),
		width:    int(binary.BigEndian.Uint32(hdr[18:])),
		depth:    int(binary.BigEndian.Uint16(hdr[22:])),
		mode:     int(binary.BigEndian.Uint16(hdr[24:])),
	}
	switch {
	case h.width < 1 || h.height < 1:
		return h, fmt.Errorf("%w: an empty image (%d×%d)", errPSD, h.width, h.height)
	case h.depth != 8 && h.depth != 16:
		return h, fmt.Errorf("%w: %d bits per channel (the emulator reads 8 and 16)", errPSD, h.depth)
	case h.mode == psdModeRGB && h.channels < 3, h.mode == psdModeGray && h.channels < 1:
		return h, fmt.Errorf("%w: %d channels for colour mode %d", errPSD, h.channels, h.mode)
	case h.mode != psdModeRGB && h.mode != psdModeGray:
		return h, fmt.Errorf("%w: colour mode %s (the emulator reads RGB and grayscale)", errPSD, psdModeName(h.mode))
	}
	return h, nil
}

func psdModeName(m int) string {
	names := map[int]string{0: "bitmap", 1: "grayscale", 2: "indexed", 3: "RGB", 4: "CMYK", 7: "multichannel", 8: "duotone", 9: "Lab"}
	if n, ok := names[m]; ok {
		return n
	}
	return fmt.Sprint(m)
}

// DecodePSD reads the merged image of a PSD as decodePSD does, refusing
// one wider or taller than maxSide (0: any size). The review page's
// thumbnails use it: Go has no PSD decoder of its own.
func DecodePSD(r io.Reader, maxSide int) (image.Image, error) { return decodePSD(r, maxSide) }

// decodePSD reads the merged image of a flat or layered PSD (layers are
// skipped): an *image.Gray for a grayscale file without alpha, an
// *image.NRGBA otherwise. A fourth RGB channel (second grayscale one) is
// taken as alpha.
func decodePSD(r io.Reader, maxSide int) (image.Image, error) {
	br := bufio.NewReader(r)
	h, err := readPSDHeader(br)
	if err != nil {
		return nil, err
	}
	if maxSide > 0 && (h.width > maxSide || h.height > maxSide) {
		return nil, fmt.Errorf("%w: the image is %d×%d pixels, more than %d a side", errPSD, h.width, h.height, maxSide)
	}
	for _, section := range []string{"colour-mode data", "image resources", "layer and mask information"} {
		var n uint32
		if err := binary.Read(br, binary.BigEndian, &n); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errPSD, section, err)
		}
		if _, err := br.Discard(int(n)); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errPSD, section, err)
		}
	}
	var comp uint16
	if err := binary.Read(br, binary.BigEndian, &comp); err != nil {
		return nil, fmt.Errorf("%w: image data: %v", errPSD, err)
	}
	nColor := 3
	if h.mode == psdModeGray {
		nColor = 1
	}
	used := min(h.channels, nColor+1) // colour channels, then alpha if any
	bpc := h.depth / 8
	rowBytes := h.width * bpc
	planes := make([][]byte, used)
	switch comp {
	case 0:
		for c := range h.channels {
			p := make([]byte, rowBytes*h.height)
			if _, err := io.ReadFull(br, p); err != nil {
				return nil, fmt.Errorf("%w: image data: %v", errPSD, err)
			}
			if c < used {
				planes[c] = p
			}
		}
	case 1:
		counts := make([]uint16, h.channels*h.height)
		if err := binary.Read(br, binary.BigEndian, counts); err != nil {
			return nil, fmt.Errorf("%w: RLE row lengths: %v", errPSD, err)
		}
		for c := range h.channels {
			var p []byte
			if c < used {
				p = make([]byte, 0, rowBytes*h.height)
			}
			for y := range h.height {
				buf := make([]byte, counts[c*h.height+y])
				if _, err := io.ReadFull(br, buf); err != nil {
					return nil, fmt.Errorf("%w: image data: %v", errPSD, err)
				}
				if p == nil {
					continue
				}
				row, err := unpackBits(buf, rowBytes)
				if err != nil {
					return nil, err
				}
				p = append(p, row...)
			}
			if c < used {
				planes[c] = p
			}
		}
	default:
		return nil, fmt.Errorf("%w: ZIP-compressed image data (compression %d) is not emulated", errPSD, comp)
	}
	at := func(c, i int) uint8 { return planes[c][i*bpc] } // high byte of 16-bit samples

	if h.mode == psdModeGray && used == 1 {
		g := image.NewGray(image.Rect(0, 0, h.width, h.height))
		for i := range g.Pix {
			g.Pix[i] = at(0, i)
		}
		return g, nil
	}
	out := image.NewNRGBA(image.Rect(0, 0, h.width, h.height))
	for i := range h.width * h.height {
		var c [4]uint8
		if nColor == 1 {
			c[0] = at(0, i)
			c[1], c[2] = c[0], c[0]
		} else {
			c[0], c[1], c[2] = at(0, i), at(1, i), at(2, i)
		}
		c[3] = 0xff
		if used > nColor {
			c[3] = at(nColor, i)
		}
		copy(out.Pix[4*i:4*i+4], c[:])
	}
	return out, nil
}

// toNRGBA returns img as an *image.NRGBA with its origin at (0, 0): img
// itself when it already is one, a converted copy otherwise.
func toNRGBA(img image.Image) *image.NRGBA {
	if n, ok := img.(*image.NRGBA); ok && n.Rect.Min == (image.Point{}) && n.Stride == 4*n.Rect.Dx() {
		return n
	}
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	switch m := img.(type) {
	case *image.Gray:
		for y := range b.Dy() {
			src := m.Pix[(y+b.Min.Y-m.Rect.Min.Y)*m.Stride+(b.Min.X-m.Rect.Min.X):]
			dst := out.Pix[y*out.Stride:]
			for x := range b.Dx() {
				v := src[x]
				dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = v, v, v, 0xff
			}
		}
	case *image.NRGBA:
		for y := range b.Dy() {
			copy(out.Pix[y*out.Stride:][:4*b.Dx()], m.Pix[(y+b.Min.Y-m.Rect.Min.Y)*m.Stride+(b.Min.X-m.Rect.Min.X)*4:])
		}
	default:
		// image/draw's fast paths write premultiplied RGBA: the same bytes
		// where opaque, divided by alpha elsewhere.
		rgba := &image.RGBA{Pix: out.Pix, Stride: out.Stride, Rect: out.Rect}
		draw.Draw(rgba, rgba.Rect, img, b.Min, draw.Src)
		for i := 0; i < len(out.Pix); i += 4 {
			p := out.Pix[i : i+4 : i+4]
			if a := uint32(p[3]); a != 0xff && a != 0 {
				p[0] = uint8((uint32(p[0])*0xff + a/2) / a)
				p[1] = uint8((uint32(p[1])*0xff + a/2) / a)
				p[2] = uint8((uint32(p[2])*0xff + a/2) / a)
			}
		}
	}
	return out
}
