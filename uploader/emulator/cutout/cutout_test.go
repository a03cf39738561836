package cutout

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"os"
	"testing"

	"golang.org/x/image/tiff"
)

// share returns the fraction of the pixels in r for which keep is true.
func share(m *image.NRGBA, r image.Rectangle, keep func(a uint8) bool) float64 {
	n, k := 0, 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			n++
			if keep(m.NRGBAAt(x, y).A) {
				k++
			}
		}
	}
	return float64(k) / float64(n)
}

func transparent(a uint8) bool { return a == 0 }
func opaque(a uint8) bool      { return a == 255 }

func TestCutProductShot(t *testing.T) {
	for _, noise := range []float64{0, 3} {
		const w, h = 400, 300
		img := productShot(w, h, noise)
		cut, mask := Cut(img)
		if cut.Bounds() != img.Bounds() || mask.Bounds() != img.Bounds() {
			t.Fatalf("noise %v: bounds %v and %v, want %v", noise, cut.Bounds(), mask.Bounds(), img.Bounds())
		}
		// The ellipse spans [100,300)×[75,225). Well outside it: background;
		// well inside: subject, keeping its colour.
		bgRings := []image.Rectangle{image.Rect(0, 0, w, 60), image.Rect(0, 240, w, h), image.Rect(0, 0, 80, h), image.Rect(320, 0, w, h)}
		for _, r := range bgRings {
			if got := share(cut, r, transparent); got < 0.99 {
				t.Errorf("noise %v: background %v is %.3f transparent, want ≥ 0.99", noise, r, got)
			}
		}
		inner := image.Rect(150, 110, 250, 190)
		if got := share(cut, inner, opaque); got != 1 {
			t.Errorf("noise %v: subject %v is %.3f opaque, want 1", noise, inner, got)
		}
		if c, s := cut.NRGBAAt(200, 150), img.NRGBAAt(200, 150); c != s {
			t.Errorf("noise %v: subject pixel %v changed to %v", noise, s, c)
		}
		for i, a := range mask.Pix {
			if a != cut.Pix[4*i+3] {
				t.Fatalf("noise %v: mask %d differs from the cutout's alpha %d at %d", noise, a, cut.Pix[4*i+3], i)
			}
		}
		// The edge is soft: some pixels between 0 and 255 along it.
		partial := 0
		for _, a := range mask.Pix {
			if a > 0 && a < 255 {
				partial++
			}
		}
		if partial < 100 {
			t.Errorf("noise %v: only %d partly transparent pixels: the edge is not softened", noise, partial)
		}
	}
}

// TestCutEdgeIsDecontaminated checks that the anti-aliased edge of a dark
// subject on white does not keep a light fringe: partly transparent edge
// pixels get the subject's colour, not a mix with the backdrop.
func TestCutEdgeIsDecontaminated(t *testing.T) {
	img := productShot(400, 300, 0)
	cut, _ := Cut(img)
	fringe := 0
	for i := 0; i < len(cut.Pix); i += 4 {
		a := cut.Pix[i+3]
		if a == 0 || a == 255 {
			continue
		}
		// The subject is orange (200–240, 90, 30); the backdrop ~230 grey. A
		// mixed pixel has a blue channel well above the subject's 30.
		if cut.Pix[i+2] > 80 {
			fringe++
		}
	}
	if fringe > 20 {
		t.Errorf("%d partly transparent edge pixels still carry the backdrop's colour", fringe)
	}
}

