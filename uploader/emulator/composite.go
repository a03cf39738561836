package emulator

import (
	"fmt"
	"image"
	"math"
)

// The renders of /v2/create-composite:
//
//   - edits.layers first, in order: adding an image layer ("type":
//     "layer", operation add) draws the image at its own size with its
//     top-left corner at transform.offset (default the document's
//     top-left), with blendOptions.opacity, above the document (placement
//     top, above, into or the default) or under it (bottom, below: seen
//     only through transparency); blend modes other than normal are drawn
//     as normal. Other layer operations are not emulated (the job fails).
//   - then edits.document, in Adobe's order: resize (pixels_unit or
//     percent_unit; constrainProportions keeps the ratio from the width
//     when both are given), crop to bounds, trim transparent pixels.
//   - outputs: per output cropMode trim_to_transparency, width, height,
//     maxWidth with resample, quality, compression; an iccProfile is
//     accepted and tags nothing: pixels stay sRGB, except that a grayscale
//     profile or imageMode makes the output grayscale; a custom profile's
//     file is fetched (an unreachable one fails the job) and not applied.

// processComposite runs a create-composite job.
func (s *Server) processComposite(j *job, q *compositeRequest) ([]outputRecord, *jobFailure) {
	if fail := checkEmulated(q.Outputs); fail != nil {
		return nil, fail
	}
	doc, fail := s.loadDocument(j, q.Image)
	if fail != nil {
		return nil, fail
	}
	if e := q.Edits; e != nil {
		for i, l := range e.Layers {
			if fail := s.addLayer(j, doc, i, l); fail != nil {
				return nil, fail
			}
		}
		if d := e.Document; d != nil {
			if r := d.Resize; r != nil {
				w, h, fail := resizeTarget(doc.img.Rect.Dx(), doc.img.Rect.Dy(), r.Width, r.Height, r.ConstrainProportions == nil || *r.ConstrainProportions)
				if fail != nil {
					return nil, fail
				}
				resample := r.Resample
				if resample == "" {
					resample = "bilinear" // the spec's default for a document resize
				}
				doc.img = resize(doc.img, w, h, resample)
			}
			if c := d.Crop; c != nil {
				b := image.Rect(c.Bounds.Left, c.Bounds.Top, c.Bounds.Right, c.Bounds.Bottom)
				if b.Intersect(doc.img.Rect).Empty() {
					return nil, failf("400401", "The value provided is not valid: edits.document.crop.bounds %v lie outside the %d×%d document", b, doc.img.Rect.Dx(), doc.img.Rect.Dy())
				}
				doc.img = crop(doc.img, b)
			}
			if d.Trim != nil {
				doc.img = trimTransparent(doc.img)
			}
			for i := range doc.layers {
				doc.layers[i].bounds = doc.img.Rect
			}
		}
	}
	for i, o := range q.Outputs {
		if p := o.IccProfile; p != nil && p.Source != nil {
			if _, fail := s.readRef(j, *p.Source, fmt.Sprintf("outputs[%d].iccProfile.source", i)); fail != nil {
				return nil, fail
			}
		}
	}
	return s.writeOutputs(j, q.Outputs, func(_ int, o outputSpec) ([]byte, *jobFailure) {
		return renderPhotoshopOutput(doc, o)
	})
}

// addLayer applies edits.layers[i] to doc.
func (s *Server) addLayer(j *job, doc *document, i int, l layerOp) *jobFailure {
	if l.Type != "layer" || l.Operation.Type != "add" || l.Image == nil {
		return failf("unsupported_option", "edits.layers[%d]: %s operation %q is not emulated by the hotfolder emulator (it adds image layers only)",
			i, orNone(l.Type), l.Operation.Type)
	}
	if l.IsVisible != nil && !*l.IsVisible {
		return nil
	}
	img, _, fail := s.loadImage(j, l.Image.Source, fmt.Sprintf("edits.layers[%d].image", i))
	if fail != nil {
		return fail
	}
	var at image.Point
	if t := l.Transform; t != nil && t.Offset != nil {
		at = image.Pt(t.Offset.Horizontal, t.Offset.Vertical)
	}
	opacity := 1.0
	if b := l.BlendOptions; b != nil && b.Opacity != nil {
		opacity = float64(*b.Opacity) / 100
	}
	name := l.Name
	if name == "" {
		name = fmt.Sprintf("Layer %d", len(doc.layers))
	}
	layer := docLayer{name: name, typ: "layer", bounds: img.Rect.Add(at).Intersect(doc.img.Rect)}
	if p := l.Operation.Placement; p != nil && (p.Type == "bottom" || p.Type == "below") {
		under := image.NewNRGBA(doc.img.Rect)
		overlay(under, img, at, opacity)
		overlay(under, doc.img, image.Point{}, 1)
		doc.img = under
		doc.layers = append([]docLayer{layer}, doc.layers...)
		return nil
	}
	overlay(doc.img, img, at, opacity)
	doc.layers = append(doc.layers, layer)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(no type)"
	}
	return s
}

// resizeTarget is the size a document resize asks for.
func resizeTarget(w, h int, dw, dh *dimension, constrain bool) (int, int, *jobFailure) {
	px := func(d *dimension, n int) (int, *jobFailure) {
		switch d.Unit {
		case "", "pixels_unit":
			return d.Value, nil
		case "percent_unit":
			return int(math.Round(float64(n) * float64(d.Value) / 100)), nil
		}
		return 0, failf("unsupported_option", "a resize in %s is not emulated (use pixels_unit or percent_unit)", d.Unit)
	}
	tw, th := w, h
	var fail *jobFailure
	if dw != nil {
		if tw, fail = px(dw, w); fail != nil {
			return 0, 0, fail
		}
	}
	if dh != nil {
		if th, fail = px(dh, h); fail != nil {
			return 0, 0, fail
		}
	}
	if constrain {
		switch {
		case dw != nil:
			th = int(math.Round(float64(h) * float64(tw) / float64(w)))
		case dh != nil:
			tw = int(math.Round(float64(w) * float64(th) / float64(h)))
		}
	}
	if tw < 1 || th < 1 || tw > maxPSSide || th > maxPSSide {
		return 0, 0, failf("400401", "The value provided is not valid: the resize makes a %d×%d document (1 to %d pixels a side)", tw, th, maxPSSide)
	}
	return tw, th, nil
}
