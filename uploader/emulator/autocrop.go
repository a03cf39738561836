package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"math"
	"strconv"
	"strings"

	"hotfolder/uploader/emulator/cutout"
)

// The render of /v1/auto-crop. The subject is the bounding box of the
// cutout (package cutout; the whole image when it finds none).
//
//   - smartCrop and subjectCrop: one crop per aspect ratio (default 1:1):
//     the largest box of that ratio inside the image, scaled by its zoom
//     (default 1), centred on the subject's centre and shifted inside the
//     image; subject and objects are empty.
//   - fullSceneDetection: subject lists the subject's box; objects one
//     "subject" object with it; no crops.
//   - objectDetection: one object per focus term, each with the subject's
//     box (the emulator tells no objects apart); no crops.
//
// Boxes are in input pixels. With outputType images (the default) each
// box has the URL of a hosted image of it, in the input's format
// (image.mediaType, or the file's own); the AutoCropOutput is
// result.outputs[0] (photoshop-v2-ops.md §6).

// autoCropResult is the recorded AutoCropOutput; URLs are signed when the
// status is read.
type autoCropResult struct {
	Subject []cropRecord   `json:"subject"`
	Objects []objectRecord `json:"objects"`
	Crops   []cropRecord   `json:"crops"`
}

type cropRecord struct {
	Boxes []boxRecord `json:"boundingBoxes"`
}

type objectRecord struct {
	Name       string      `json:"objectName"`
	Boxes      []boxRecord `json:"boundingBoxes"`
	Confidence float64     `json:"confidence"`
}

type boxRecord struct {
	X, Y, W, H int
	File       string `json:",omitempty"` // hosted image of the box
}

// processAutoCrop runs an auto-crop job.
func (s *Server) processAutoCrop(j *job, q *autoCropRequest) (*autoCropResult, *jobFailure) {
	img, format, fail := s.loadImage(j, fileRef{URL: q.Image.Source.URL}, "the input image")
	if fail != nil {
		return nil, fail
	}
	if format != mediaJPEG && format != mediaPNG && format != mediaWebP {
		return nil, failf("unsupported_input", "AutoCrop reads JPEG, PNG and WebP images, not %s", formatName(format))
	}
	if q.Image.MediaType != "" {
		format = q.Image.MediaType // the crops' format is the declared one
	}
	cut, _ := cutout.Cut(img)
	subject := cutout.Opaque(cut)
	if subject.Empty() {
		subject = img.Rect
	}
	images := q.OutputType != "boundingBoxes"
	res := &autoCropResult{Subject: []cropRecord{}, Objects: []objectRecord{}, Crops: []cropRecord{}}
	var files []string
	box := func(r image.Rectangle) (boxRecord, *jobFailure) {
		b := boxRecord{X: r.Min.X, Y: r.Min.Y, W: r.Dx(), H: r.Dy()}
		if !images {
			return b, nil
		}
		name := uuid() + extensions[format]
		part := crop(img, r)
		if err := s.writeResult(name, func(w io.Writer) error { return encodeImage(w, part, format, "maximum", "") }); err != nil {
			return b, failf("500600", "Internal server error: a crop could not be stored: %v", err)
		}
		files = append(files, name)
		b.File = name
		return b, nil
	}
	fail = func() *jobFailure {
		switch q.Mode {
		case "fullSceneDetection", "objectDetection":
			names := q.Focus
			if q.Mode == "fullSceneDetection" {
				names = []string{"subject"}
			}
			b, fail := box(subject)
			if fail != nil {
				return fail
			}
			if q.Mode == "fullSceneDetection" {
				res.Subject = append(res.Subject, cropRecord{Boxes: []boxRecord{b}})
			}
			for _, n := range names {
				res.Objects = append(res.Objects, objectRecord{Name: n, Boxes: []boxRecord{b}, Confidence: 0.5})
			}
		default:
			ratios := []string{"1:1"}
			if q.AspectRatio != nil {
				ratios = q.AspectRatio.Values
			}
			for i, ratio := range ratios {
				zoom := 1.0
				if z := q.Zoom; z != nil {
					zoom = z.Values[min(i, len(z.Values)-1)]
				}
				r, err := ratioBox(img.Rect, subject, ratio, zoom)
				if err != nil {
					return failf("400401", "The value provided is not valid: %v", err)
				}
				b, fail := box(r)
				if fail != nil {
					return fail
				}
				res.Crops = append(res.Crops, cropRecord{Boxes: []boxRecord{b}})
			}
		}
		return nil
	}()
	if fail != nil {
		s.removeResults(files)
		return nil, fail
	}
	return res, nil
}

// ratioBox is the largest box of ratio ("W:H") inside bounds, scaled by
// zoom, centred on subject's centre and shifted inside bounds.
func ratioBox(bounds, subject image.Rectangle, ratio string, zoom float64) (image.Rectangle, error) {
	a, b, ok := strings.Cut(ratio, ":")
	rw, err1 := strconv.Atoi(a)
	rh, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || rw <= 0 || rh <= 0 {
		return image.Rectangle{}, fmt.Errorf("aspect ratio %q", ratio)
	}
	W, H := float64(bounds.Dx()), float64(bounds.Dy())
	r := float64(rw) / float64(rh)
	w, h := W, W/r
	if h > H {
		w, h = H*r, H
	}
	w, h = w*zoom, h*zoom
	iw, ih := max(1, int(math.Round(w))), max(1, int(math.Round(h)))
	c := subject.Min.Add(subject.Max).Div(2)
	x := min(max(c.X-iw/2, bounds.Min.X), bounds.Max.X-iw)
	y := min(max(c.Y-ih/2, bounds.Min.Y), bounds.Max.Y-ih)
	return image.Rect(x, y, x+iw, y+ih), nil
}

// autoCropJSON renders a recorded result as AutoCropOutput, url signed by
// sign.
func autoCropJSON(res *autoCropResult, sign func(file string) string) json.RawMessage {
	type box struct {
		X      int    `json:"x"`
		Y      int    `json:"y"`
		Width  int    `json:"width"`
		Height int    `json:"height"`
		URL    string `json:"url,omitempty"`
	}
	type cropOut struct {
		Boxes []box `json:"boundingBoxes"`
	}
	type objectOut struct {
		Name       string  `json:"objectName"`
		Boxes      []box   `json:"boundingBoxes"`
		Confidence float64 `json:"confidence"`
	}
	boxes := func(bs []boxRecord) []box {
		out := []box{}
		for _, b := range bs {
			o := box{X: b.X, Y: b.Y, Width: b.W, Height: b.H}
			if b.File != "" {
				o.URL = sign(b.File)
			}
			out = append(out, o)
		}
		return out
	}
	crops := func(cs []cropRecord) []cropOut {
		out := []cropOut{}
		for _, c := range cs {
			out = append(out, cropOut{Boxes: boxes(c.Boxes)})
		}
		return out
	}
	objects := []objectOut{}
	for _, o := range res.Objects {
		objects = append(objects, objectOut{Name: o.Name, Boxes: boxes(o.Boxes), Confidence: o.Confidence})
	}
	var buf bytes.Buffer
	json.NewEncoder(&buf).Encode(struct {
		Subject []cropOut   `json:"subject"`
		Objects []objectOut `json:"objects"`
		Crops   []cropOut   `json:"crops"`
	}{crops(res.Subject), objects, crops(res.Crops)})
	return bytes.TrimSpace(buf.Bytes())
}
