// Package cutout removes a plain background from a photo, approximately,
// the way a product-shot backdrop is removed by hand with a magic wand.
//
// It fits a smooth colour surface (flat, gradient or vignette) to a ring
// along the image border, flood-fills the background inward from every
// border pixel that matches it (the fill follows slow colour changes but
// stops at edges), drops specks, then works out the alpha of the subject's
// outermost pixels from their colour and removes the backdrop's colour
// mixed into them, so a dark product on white gets no light fringe.
//
// It is the image processing behind the hotfolder emulator: good on a
// subject photographed against a plain or gently graded backdrop, poor on
// busy scenes (there is no notion of "subject" beyond "not connected to the
// border's colour"), and it eats parts of a subject whose colour matches
// the backdrop where they touch. Regions of backdrop colour enclosed by the
// subject, such as the inside of a ring, are kept, since the fill cannot
// reach them.
//
// All functions are safe for concurrent use; none keeps references to its
// arguments.
package cutout

import (
	"image"
	"image/color"
	"image/draw"
)

// Cut returns img with its background made transparent, and the subject's
// mask (255 = subject, 0 = background, values between on the softened
// edge; the same as the result's alpha). Subject pixels keep their colour,
// except partly transparent edge pixels, which lose the backdrop's colour
// mixed into them; background pixels are transparent black. An input that
// is already partly transparent keeps its transparency: transparent border
// areas count as background.
func Cut(img image.Image) (*image.NRGBA, *image.Gray) {
	pm := premultiplied(img)
	w, h := pm.Rect.Dx(), pm.Rect.Dy()
	alpha := subjectAlpha(pm.Pix, w, h)

	// Reuse the premultiplied buffer for the result: same layout.
	pix := pm.Pix
	for i, m := range alpha {
		p := pix[4*i : 4*i+4 : 4*i+4]
		a := uint32(p[3])
		if m == 0 || a == 0 {
			p[0], p[1], p[2], p[3] = 0, 0, 0, 0
			alpha[i] = 0
			continue
		}
		if a < 0xff {
			p[0] = uint8((uint32(p[0])*0xff + a/2) / a)
			p[1] = uint8((uint32(p[1])*0xff + a/2) / a)
			p[2] = uint8((uint32(p[2])*0xff + a/2) / a)
		}
		na := uint8((a*uint32(m) + 127) / 255)
		p[3] = na
		alpha[i] = na
	}
	out := &image.NRGBA{Pix: pix, Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}
	mask := &image.Gray{Pix: alpha, Stride: w, Rect: image.Rect(0, 0, w, h)}
	return out, mask
}

// Composite returns cut drawn over a plain background of colour bg (whose
// own alpha is honoured: the result is opaque only where bg or the subject
// is).
func Composite(cut *image.NRGBA, bg color.NRGBA) *image.NRGBA {
	b := cut.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	ba := uint32(bg.A)
	for y := 0; y < b.Dy(); y++ {
		src := cut.Pix[(y+b.Min.Y-cut.Rect.Min.Y)*cut.Stride+(b.Min.X-cut.Rect.Min.X)*4:]
		dst := out.Pix[y*out.Stride:]
		for x := 0; x < b.Dx(); x++ {
			s := src[4*x : 4*x+4 : 4*x+4]
			d := dst[4*x : 4*x+4 : 4*x+4]
			sa := uint32(s[3])
			// Porter-Duff "over" in 0..255*255 fixed point, non-premultiplied in and out.
			bw := ba * (255 - sa) // background weight * 255
			oa := sa*255 + bw     // output alpha * 255
			if oa == 0 {
				continue
			}
			for c := 0; c < 3; c++ {
				bc := [3]uint8{bg.R, bg.G, bg.B}[c]
				d[c] = uint8((uint32(s[c])*sa*255 + uint32(bc)*bw + oa/2) / oa)
			}
			d[3] = uint8((oa + 127) / 255)
		}
	}
	return out
}

// Opaque returns the bounds of the pixels of m that are not fully
// transparent, or an empty rectangle when there are none.
func Opaque(m *image.NRGBA) image.Rectangle {
	b := m.Bounds()
	minX, minY, maxX, maxY := b.Max.X, b.Max.Y, b.Min.X-1, b.Min.Y-1
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := m.Pix[(y-m.Rect.Min.Y)*m.Stride:]
		for x := b.Min.X; x < b.Max.X; x++ {
			if row[(x-m.Rect.Min.X)*4+3] != 0 {
				minX, maxX = min(minX, x), max(maxX, x)
				minY, maxY = min(minY, y), max(maxY, y)
			}
		}
	}
	if maxX < minX {
		return image.Rectangle{}
	}
	return image.Rect(minX, minY, maxX+1, maxY+1)
}

// premultiplied converts img to premultiplied RGBA with its origin at (0,0)
// and Stride 4*width, using image/draw's fast paths where they exist.
func premultiplied(img image.Image) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	switch src := img.(type) {
	case *image.Paletted:
		// image/draw has no fast path for palettes; a lookup table is 10× faster.
		var lut [256][4]uint8
		for i, c := range src.Palette {
			r, g, b, a := c.RGBA()
			lut[i] = [4]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
		}
		for y := 0; y < h; y++ {
			row := src.Pix[(y+b.Min.Y-src.Rect.Min.Y)*src.Stride+(b.Min.X-src.Rect.Min.X):]
			out := dst.Pix[y*dst.Stride:]
			for x := 0; x < w; x++ {
				copy(out[4*x:4*x+4], lut[row[x]][:])
			}
		}
	case *image.NRGBA64:
		for y := 0; y < h; y++ {
			row := src.Pix[(y+b.Min.Y-src.Rect.Min.Y)*src.Stride+(b.Min.X-src.Rect.Min.X)*8:]
			out := dst.Pix[y*dst.Stride:]
			for x := 0; x < w; x++ {
				s := row[8*x : 8*x+8 : 8*x+8]
				a := uint32(s[6])<<8 | uint32(s[7])
				for c := 0; c < 3; c++ {
					v := uint32(s[2*c])<<8 | uint32(s[2*c+1])
					out[4*x+c] = uint8(v * a / 0xffff >> 8)
				}
				out[4*x+3] = uint8(a >> 8)
			}
		}
	case *image.RGBA64:
		for y := 0; y < h; y++ {
			row := src.Pix[(y+b.Min.Y-src.Rect.Min.Y)*src.Stride+(b.Min.X-src.Rect.Min.X)*8:]
			out := dst.Pix[y*dst.Stride:]
			for x := 0; x < w; x++ {
				for c := 0; c < 4; c++ {
					out[4*x+c] = row[8*x+2*c]
				}
			}
		}
	default:
		draw.Draw(dst, dst.Rect, img, b.Min, draw.Src)
	}
	return dst
}
