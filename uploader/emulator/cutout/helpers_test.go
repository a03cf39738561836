package cutout

import (
	"image"
	"image/color"
	"math/rand/v2"
)

// productShot draws a w×h "product photo": a light backdrop with a gentle
// vertical gradient and a vignette, sensor noise of the given strength, and
// a textured dark-orange ellipse (the product) in the middle, anti-aliased.
func productShot(w, h int, noise float64) *image.NRGBA {
	rng := rand.New(rand.NewPCG(7, 7))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	cx, cy := float64(w)/2, float64(h)/2
	rx, ry := float64(w)/4, float64(h)/4
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			u, v := (float64(x)-cx)/cx, (float64(y)-cy)/cy
			bg := 245 - 12*float64(y)/float64(h) - 10*(u*u+v*v)
			// Coverage of the ellipse, anti-aliased over ~1.5 px.
			d := ((float64(x)-cx)/rx)*((float64(x)-cx)/rx) + ((float64(y)-cy)/ry)*((float64(y)-cy)/ry)
			cov := clamp((1-d)*rx/1.5+0.5, 0, 1)
			fr := 200 + 20*float64((x/7+y/5)%3) // texture
			fg := [3]float64{fr, 90, 30}
			var c [3]uint8
			for ch := range 3 {
				val := cov*fg[ch] + (1-cov)*bg + rng.NormFloat64()*noise
				c[ch] = uint8(clamp(val, 0, 255))
			}
			img.SetNRGBA(x, y, color.NRGBA{c[0], c[1], c[2], 255})
		}
	}
	return img
}
