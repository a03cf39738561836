package emulator

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"testing"

	"hotfolder/uploader/emulator/cutout"
)

// BenchmarkJobImage measures a job's image work for a 2000×1500 JPEG
// product photo: decode, cut out, encode the PNG.
func BenchmarkJobImage(b *testing.B) {
	const w, h = 2000, 1500
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{uint8(235 - y/100), uint8(235 - y/100), uint8(235 - y/100), 255}
			dx, dy := x-w/2, y-h/2
			if dx*dx/4+dy*dy < 500*500 {
				c = color.RGBA{uint8(150 + (x/9+y/7)%60), 70, 40, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var in bytes.Buffer
	jpeg.Encode(&in, img, &jpeg.Options{Quality: 90})
	spec := jobSpec{mode: modeCutout}
	b.ResetTimer()
	for b.Loop() {
		src, _, err := cutout.Decode(bytes.NewReader(in.Bytes()), maxSide)
		if err != nil {
			b.Fatal(err)
		}
		if err := render(io.Discard, src, spec, mediaPNG); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/image")
}
