package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"unicode/utf8"
)

// document is the image a Photoshop job works on: flat 8-bit RGBA, plus
// what a manifest reports about it.
type document struct {
	img    *image.NRGBA
	name   string // the input's file name, or the blank document's name
	format string // the input's media type; "" for a blank document
	gray   bool   // converted to grayscale (convertMode, imageMode)
	layers []docLayer
}

// docLayer is a layer a manifest lists. The emulator's documents are
// flat; it keeps the names of the layers added to them.
type docLayer struct {
	name, typ string
	bounds    image.Rectangle
}

// outputRecord is what a job recorded of one delivered output, for its
// status.
type outputRecord struct {
	// Echo is the request's output object without its destination: the
	// status echoes it.
	Echo      json.RawMessage `json:"echo,omitempty"`
	MediaType string          `json:"mediaType"`
	Hosted    string          `json:"hosted,omitempty"`   // result file of a hosted output
	Validity  int             `json:"validity,omitempty"` // its validityPeriod, seconds
	URL       string          `json:"url,omitempty"`      // presigned URL the bytes were PUT to
	Embedded  string          `json:"embedded,omitempty"` // string, base64 or json
	Content   json.RawMessage `json:"content,omitempty"`  // the embedded content, as a JSON value
}

// outputEchoes returns the request's outputs without their destinations.
func outputEchoes(body []byte) []json.RawMessage {
	var req struct {
		Outputs []map[string]json.RawMessage `json:"outputs"`
	}
	json.Unmarshal(body, &req)
	out := make([]json.RawMessage, len(req.Outputs))
	for i, o := range req.Outputs {
		delete(o, "destination")
		out[i], _ = json.Marshal(o)
	}
	return out
}

// checkEmulated fails a job before any work when one of its outputs asks
// for what the emulator cannot produce.
func checkEmulated(outs []outputSpec) *jobFailure {
	for i, o := range outs {
		switch {
		case o.MediaType == mediaDNG:
			return failf("unsupported_option", "outputs[%d]: DNG output (image/x-adobe-dng) is not emulated by the hotfolder emulator", i)
		case o.MediaType == mediaPSDC || o.MediaType == mediaPSDCUCF:
			return failf("unsupported_option", "outputs[%d]: cloud documents (%s) are not emulated by the hotfolder emulator", i, o.MediaType)
		case o.Destination.kind() == destCC:
			return failf("unsupported_option", "outputs[%d]: Creative Cloud destinations are not emulated by the hotfolder emulator (use a hosted, URL or embedded destination)", i)
		}
	}
	return nil
}

// renderFunc encodes output i of a job.
type renderFunc func(i int, o outputSpec) ([]byte, *jobFailure)

