package emulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"math"
	"slices"
	"strings"
)

// The stand-ins of /v2/edit's Lightroom settings, all deterministic:
//
//   - autoTone: a per-channel levels stretch from the 1st to the 99th
//     percentile of the opaque pixels;
//   - whiteBalance: per-channel gains (Auto: grey world; the named
//     presets fixed warm or cool gains; As Shot and Custom none);
//   - exposure: a gain of 2^stops in linear light;
//   - blacks and whites: black and white points moved by up to 10%;
//   - contrast: an S-curve (smoothstep mix), dehaze: half as much again
//     plus saturation;
//   - highlights and shadows: bumps of the tone curve around 2/3 and 1/3;
//   - saturation and vibrance: chroma scaled around luma, vibrance more
//     on dull pixels;
//   - vignette: corners darkened (negative) or lightened by up to 50%;
//   - autoStraighten (no geometry change), clarity, texture, sharpen,
//     sharpness and noise reduction: accepted, not rendered;
//   - presets and XMP: fetched (a missing one fails the job), their
//     content ignored; the XMP output records their digests.

// toneLUT builds the per-channel tone curves of e for img.
func toneLUT(img *image.NRGBA, e *lrEdits) [3][256]uint8 {
	var lo, hi, gain [3]float64
	for c := range 3 {
		lo[c], hi[c], gain[c] = 0, 1, 1
	}
	if e.AutoTone {
		lo, hi = percentiles(img, 0.01, 0.99)
	}
	if e.Color != nil {
		gain = whiteBalanceGains(img, e.Color.WhiteBalance)
	}
	var ev, blacks, whites, contrast, highlights, shadows float64
	if l := e.Light; l != nil {
		ev = l.Exposure
		blacks, whites = float64(l.Blacks)/100, float64(l.Whites)/100
		contrast = float64(l.Contrast) / 100
		highlights, shadows = float64(l.Highlights)/100, float64(l.Shadows)/100
	}
	if fx := e.Effects; fx != nil {
		contrast = clampF(contrast+float64(fx.Dehaze)/200, -1, 1)
	}
	bp, wp := -0.1*blacks, 1-0.1*whites
	var lut [3][256]uint8
	for c := range 3 {
		for v := range 256 {
			x := float64(v) / 255
			if hi[c] > lo[c] {
				x = clampF((x-lo[c])/(hi[c]-lo[c]), 0, 1)
			}
			x = linearToSRGB(srgbToLinear(x) * gain[c] * math.Exp2(ev))
			x = clampF((x-bp)/(wp-bp), 0, 1)
			s := x * x * (3 - 2*x)
			x += contrast * (s - x)
			x += 0.25 * (shadows*x*(1-x)*(1-x) + highlights*x*x*(1-x)) * 27 / 4
			lut[c][v] = uint8(math.Round(255 * clampF(x, 0, 1)))
		}
	}
	return lut
}