func TestCutKeepsEnclosedBackground(t *testing.T) {
	// A dark ring on white: its hole is background-coloured but enclosed.
	const n = 200
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	for y := range n {
		for x := range n {
			dx, dy := x-n/2, y-n/2
			d2 := dx*dx + dy*dy
			c := color.NRGBA{255, 255, 255, 255}
			if d2 <= 60*60 && d2 >= 30*30 {
				c = color.NRGBA{20, 40, 120, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	cut, _ := Cut(img)
	if a := cut.NRGBAAt(n/2, n/2).A; a != 255 {
		t.Errorf("the ring's hole has alpha %d, want 255 (enclosed regions are kept)", a)
	}
	if a := cut.NRGBAAt(n/2+45, n/2).A; a != 255 {
		t.Errorf("the ring has alpha %d, want 255", a)
	}
	if a := cut.NRGBAAt(5, 5).A; a != 0 {
		t.Errorf("the corner has alpha %d, want 0", a)
	}
}

func TestCutDropsSpecksAndKeepsSubjectCutByFrame(t *testing.T) {
	const w, h = 300, 200
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Rect, image.NewUniform(color.NRGBA{240, 240, 240, 255}), image.Point{}, draw.Src)
	// Dust: 2×2 dark specks on the backdrop.
	for _, p := range []image.Point{{20, 20}, {250, 30}, {40, 150}} {
		draw.Draw(img, image.Rect(p.X, p.Y, p.X+2, p.Y+2), image.NewUniform(color.NRGBA{30, 30, 30, 255}), image.Point{}, draw.Src)
	}
	// A subject running off the bottom edge.
	draw.Draw(img, image.Rect(100, 80, 200, h), image.NewUniform(color.NRGBA{10, 120, 10, 255}), image.Point{}, draw.Src)
	cut, _ := Cut(img)
	for _, p := range []image.Point{{20, 20}, {250, 30}, {40, 150}} {
		if a := cut.NRGBAAt(p.X, p.Y).A; a != 0 {
			t.Errorf("speck at %v has alpha %d, want 0", p, a)
		}
	}
	for _, p := range []image.Point{{150, h - 1}, {150, 120}} {
		if a := cut.NRGBAAt(p.X, p.Y).A; a != 255 {
			t.Errorf("subject at %v has alpha %d, want 255", p, a)
		}
	}
}

func TestCutTransparentInput(t *testing.T) {
	// An already cut-out PNG: transparent around an opaque square.
	img := image.NewNRGBA(image.Rect(0, 0, 100, 100))
	draw.Draw(img, image.Rect(30, 30, 70, 70), image.NewUniform(color.NRGBA{200, 10, 10, 255}), image.Point{}, draw.Src)
	cut, _ := Cut(img)
	if a := cut.NRGBAAt(5, 5).A; a != 0 {
		t.Errorf("transparent border has alpha %d, want 0", a)
	}
	if c := cut.NRGBAAt(50, 50); c != (color.NRGBA{200, 10, 10, 255}) {
		t.Errorf("subject is %v, want unchanged", c)
	}
}

// TestCutGradientBackdrop: a strong vertical gradient (dark grey to light
// grey) behind a subject: the whole backdrop goes, the subject stays.
func TestCutGradientBackdrop(t *testing.T) {
	const w, h = 300, 300
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		v := uint8(90 + 120*y/h)
		for x := range w {
			c := color.NRGBA{v, v, v, 255}
			if x >= 100 && x < 200 && y >= 100 && y < 200 {
				c = color.NRGBA{180, 30, 160, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	cut, _ := Cut(img)
	if got := share(cut, image.Rect(0, 0, w, 90), transparent); got != 1 {
		t.Errorf("top of the backdrop is %.3f transparent, want 1", got)
	}
	if got := share(cut, image.Rect(0, 210, w, h), transparent); got != 1 {
		t.Errorf("bottom of the backdrop is %.3f transparent, want 1", got)
	}
	if got := share(cut, image.Rect(105, 105, 195, 195), opaque); got != 1 {
		t.Errorf("subject is %.3f opaque, want 1", got)
	}
}

func TestCutTinyImages(t *testing.T) {
	for _, r := range []image.Rectangle{image.Rect(0, 0, 1, 1), image.Rect(0, 0, 1, 7), image.Rect(0, 0, 9, 1), image.Rect(5, 5, 8, 8)} {
		img := image.NewNRGBA(r)
		cut, mask := Cut(img)
		if cut.Bounds().Size() != r.Size() || mask.Bounds().Size() != r.Size() {
			t.Errorf("%v: got sizes %v, %v", r, cut.Bounds().Size(), mask.Bounds().Size())
		}
	}
}

func TestComposite(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 3, 1))
	src.SetNRGBA(0, 0, color.NRGBA{0, 0, 0, 0})          // transparent
	src.SetNRGBA(1, 0, color.NRGBA{200, 100, 0, 255})    // opaque
	src.SetNRGBA(2, 0, color.NRGBA{255, 255, 255, 0x80}) // half white
	tests := []struct {
		bg   color.NRGBA
		want [3]color.NRGBA
	}{
		{color.NRGBA{0, 0, 255, 255}, [3]color.NRGBA{{0, 0, 255, 255}, {200, 100, 0, 255}, {128, 128, 255, 255}}},
		{color.NRGBA{0, 0, 0, 0}, [3]color.NRGBA{{0, 0, 0, 0}, {200, 100, 0, 255}, {255, 255, 255, 0x80}}},
		{color.NRGBA{0, 0, 0, 255}, [3]color.NRGBA{{0, 0, 0, 255}, {200, 100, 0, 255}, {128, 128, 128, 255}}},
	}
	for _, tc := range tests {
		out := Composite(src, tc.bg)
		for x, want := range tc.want {
			got := out.NRGBAAt(x, 0)
			if diff(got.R, want.R) > 1 || diff(got.G, want.G) > 1 || diff(got.B, want.B) > 1 || diff(got.A, want.A) > 1 {
				t.Errorf("over %v, pixel %d: got %v, want %v", tc.bg, x, got, want)
			}
		}
	}
	// A sub-image composites its own pixels.
	sub := src.SubImage(image.Rect(1, 0, 2, 1)).(*image.NRGBA)
	if got := Composite(sub, color.NRGBA{0, 0, 0, 255}).NRGBAAt(0, 0); got != (color.NRGBA{200, 100, 0, 255}) {
		t.Errorf("sub-image composite: got %v", got)
	}
}

func diff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func TestOpaque(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 10, 10))
	if r := Opaque(m); !r.Empty() {
		t.Errorf("all transparent: got %v, want empty", r)
	}
	m.SetNRGBA(2, 3, color.NRGBA{A: 1})
	m.SetNRGBA(6, 8, color.NRGBA{A: 255})
	if r, want := Opaque(m), image.Rect(2, 3, 7, 9); r != want {
		t.Errorf("got %v, want %v", r, want)
	}
}

// TestPremultipliedMatchesDraw checks the conversion fast paths against
// image/draw's generic conversion.
func TestPremultipliedMatchesDraw(t *testing.T) {
	const w, h = 17, 11
	r := image.Rect(3, 2, 3+w, 2+h)
	pal := image.NewPaletted(r, color.Palette{color.NRGBA{10, 20, 30, 255}, color.NRGBA{200, 100, 50, 128}, color.NRGBA{0, 0, 0, 0}})
	n64 := image.NewNRGBA64(r)
	r64 := image.NewRGBA64(r)
	gray := image.NewGray(r)
	ycc := image.NewYCbCr(r, image.YCbCrSubsampleRatio420)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			pal.SetColorIndex(x, y, uint8((x+y)%3))
			n64.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 3000), uint16(y * 5000), 40000, uint16((x * y * 977) % 65536)})
			a := uint16((x * 4000) % 65536)
			r64.SetRGBA64(x, y, color.RGBA64{a / 2, a / 3, a, a})
			gray.SetGray(x, y, color.Gray{uint8(x * y)})
			ycc.Y[ycc.YOffset(x, y)] = uint8(x * 9)
			ycc.Cb[ycc.COffset(x, y)] = uint8(y * 20)
			ycc.Cr[ycc.COffset(x, y)] = uint8(200 - y*7)
		}
	}
	for name, img := range map[string]image.Image{"paletted": pal, "nrgba64": n64, "rgba64": r64, "gray": gray, "ycbcr": ycc} {
		got := premultiplied(img)
		want := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(want, want.Rect, img, r.Min, draw.Src)
		for i := range want.Pix {
			if diff(got.Pix[i], want.Pix[i]) > 1 {
				t.Errorf("%s: byte %d = %d, want %d", name, i, got.Pix[i], want.Pix[i])
				break
			}
		}
	}
}

