package emulator

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"regexp"
	"strconv"
	"strings"

	"hotfolder/uploader/emulator/cutout"
)

// The stand-ins of /v2/execute-actions. The emulator runs no Photoshop
// action; it renders each one as something visible and deterministic:
//
//   - an action file by URL (.atn, or an external ActionJSON file) and a
//     UXP script: a tint, 25% of a colour taken from the SHA-256 of the
//     file's bytes and the actionName, so two action files differ and the
//     same file always gives the same result;
//   - inline ActionJSON, step by step: convertMode to grayscale makes the
//     document grayscale (to RGB changes nothing); placeEvent of
//     __ADDITIONAL_CONTENTS_PATH_i__ (or ACTION_JSON_OPTIONS_ADDITIONAL_IMAGES_i)
//     places additionalContents[i] centred, at its own size; Adobe's
//     product-crop recipe, from autoCutout through its canvasSize to its
//     last trim, runs the product crop; any other step is a tint from the
//     step's JSON;
//   - the product crop: the subject's bounding box (package cutout),
//     transparent outside the subject, on a canvas grown by canvasSize's
//     width and height, in pixels or percent of the box, and centred the
//     way Photoshop's relative canvasSize grows it (half on each side).
//     The recipe's last trim would take the transparent padding off again
//     in a literal reading; the guide says the padding is the point, and
//     the emulator keeps it.
//
// Actions run in array order, then the UXP script. brushes, patterns and
// fonts are fetched (an unreachable one fails the job) and not used.

// processActions runs an execute-actions job.
func (s *Server) processActions(j *job, q *actionsRequest) ([]outputRecord, *jobFailure) {
	if fail := checkEmulated(q.Outputs); fail != nil {
		return nil, fail
	}
	doc, fail := s.loadDocument(j, q.Image)
	if fail != nil {
		return nil, fail
	}
	o := q.Options
	for name, list := range map[string][]sourced{"options.brushes": o.Brushes, "options.patterns": o.Patterns} {
		for i, r := range list {
			if _, fail := s.readRef(j, r.Source, fmt.Sprintf("%s[%d]", name, i)); fail != nil {
				return nil, fail
			}
		}
	}
	if f := o.FontOptions; f != nil {
		for i, r := range f.AdditionalFonts {
			if _, fail := s.readRef(j, r.Source, fmt.Sprintf("options.fontOptions.additionalFonts[%d]", i)); fail != nil {
				return nil, fail
			}
		}
	}
	ctx := &actionContext{s: s, j: j, doc: doc, extra: o.AdditionalContents}
	for i, a := range o.Actions {
		what := fmt.Sprintf("options.actions[%d]", i)
		if a.Source.Content != nil {
			if fail := ctx.runActionJSON(*a.Source.Content, what); fail != nil {
				return nil, fail
			}
			continue
		}
		b, fail := s.readRef(j, a.Source, what)
		if fail != nil {
			return nil, fail
		}
		tint(doc.img, sha256.Sum256(append(append(b, 0), a.ActionName...)))
	}
	if u := o.Uxp; u != nil {
		b, fail := s.readRef(j, u.Source, "options.uxp")
		if fail != nil {
			return nil, fail
		}
		tint(doc.img, sha256.Sum256(append([]byte("uxp\x00"), b...)))
	}
	return s.writeOutputs(j, q.Outputs, func(_ int, o outputSpec) ([]byte, *jobFailure) {
		return renderPhotoshopOutput(doc, o)
	})
}

// actionContext is what inline ActionJSON steps work with.
type actionContext struct {
	s     *Server
	j     *job
	doc   *document
	extra []sourced // options.additionalContents
}

// productCropSteps are the steps of Adobe's product-crop recipe after its
// autoCutout.
var productCropSteps = map[string]bool{
	"make": true, "newPlacedLayer": true, "trim": true, "canvasSize": true,
	"placedLayerConvertToLayers": true, "delete": true,
}

// runActionJSON interprets an inline ActionJSON array (validated at
// submission as an array of objects).
func (c *actionContext) runActionJSON(content, what string) *jobFailure {
	var steps []map[string]any
	if err := json.Unmarshal([]byte(content), &steps); err != nil {
		return failf("400401", "The value provided is not valid: %s: inline ActionJSON: %v", what, err)
	}
	for i := 0; i < len(steps); i++ {
		step := steps[i]
		obj, _ := step["_obj"].(string)
		switch obj {
		case "autoCutout":
			var canvas map[string]any
			for i+1 < len(steps) {
				next, _ := steps[i+1]["_obj"].(string)
				if !productCropSteps[next] {
					break
				}
				if next == "canvasSize" {
					canvas = steps[i+1]
				}
				i++
			}
			if fail := c.productCrop(canvas); fail != nil {
				return fail
			}
		case "convertMode":
			to := strings.ToLower(fmt.Sprint(step["to"]))
			switch {
			case strings.Contains(to, "gray"):
				c.doc.gray = true
				c.doc.img = toNRGBA(grayOf(c.doc.img))
			case strings.Contains(to, "rgb"):
				c.doc.gray = false
			default:
				tintStep(c.doc.img, step)
			}
		case "placeEvent":
			if idx, ok := additionalIndex(step); ok {
				if fail := c.place(idx, fmt.Sprintf("%s step %d", what, i)); fail != nil {
					return fail
				}
				continue
			}
			tintStep(c.doc.img, step)
		default:
			tintStep(c.doc.img, step)
		}
	}
	return nil
}

var additionalPath = regexp.MustCompile(`^(?:__ADDITIONAL_CONTENTS_PATH_|ACTION_JSON_OPTIONS_ADDITIONAL_IMAGES_)(\d+)_*$`)