// applyEdits renders e on img in place.
func applyEdits(img *image.NRGBA, e *lrEdits) {
	if e == nil {
		return
	}
	lut := toneLUT(img, e)
	var sat, vib, vignette float64
	if c := e.Color; c != nil {
		sat, vib = float64(c.Saturation)/100, float64(c.Vibrance)/100
	}
	if fx := e.Effects; fx != nil {
		sat += float64(fx.Dehaze) / 400
		vignette = float64(fx.Vignette) / 100
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	cx, cy := float64(w-1)/2, float64(h-1)/2
	norm := cx*cx + cy*cy
	for y := range h {
		row := img.Pix[y*img.Stride:]
		for x := range w {
			p := row[4*x : 4*x+4 : 4*x+4]
			r, g, b := float64(lut[0][p[0]]), float64(lut[1][p[1]]), float64(lut[2][p[2]])
			if sat != 0 || vib != 0 {
				l := 0.299*r + 0.587*g + 0.114*b
				chroma := (max(r, g, b) - min(r, g, b)) / 255
				f := (1 + sat) * (1 + vib*(1-chroma))
				r, g, b = l+(r-l)*f, l+(g-l)*f, l+(b-l)*f
			}
			if vignette != 0 && norm > 0 {
				dx, dy := float64(x)-cx, float64(y)-cy
				f := 1 + 0.5*vignette*(dx*dx+dy*dy)/norm
				r, g, b = r*f, g*f, b*f
			}
			p[0], p[1], p[2] = clamp8(r), clamp8(g), clamp8(b)
		}
	}
}

func clamp8(v float64) uint8 { return uint8(math.Round(clampF(v, 0, 255))) }

func clampF(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

func srgbToLinear(x float64) float64 {
	if x <= 0.04045 {
		return x / 12.92
	}
	return math.Pow((x+0.055)/1.055, 2.4)
}

func linearToSRGB(x float64) float64 {
	x = clampF(x, 0, 1)
	if x <= 0.0031308 {
		return 12.92 * x
	}
	return 1.055*math.Pow(x, 1/2.4) - 0.055
}

// percentiles returns, per channel, the values below which the fractions
// p and q of img's opaque pixels lie (0 to 1).
func percentiles(img *image.NRGBA, p, q float64) (lo, hi [3]float64) {
	var hist [3][256]int
	n := 0
	for i := 0; i < len(img.Pix); i += 4 {
		if img.Pix[i+3] == 0 {
			continue
		}
		n++
		for c := range 3 {
			hist[c][img.Pix[i+c]]++
		}
	}
	for c := range 3 {
		lo[c], hi[c] = 0, 1
		if n == 0 {
			continue
		}
		acc, loSet := 0, false
		for v := range 256 {
			acc += hist[c][v]
			if !loSet && float64(acc) > p*float64(n) {
				lo[c], loSet = float64(v)/255, true
			}
			if float64(acc) >= q*float64(n) {
				hi[c] = float64(v) / 255
				break
			}
		}
	}
	return lo, hi
}

// whiteBalanceGains returns channel gains for a white balance setting.
func whiteBalanceGains(img *image.NRGBA, wb string) [3]float64 {
	switch wb {
	case "Auto":
		var sum [3]float64
		n := 0.0
		for i := 0; i < len(img.Pix); i += 4 {
			if img.Pix[i+3] == 0 {
				continue
			}
			n++
			for c := range 3 {
				sum[c] += srgbToLinear(float64(img.Pix[i+c]) / 255)
			}
		}
		if n == 0 || sum[0] == 0 || sum[1] == 0 || sum[2] == 0 {
			return [3]float64{1, 1, 1}
		}
		return [3]float64{sum[1] / sum[0], 1, sum[1] / sum[2]}
	case "Daylight":
		return [3]float64{1, 1, 1}
	case "Cloudy":
		return [3]float64{1.06, 1, 0.92}
	case "Shade":
		return [3]float64{1.1, 1, 0.86}
	case "Tungsten":
		return [3]float64{0.8, 1, 1.25}
	case "Fluorescent":
		return [3]float64{0.9, 1, 1.1}
	case "Flash":
		return [3]float64{1.04, 1, 0.95}
	}
	return [3]float64{1, 1, 1}
}

// xmpPacket is the XMP output of an edit: the Camera Raw settings the
// request applied, and digests of the presets and XMP it named.
func xmpPacket(e *lrEdits, presets [][]byte, xmp []byte) []byte {
	var attrs [][2]string
	add := func(k, v string) { attrs = append(attrs, [2]string{k, v}) }
	signed := func(v int) string { return fmt.Sprintf("%+d", v) }
	add("crs:Version", "hotfolder-emulator")
	add("crs:ProcessVersion", "11.0")
	if e != nil {
		if e.AutoTone {
			add("crs:AutoTone", "True")
		}
		if a := e.AutoStraighten; a != nil && a.Enabled {
			mode := a.UprightMode
			if mode == "" {
				mode = "auto"
			}
			add("crs:UprightVersion", "151388160")
			add("hotfolder:AutoStraighten", mode)
		}
		if l := e.Light; l != nil {
			add("crs:Exposure2012", fmt.Sprintf("%+.2f", l.Exposure))
			add("crs:Contrast2012", signed(l.Contrast))
			add("crs:Highlights2012", signed(l.Highlights))
			add("crs:Shadows2012", signed(l.Shadows))
			add("crs:Whites2012", signed(l.Whites))
			add("crs:Blacks2012", signed(l.Blacks))
		}
		if c := e.Color; c != nil {
			add("crs:Saturation", signed(c.Saturation))
			add("crs:Vibrance", signed(c.Vibrance))
			if c.WhiteBalance != "" {
				add("crs:WhiteBalance", c.WhiteBalance)
			}
		}
		if fx := e.Effects; fx != nil {
			add("crs:Clarity2012", signed(fx.Clarity))
			add("crs:Dehaze", signed(fx.Dehaze))
			add("crs:Texture", signed(fx.Texture))
			add("crs:PostCropVignetteAmount", signed(fx.Vignette))
		}
		if sh := e.Sharpen; sh != nil {
			add("crs:SharpenDetail", fmt.Sprint(sh.Detail))
			add("crs:SharpenRadius", fmt.Sprintf("%+.1f", sh.Radius))
			add("crs:SharpenEdgeMasking", fmt.Sprint(sh.EdgeMasking))
		}
		if e.Sharpness != nil {
			add("crs:Sharpness", fmt.Sprint(*e.Sharpness))
		}
		if nr := e.NoiseReduction; nr != nil {
			add("crs:LuminanceSmoothing", fmt.Sprint(nr.Luminance))
			add("crs:ColorNoiseReduction", fmt.Sprint(nr.Color))
		}
	}
	if len(presets) > 0 {
		var ds []string
		for _, p := range presets {
			ds = append(ds, digest(p))
		}
		add("hotfolder:Presets", strings.Join(ds, " "))
	}
	if xmp != nil {
		add("hotfolder:XmpInput", digest(xmp))
		if e != nil && e.Xmp != nil && e.Xmp.Orientation != "" {
			add("hotfolder:XmpOrientation", e.Xmp.Orientation)
		}
	}
	add("crs:HasSettings", "True")

	var b bytes.Buffer
	b.WriteString("<?xpacket begin=\"\ufeff\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n")
	b.WriteString("<x:xmpmeta xmlns:x=\"adobe:ns:meta/\" x:xmptk=\"hotfolder emulator\">\n")
	b.WriteString(" <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n")
	b.WriteString("  <rdf:Description rdf:about=\"\"\n")
	b.WriteString("    xmlns:crs=\"http://ns.adobe.com/camera-raw-settings/1.0/\"\n")
	b.WriteString("    xmlns:hotfolder=\"urn:hotfolder:emulator:1.0\"")
	for _, a := range attrs {
		fmt.Fprintf(&b, "\n    %s=\"%s\"", a[0], xmlEscape(a[1]))
	}
	b.WriteString("/>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>\n")
	return b.Bytes()
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:8])
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// processEdit runs an edit job.
func (s *Server) processEdit(j *job, q *editRequest) ([]outputRecord, *jobFailure) {
	if fail := checkEmulated(q.Outputs); fail != nil {
		return nil, fail
	}
	doc, fail := s.loadDocument(j, imageInput{Source: &q.Image.Source})
	if fail != nil {
		return nil, fail
	}
	var presets [][]byte
	var xmp []byte
	if e := q.Edits; e != nil {
		for i, p := range e.Presets {
			b, fail := s.readRef(j, p.ref(), fmt.Sprintf("edits.presets[%d]", i))
			if fail != nil {
				return nil, fail
			}
			presets = append(presets, b)
		}
		if e.Xmp != nil {
			if xmp, fail = s.readRef(j, e.Xmp.Source, "edits.xmp"); fail != nil {
				return nil, fail
			}
			for i, m := range e.Xmp.Masks {
				if _, fail := s.readRef(j, m.Source, fmt.Sprintf("edits.xmp.masks[%d]", i)); fail != nil {
					return nil, fail
				}
			}
		}
	}
	applyEdits(doc.img, q.Edits)
	packet := xmpPacket(q.Edits, presets, xmp)
	return s.writeOutputs(j, q.Outputs, func(_ int, o outputSpec) ([]byte, *jobFailure) {
		if o.MediaType == mediaXMP {
			return slices.Clone(packet), nil
		}
		return renderImage(doc, outputSpec{MediaType: o.MediaType, Quality: o.Quality, Compression: o.Compression})
	})
}