func TestDecode(t *testing.T) {
	src := productShot(64, 48, 0)
	encode := map[Format]func() []byte{
		PNG: func() []byte { var b bytes.Buffer; png.Encode(&b, src); return b.Bytes() },
		JPEG: func() []byte {
			var b bytes.Buffer
			jpeg.Encode(&b, src, nil)
			return b.Bytes()
		},
		TIFF: func() []byte { var b bytes.Buffer; tiff.Encode(&b, src, nil); return b.Bytes() },
		WebP: func() []byte {
			b, err := os.ReadFile("testdata/blue-purple-pink.lossy.webp")
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	}
	for f, enc := range encode {
		img, got, err := Decode(bytes.NewReader(enc()), 6000)
		if err != nil || got != f || img.Bounds().Empty() {
			t.Errorf("%s: got format %q, bounds %v, error %v", f, got, img.Bounds(), err)
		}
	}

	var big bytes.Buffer
	png.Encode(&big, image.NewGray(image.Rect(0, 0, 6001, 1)))
	_, _, err := Decode(bytes.NewReader(big.Bytes()), 6000)
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Width != 6001 || tl.Max != 6000 {
		t.Errorf("6001 px wide: got %v, want a TooLargeError", err)
	}
	if _, _, err := Decode(bytes.NewReader([]byte("GIF89a....")), 6000); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("GIF: got %v, want ErrUnsupportedFormat", err)
	}
	trunc := encode[PNG]()
	if _, _, err := Decode(bytes.NewReader(trunc[:len(trunc)/2]), 6000); err == nil {
		t.Error("truncated PNG: got no error")
	}
}

