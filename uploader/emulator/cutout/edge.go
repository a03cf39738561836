package cutout

import "math"

// edgeBand is how far (in pixels) from the background a subject pixel may
// be mixed with it: anti-aliasing and lens blur span one or two pixels.
const edgeBand = 2

// minEdgeAlpha is the least coverage an edge pixel keeps; below it the
// pixel is taken for backdrop.
const minEdgeAlpha = 0.06

// refineEdge pulls the alpha of the subject's outermost pixels from their
// colour rather than their geometry, and removes the background colour
// mixed into them (colour decontamination): a pixel halfway between the
// subject and a white backdrop becomes half-transparent subject colour, not
// an opaque light fringe.
//
// For each subject pixel within edgeBand of the background, F is the mean
// colour of the nearby interior subject pixels and B that of the nearby
// background pixels; alpha is |c−B| / |F−B| and the colour is
// B + (c−B)/alpha. Where F and B are too alike to tell apart, or there is
// no interior nearby (thin wires), the geometric feather is kept.
func refineEdge(pix, mark, alpha []uint8, w, h int, m *model) {
	near := boxCount(mark, background, w, h, edgeBand)
	minSep2 := max(float64(m.global2)*2.25, 30*30)
	const fr = edgeBand + 1 // interior pixels to average reach one further
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			if mark[i] != subject || near[i] == 0 {
				continue
			}
			var f, b [4]float64
			nf, nb := 0, 0
			for yy := max(0, y-fr); yy <= min(h-1, y+fr); yy++ {
				for xx := max(0, x-fr); xx <= min(w-1, x+fr); xx++ {
					j := yy*w + xx
					switch {
					case mark[j] == subject && near[j] == 0:
						for c := range 4 {
							f[c] += float64(pix[4*j+c])
						}
						nf++
					case mark[j] == background && abs(xx-x) <= edgeBand && abs(yy-y) <= edgeBand:
						for c := range 4 {
							b[c] += float64(pix[4*j+c])
						}
						nb++
					}
				}
			}
			if nf == 0 || nb == 0 {
				continue
			}
			var sep2, off2 float64
			var cur [4]float64
			for c := range 4 {
				f[c] /= float64(nf)
				b[c] /= float64(nb)
				cur[c] = float64(pix[4*i+c])
				sep2 += (f[c] - b[c]) * (f[c] - b[c])
				off2 += (cur[c] - b[c]) * (cur[c] - b[c])
			}
			if sep2 < minSep2 {
				continue
			}
			a := math.Min(1, math.Sqrt(off2/sep2))
			if a < minEdgeAlpha {
				// Backdrop the fill stopped just short of (its colour is
				// the background's): transparent, not a faint haze.
				alpha[i] = 0
				continue
			}
			alpha[i] = uint8(math.Round(a * 255))
			p := pix[4*i : 4*i+4 : 4*i+4]
			for c := range 4 {
				p[c] = uint8(math.Round(math.Max(0, math.Min(255, b[c]+(cur[c]-b[c])/a))))
			}
			// Premultiplied colour may not exceed its alpha.
			for c := range 3 {
				p[c] = min(p[c], p[3])
			}
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