// additionalIndex returns the additionalContents index a placeEvent's
// path names.
func additionalIndex(step map[string]any) (int, bool) {
	null, _ := step["null"].(map[string]any)
	path, _ := null["_path"].(string)
	m := additionalPath.FindStringSubmatch(path)
	if m == nil {
		return 0, false
	}
	i, err := strconv.Atoi(m[1])
	return i, err == nil
}

// place draws additionalContents[idx] centred on the document, as a new
// layer.
func (c *actionContext) place(idx int, what string) *jobFailure {
	if idx >= len(c.extra) {
		return failf("400401", "The value provided is not valid: %s places __ADDITIONAL_CONTENTS_PATH_%d__, but options.additionalContents has %d entries", what, idx, len(c.extra))
	}
	img, _, fail := c.s.loadImage(c.j, c.extra[idx].Source, fmt.Sprintf("options.additionalContents[%d]", idx))
	if fail != nil {
		return fail
	}
	b := c.doc.img.Rect
	at := image.Pt((b.Dx()-img.Rect.Dx())/2, (b.Dy()-img.Rect.Dy())/2)
	overlay(c.doc.img, img, at, 1)
	c.doc.layers = append(c.doc.layers, docLayer{name: fmt.Sprintf("additional content %d", idx), typ: "layer", bounds: img.Rect.Add(at).Intersect(b)})
	return nil
}

// productCrop runs Adobe's product-crop recipe on the document: cut out,
// trim to the subject, grow the canvas by the canvasSize step's padding.
func (c *actionContext) productCrop(canvas map[string]any) *jobFailure {
	cut, _ := cutout.Cut(c.doc.img)
	box := cutout.Opaque(cut)
	if box.Empty() {
		return failf("runtime_error", "autoCutout found no subject in the image (the product crop has nothing to keep)")
	}
	padW, fail := padding(canvas, "width", box.Dx())
	if fail != nil {
		return fail
	}
	padH, fail := padding(canvas, "height", box.Dy())
	if fail != nil {
		return fail
	}
	w, h := box.Dx()+padW, box.Dy()+padH
	out := image.NewNRGBA(image.Rect(0, 0, max(1, w), max(1, h)))
	at := image.Pt(padW/2, padH/2)
	for y := range box.Dy() {
		if y+at.Y < 0 || y+at.Y >= out.Rect.Dy() {
			continue
		}
		src := cut.Pix[(box.Min.Y+y)*cut.Stride+box.Min.X*4:][:4*box.Dx()]
		dst := out.Pix[(y+at.Y)*out.Stride:]
		for x := range box.Dx() {
			if dx := x + at.X; dx >= 0 && dx < out.Rect.Dx() {
				copy(dst[4*dx:4*dx+4], src[4*x:4*x+4])
			}
		}
	}
	c.doc.img = out
	c.doc.layers = []docLayer{{name: "Layer 0", typ: "layer", bounds: image.Rectangle{Min: at, Max: at.Add(box.Size())}.Intersect(out.Rect)}}
	return nil
}

// padding is how many pixels a canvasSize step adds to a side of size n
// (its width or height measurement: pixelsUnit, or percentUnit of n).
func padding(step map[string]any, dim string, n int) (int, *jobFailure) {
	if step == nil {
		return 0, nil
	}
	m, ok := step[dim].(map[string]any)
	if !ok {
		return 0, nil
	}
	v, ok := m["_value"].(float64)
	if !ok || math.IsNaN(v) || v < -1e6 || v > 1e6 {
		return 0, failf("400401", "The value provided is not valid: canvasSize %s._value must be a number", dim)
	}
	switch unit, _ := m["_unit"].(string); unit {
	case "pixelsUnit", "":
		return int(math.Round(v)), nil
	case "percentUnit":
		return int(math.Round(float64(n) * v / 100)), nil
	default:
		return 0, failf("unsupported_option", "canvasSize %s in %s is not emulated (use pixelsUnit or percentUnit)", dim, unit)
	}
}

// tintStep tints img by an action step's JSON (keys sorted: stable).
func tintStep(img *image.NRGBA, step map[string]any) {
	b, _ := json.Marshal(step)
	tint(img, sha256.Sum256(b))
}

// tint mixes 25% of the colour key[0:3] into every pixel of img, keeping
// alpha: the emulator's visible, deterministic stand-in for an action.
func tint(img *image.NRGBA, key [32]byte) {
	for i := 0; i < len(img.Pix); i += 4 {
		for c := range 3 {
			img.Pix[i+c] = uint8((3*uint32(img.Pix[i+c]) + uint32(key[c]) + 2) / 4)
		}
	}
}

// overlay draws src over dst with its top-left corner at at, its alpha
// scaled by opacity (0 to 1): Porter-Duff over, non-premultiplied.
func overlay(dst, src *image.NRGBA, at image.Point, opacity float64) {
	r := src.Rect.Add(at.Sub(src.Rect.Min)).Intersect(dst.Rect)
	op := uint32(math.Round(clampF(opacity, 0, 1) * 255))
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			sx, sy := x-at.X+src.Rect.Min.X, y-at.Y+src.Rect.Min.Y
			s := src.Pix[(sy-src.Rect.Min.Y)*src.Stride+(sx-src.Rect.Min.X)*4:][:4:4]
			d := dst.Pix[(y-dst.Rect.Min.Y)*dst.Stride+(x-dst.Rect.Min.X)*4:][:4:4]
			sa := uint32(s[3]) * op / 255
			if sa == 0 {
				continue
			}
			da := uint32(d[3])
			oa := sa*255 + da*(255-sa) // ×255
			for c := range 3 {
				d[c] = uint8((uint32(s[c])*sa*255 + uint32(d[c])*da*(255-sa) + oa/2) / oa)
			}
			d[3] = uint8((oa + 127) / 255)
		}
	}
}