// TestSmooth compares the 3×3 box filter with a direct computation.
func TestSmooth(t *testing.T) {
	for _, size := range []image.Point{{1, 1}, {1, 4}, {5, 1}, {7, 6}} {
		w, h := size.X, size.Y
		pix := make([]uint8, 4*w*h)
		for i := range pix {
			pix[i] = uint8(i * 37 % 251)
		}
		got := smooth(pix, w, h)
		for y := range h {
			for x := range w {
				for c := range 4 {
					s := 0
					for dy := -1; dy <= 1; dy++ {
						for dx := -1; dx <= 1; dx++ {
							xx, yy := min(w-1, max(0, x+dx)), min(h-1, max(0, y+dy))
							s += int(pix[4*(yy*w+xx)+c])
						}
					}
					want := (s + 4) / 9
					if g := int(got[4*(y*w+x)+c]); g < want-1 || g > want+1 {
						t.Fatalf("%v: (%d,%d,%d) = %d, want %d", size, x, y, c, g, want)
					}
				}
			}
		}
	}
}

// TestBoxCount compares the running box counts with a direct count.
func TestBoxCount(t *testing.T) {
	const w, h = 9, 7
	mark := make([]uint8, w*h)
	for i := range mark {
		mark[i] = uint8(i * 7 % 3)
	}
	for r := 1; r <= 3; r++ {
		got := boxCount(mark, 1, w, h, r)
		for y := range h {
			for x := range w {
				want := 0
				for yy := max(0, y-r); yy <= min(h-1, y+r); yy++ {
					for xx := max(0, x-r); xx <= min(w-1, x+r); xx++ {
						if mark[yy*w+xx] == 1 {
							want++
						}
					}
				}
				if int(got[y*w+x]) != want {
					t.Fatalf("r=%d (%d,%d): %d, want %d", r, x, y, got[y*w+x], want)
				}
			}
		}
	}
}
