package emulator

import (
	"encoding/json"
	"image"
)

// manifest is the JSON document generate-manifest writes (and the
// application/json output of the Photoshop endpoints). Adobe's guides
// describe two shapes (photoshop-v2-ops.md §8 and §9): the document-level
// fields of the response guide (title, bounds, imageMode, depth,
// iccProfile, resolution) and the sample's (name, width, height, mode,
// imageInfo.format); the emulator writes both sets.
type manifest struct {
	Document manifestDocument `json:"document"`
	Layers   []manifestLayer  `json:"layers"`
}

type manifestDocument struct {
	Name             string          `json:"name"`
	Title            string          `json:"title"`
	Width            int             `json:"width"`
	Height           int             `json:"height"`
	Bounds           manifestBounds  `json:"bounds"`
	Depth            int             `json:"depth"`
	ImageMode        string          `json:"imageMode"`
	Mode             string          `json:"mode"`
	IccProfile       string          `json:"iccProfile,omitempty"`
	Resolution       json.RawMessage `json:"resolution"`
	PixelScaleFactor float64         `json:"pixelScaleFactor"`
	ImageInfo        struct {
		Format string `json:"format"`
	} `json:"imageInfo"`
	Xmp *string `json:"xmp,omitempty"`
}

type manifestBounds struct {
	Left   int `json:"left"`
	Top    int `json:"top"`
	Right  int `json:"right"`
	Bottom int `json:"bottom"`
}

type manifestLayer struct {
	ID         int            `json:"id"`
	Index      int            `json:"index"`
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Visible    bool           `json:"visible"`
	Protection []string       `json:"protection"`
	Bounds     manifestBounds `json:"bounds"`
}

func boundsOf(r image.Rectangle) manifestBounds {
	return manifestBounds{Left: r.Min.X, Top: r.Min.Y, Right: r.Max.X, Bottom: r.Max.Y}
}

// manifestOf describes doc. Its layers are listed top first, as
// Photoshop's manifests do; includeXmp adds an empty document XMP (the
// emulator keeps no input metadata).
func manifestOf(doc *document, includeXmp bool) manifest {
	b := doc.img.Rect
	mode := "rgb"
	if doc.gray {
		mode = "grayscale"
	}
	m := manifest{Document: manifestDocument{
		Name:             doc.name,
		Title:            doc.name,
		Width:            b.Dx(),
		Height:           b.Dy(),
		Bounds:           boundsOf(b),
		Depth:            8,
		ImageMode:        mode,
		Mode:             mode,
		IccProfile:       "sRGB IEC61966-2.1",
		Resolution:       json.RawMessage(`{"value":72,"unit":"density_unit"}`),
		PixelScaleFactor: 1,
	}}
	if doc.gray {
		m.Document.IccProfile = "Gray Gamma 2.2"
	}
	m.Document.ImageInfo.Format = imageFormatName(doc.format)
	if includeXmp {
		empty := ""
		m.Document.Xmp = &empty
	}
	n := len(doc.layers)
	for i := range doc.layers {
		l := doc.layers[n-1-i]
		prot := []string{"none"}
		if l.typ == "background_layer" {
			prot = []string{"transparency", "position"}
		}
		m.Layers = append(m.Layers, manifestLayer{
			ID: n - i, Index: n - 1 - i, Name: l.name, Type: l.typ, Visible: true, Protection: prot, Bounds: boundsOf(l.bounds),
		})
	}
	return m
}

// processManifest runs a generate-manifest job.
func (s *Server) processManifest(j *job, q *manifestRequest) ([]outputRecord, *jobFailure) {
	doc, fail := s.loadDocument(j, imageInput{Source: &q.Image.Source})
	if fail != nil {
		return nil, fail
	}
	b, err := json.Marshal(manifestOf(doc, q.IncludeXmp))
	if err != nil {
		return nil, failf("500600", "Internal server error: %v", err)
	}
	return s.writeOutputs(j, q.Outputs, func(int, outputSpec) ([]byte, *jobFailure) { return b, nil })
}