// writeOutputs renders and delivers every output of j in order. When one
// fails, the hosted files already written are removed.
func (s *Server) writeOutputs(j *job, outs []outputSpec, render renderFunc) ([]outputRecord, *jobFailure) {
	if fail := checkEmulated(outs); fail != nil {
		return nil, fail
	}
	echoes := outputEchoes(j.body)
	var recs []outputRecord
	cleanup := func() {
		for _, r := range recs {
			if r.Hosted != "" {
				os.Remove(filepath.Join(s.dir, resultsDir, r.Hosted))
			}
		}
	}
	for i, o := range outs {
		if s.ctx.Err() != nil {
			cleanup()
			return nil, cutOff()
		}
		data, fail := render(i, o)
		if fail != nil {
			cleanup()
			return nil, fail
		}
		rec, fail := s.deliver(i, o, data)
		if fail != nil {
			cleanup()
			return nil, fail
		}
		if i < len(echoes) {
			rec.Echo = echoes[i]
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// deliver puts an output's bytes where its destination says.
func (s *Server) deliver(i int, o outputSpec, data []byte) (outputRecord, *jobFailure) {
	rec := outputRecord{MediaType: o.MediaType}
	d := o.Destination
	switch d.kind() {
	case destHosted:
		ext, ok := extensions[o.MediaType]
		if !ok {
			ext = ".bin"
		}
		name := uuid() + ext
		if err := s.writeResult(name, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
			return rec, failf("500600", "Internal server error: outputs[%d] could not be stored: %v", i, err)
		}
		rec.Hosted, rec.Validity = name, d.validity()
	case destURL:
		if fail := s.put(i, d.URL, o.MediaType, data); fail != nil {
			return rec, fail
		}
		rec.URL = d.URL
	case destEmbedded:
		rec.Embedded = d.Embedded
		switch d.Embedded {
		case "base64":
			rec.Content, _ = json.Marshal(base64.StdEncoding.EncodeToString(data))
		case "json":
			var c bytes.Buffer
			if err := json.Compact(&c, data); err != nil {
				return rec, failf("422404", "Unable to process outputs: outputs[%d] is %s, not JSON, and cannot be embedded as json (use base64)", i, o.MediaType)
			}
			rec.Content = c.Bytes()
		default:
			if !utf8.Valid(data) {
				return rec, failf("422404", "Unable to process outputs: outputs[%d] is %s, binary data that cannot be embedded as a string (use base64)", i, o.MediaType)
			}
			rec.Content, _ = json.Marshal(string(data))
		}
	default:
		return rec, failf("unsupported_option", "outputs[%d]: Creative Cloud destinations are not emulated", i)
	}
	return rec, nil
}

// put uploads an output to a presigned URL, as Adobe does.
func (s *Server) put(i int, target, mediaType string, data []byte) *jobFailure {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPut, target, bytes.NewReader(data))
	if err != nil {
		return failf("422404", "Unable to process outputs: outputs[%d]: the destination %s: %v", i, redact(target), err)
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := s.hc.Do(req)
	if s.ctx.Err() != nil {
		if err == nil {
			resp.Body.Close()
		}
		return cutOff()
	}
	if err != nil {
		return failf("422404", "Unable to process outputs: outputs[%d]: the PUT to %s failed: %v", i, redact(target), err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return failf("422404", "Unable to process outputs: outputs[%d]: the PUT to %s answered HTTP %s", i, redact(target), resp.Status)
	}
	return nil
}

// files lists the result files of j's outcome.
func (j *job) files() []string {
	var fs []string
	if j.result != "" {
		fs = append(fs, j.result)
	}
	for _, o := range j.outputs {
		if o.Hosted != "" {
			fs = append(fs, o.Hosted)
		}
	}
	if a := j.autoCrop; a != nil {
		var boxes []boxRecord
		for _, c := range append(slices.Clone(a.Subject), a.Crops...) {
			boxes = append(boxes, c.Boxes...)
		}
		for _, o := range a.Objects {
			boxes = append(boxes, o.Boxes...)
		}
		for _, b := range boxes {
			if b.File != "" {
				fs = append(fs, b.File)
			}
		}
	}
	slices.Sort(fs)
	return slices.Compact(fs)
}

// removeResults deletes result files.
func (s *Server) removeResults(names []string) {
	for _, n := range names {
		os.Remove(filepath.Join(s.dir, resultsDir, n))
	}
}

// outputSize is the size of an output of a w×h document: width and height
// as asked (one of them alone keeps the proportions), then constrained to
// maxWidth.
func outputSize(w, h int, o outputSpec) (int, int) {
	tw, th := w, h
	ow, oh := 0, 0
	if o.Width != nil {
		ow = *o.Width
	}
	if o.Height != nil {
		oh = *o.Height
	}
	switch {
	case ow > 0 && oh > 0:
		tw, th = ow, oh
	case ow > 0:
		tw, th = ow, int(math.Round(float64(h)*float64(ow)/float64(w)))
	case oh > 0:
		tw, th = int(math.Round(float64(w)*float64(oh)/float64(h))), oh
	}
	if o.MaxWidth != nil && *o.MaxWidth > 0 && tw > *o.MaxWidth {
		th = int(math.Round(float64(th) * float64(*o.MaxWidth) / float64(tw)))
		tw = *o.MaxWidth
	}
	return max(1, tw), max(1, th)
}

// renderImage encodes doc as a Photoshop-family image output: cropMode,
// size, an ICC profile's image mode, then the format.
func renderImage(doc *document, o outputSpec) ([]byte, *jobFailure) {
	img := doc.img
	if o.CropMode == "trim_to_transparency" {
		img = trimTransparent(img)
	}
	w, h := outputSize(img.Rect.Dx(), img.Rect.Dy(), o)
	img = resize(img, w, h, o.Resample)
	var out image.Image = img
	if doc.gray || grayProfile(o.IccProfile) {
		out = grayOf(img)
	}
	var buf bytes.Buffer
	if err := encodeImage(&buf, out, o.MediaType, o.Quality, o.Compression); err != nil {
		return nil, failf("500600", "Internal server error: the %s output could not be encoded: %v", formatName(o.MediaType), err)
	}
	return buf.Bytes(), nil
}

// grayProfile reports whether an output's ICC profile makes it grayscale.
func grayProfile(p *iccProfile) bool {
	if p == nil {
		return false
	}
	if p.ImageMode != "" {
		return p.ImageMode == "grayscale"
	}
	switch p.Name {
	case "Dot Gain 10%", "Dot Gain 15%", "Dot Gain 20%", "Dot Gain 25%", "Dot Gain 30%", "Gray Gamma 1.8", "Gray Gamma 2.2":
		return true
	}
	return false
}

// grayOf converts img to grayscale (Rec. 601 luma): an *image.Gray when
// img is opaque, gray NRGBA pixels keeping their alpha otherwise.
func grayOf(img *image.NRGBA) image.Image {
	if img.Opaque() {
		g := image.NewGray(img.Rect)
		for i := range g.Pix {
			p := img.Pix[4*i : 4*i+3 : 4*i+3]
			g.Pix[i] = luma(p[0], p[1], p[2])
		}
		return g
	}
	out := image.NewNRGBA(img.Rect)
	for i := 0; i < len(img.Pix); i += 4 {
		l := luma(img.Pix[i], img.Pix[i+1], img.Pix[i+2])
		out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = l, l, l, img.Pix[i+3]
	}
	return out
}

func luma(r, g, b uint8) uint8 {
	return uint8((299*uint32(r) + 587*uint32(g) + 114*uint32(b) + 500) / 1000)
}

// renderPhotoshopOutput renders an output of the Photoshop family
// (execute-actions, create-composite): an image, or the document's
// manifest for application/json.
func renderPhotoshopOutput(doc *document, o outputSpec) ([]byte, *jobFailure) {
	switch o.MediaType {
	case mediaJSON:
		b, err := json.Marshal(manifestOf(doc, false))
		if err != nil {
			return nil, failf("500600", "Internal server error: %v", err)
		}
		return b, nil
	case mediaJPEG, mediaPNG, mediaTIFF, mediaPSD:
		return renderImage(doc, o)
	}
	return nil, failf("unsupported_option", "%s outputs are not emulated", o.MediaType)
}

// blankDocument is ImageParameters' new document.
func blankDocument(p imageInput) *document {
	img := image.NewNRGBA(image.Rect(0, 0, p.Width, p.Height))
	var fill color.NRGBA
	if p.Fill != "transparent" {
		fill = color.NRGBA{0xff, 0xff, 0xff, 0xff} // white, and the default background colour
	}
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = fill.R, fill.G, fill.B, fill.A
	}
	name := p.Name
	if name == "" {
		name = "Untitled-1"
	}
	doc := &document{img: img, name: name, gray: p.Mode == "grayscale"}
	doc.layers = []docLayer{baseLayer(img)}
	return doc
}

// baseLayer is the layer a flat image opens as in Photoshop: Background
// when opaque, Layer 0 when it has transparency.
func baseLayer(img *image.NRGBA) docLayer {
	if img.Opaque() {
		return docLayer{name: "Background", typ: "background_layer", bounds: img.Rect}
	}
	return docLayer{name: "Layer 0", typ: "layer", bounds: img.Rect}
}

// loadDocument opens a job's image input as a document.
func (s *Server) loadDocument(j *job, in imageInput) (*document, *jobFailure) {
	if in.Source == nil {
		return blankDocument(in), nil
	}
	img, format, fail := s.loadImage(j, *in.Source, "the input image")
	if fail != nil {
		return nil, fail
	}
	doc := &document{img: img, name: fileNameOf(in.Source.URL), format: format}
	doc.layers = []docLayer{baseLayer(img)}
	return doc, nil
}

// fileNameOf is the last segment of an URL's path.
func fileNameOf(raw string) string {
	name := filepath.Base(sourceKey(raw))
	if name == "." || name == "/" {
		return "image"
	}
	return name
}

// imageFormatName is how a manifest names an input format.
func imageFormatName(mediaType string) string {
	if mediaType == "" {
		return "none"
	}
	return formatName(mediaType)
}
