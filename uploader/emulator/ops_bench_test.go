package emulator

import (
	"image"
	"image/color"
	"io"
	"testing"

	"hotfolder/uploader/emulator/cutout"
)

// photo2000 is a 2000×1500 product photo: an ellipse on a graded backdrop.
func photo2000() *image.NRGBA {
	const w, h = 2000, 1500
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{uint8(235 - y/100), uint8(235 - y/100), uint8(235 - y/100), 255}
			dx, dy := x-w/2, y-h/2
			if dx*dx/4+dy*dy < 500*500 {
				c = color.NRGBA{uint8(150 + (x/9+y/7)%60), 70, 40, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// BenchmarkRenders measures the image work of each stand-in on a
// 2000×1500 photo (decoding and HTTP aside).
func BenchmarkRenders(b *testing.B) {
	src := photo2000()
	clone := func() *image.NRGBA { return crop(src, src.Rect) }
	b.Run("edit", func(b *testing.B) {
		e := &lrEdits{AutoTone: true}
		for b.Loop() {
			applyEdits(clone(), e)
		}
	})
	b.Run("productCrop", func(b *testing.B) {
		for b.Loop() {
			c := &actionContext{doc: &document{img: clone()}}
			if fail := c.productCrop(nil); fail != nil {
				b.Fatal(fail)
			}
		}
	})
	b.Run("tint", func(b *testing.B) {
		for b.Loop() {
			tint(clone(), [32]byte{1, 2, 3})
		}
	})
	b.Run("resize800", func(b *testing.B) {
		for b.Loop() {
			resize(src, 800, 600, "")
		}
	})
	b.Run("cutout", func(b *testing.B) {
		for b.Loop() {
			cutout.Cut(src)
		}
	})
	for _, mt := range []string{mediaJPEG, mediaPNG, mediaTIFF, mediaPSD, mediaWebP} {
		b.Run(formatName(mt), func(b *testing.B) {
			for b.Loop() {
				if err := encodeImage(io.Discard, src, mt, "", ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("PNG-medium", func(b *testing.B) {
		for b.Loop() {
			encodeImage(io.Discard, src, mediaPNG, "", "medium")
		}
	})
}
