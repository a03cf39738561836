package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// The request bodies of the per-image operations, as the emulator reads
// them once they have passed the spec's schema. Each has rules: the
// constraints the spec states in prose only (photoshop-v2-ops.md §13.3).

// Operations, as jobs record them. The empty name is remove background,
// the only operation of the job files of earlier emulators.
const (
	opRemoveBackground = "remove-background"
	opEdit             = "edit"
	opActions          = "execute-actions"
	opComposite        = "create-composite"
	opManifest         = "generate-manifest"
	opAutoCrop         = "auto-crop"
)

// maxInline is the largest inline action or UXP content: 50 KB.
const maxInline = 51200

// fileRef is a resource reference: FileResourceInput and its relatives
// (an URL, Creative Cloud or Lightroom reference, or inline content).
type fileRef struct {
	URL                    string  `json:"url,omitempty"`
	CreativeCloudPath      string  `json:"creativeCloudPath,omitempty"`
	CreativeCloudFileID    string  `json:"creativeCloudFileId,omitempty"`
	CreativeCloudProjectID string  `json:"creativeCloudProjectId,omitempty"`
	LightroomPath          string  `json:"lightroomPath,omitempty"`
	Content                *string `json:"content,omitempty"`
	ContentType            string  `json:"contentType,omitempty"`
}

// describe names the reference for messages, without URL signatures.
func (f fileRef) describe() string {
	switch {
	case f.URL != "":
		return redact(f.URL)
	case f.CreativeCloudPath != "":
		return "creativeCloudPath " + strconv.Quote(f.CreativeCloudPath)
	case f.CreativeCloudFileID != "":
		return "creativeCloudFileId " + strconv.Quote(f.CreativeCloudFileID)
	case f.LightroomPath != "":
		return "lightroomPath " + strconv.Quote(f.LightroomPath)
	case f.Content != nil:
		return "inline content"
	}
	return "an empty reference"
}

// sourced is an object with a source reference.
type sourced struct {
	Source fileRef `json:"source"`
}

// presetRef is an edit preset in the spec's shape ({"url"}) or the
// guides' ({"source": {"url"}}).
type presetRef struct {
	fileRef
	Source *fileRef `json:"source,omitempty"`
}

func (p presetRef) ref() fileRef {
	if p.Source != nil {
		return *p.Source
	}
	return p.fileRef
}

// imageInput is ImageSource, or ImageParameters (a blank document).
type imageInput struct {
	Source *fileRef `json:"source,omitempty"`
	Width  int      `json:"width,omitempty"`
	Height int      `json:"height,omitempty"`
	Fill   string   `json:"fill,omitempty"`
	Mode   string   `json:"mode,omitempty"`
	Name   string   `json:"name,omitempty"`
}

// destination is one of the four output destinations.
type destination struct {
	URL               string `json:"url,omitempty"`
	StorageType       string `json:"storageType,omitempty"`
	ValidityPeriod    *int   `json:"validityPeriod,omitempty"`
	Embedded          string `json:"embedded,omitempty"`
	CreativeCloudPath string `json:"creativeCloudPath,omitempty"`
}

// Destination kinds.
const (
	destHosted   = "hosted"
	destURL      = "url"
	destEmbedded = "embedded"
	destCC       = "creativeCloud"
)

func (d destination) kind() string {
	switch {
	case d.URL != "":
		return destURL
	case d.Embedded != "":
		return destEmbedded
	case d.CreativeCloudPath != "":
		return destCC
	}
	return destHosted
}

// validity is a hosted destination's validityPeriod in seconds.
func (d destination) validity() int {
	if d.ValidityPeriod == nil {
		return 3600
	}
	return *d.ValidityPeriod
}

// layerRef is ReferenceLayer.
type layerRef struct {
	ID   *int64  `json:"id,omitempty"`
	Name *string `json:"name,omitempty"`
}

// iccProfile is StandardIccProfile or CustomIccProfile.
type iccProfile struct {
	Type      string   `json:"type"`
	Name      string   `json:"name"`
	ImageMode string   `json:"imageMode,omitempty"`
	Source    *fileRef `json:"source,omitempty"`
}

// outputSpec is one requested output of any family (Lightroom, Photoshop,
// manifest).
type outputSpec struct {
	Destination         destination `json:"destination"`
	MediaType           string      `json:"mediaType"`
	Quality             string      `json:"quality,omitempty"`
	Compression         string      `json:"compression,omitempty"`
	Width               *int        `json:"width,omitempty"`
	Height              *int        `json:"height,omitempty"`
	MaxWidth            *int        `json:"maxWidth,omitempty"`
	Resample            string      `json:"resample,omitempty"`
	CropMode            string      `json:"cropMode,omitempty"`
	Layers              []layerRef  `json:"layers,omitempty"`
	IccProfile          *iccProfile `json:"iccProfile,omitempty"`
	ScriptOutputPattern *string     `json:"scriptOutputPattern,omitempty"`
}

// editRequest is EditRequest (POST /v2/edit).
type editRequest struct {
	Image   sourced      `json:"image"`
	Edits   *lrEdits     `json:"edits,omitempty"`
	Outputs []outputSpec `json:"outputs"`
}

type lrEdits struct {
	AutoTone       bool `json:"autoTone,omitempty"`
	AutoStraighten *struct {
		Enabled       bool   `json:"enabled"`
		ConstrainCrop *bool  `json:"constrainCrop,omitempty"`
		UprightMode   string `json:"uprightMode,omitempty"`
	} `json:"autoStraighten,omitempty"`
	Light *struct {
		Exposure   float64 `json:"exposure,omitempty"`
		Contrast   int     `json:"contrast,omitempty"`
		Highlights int     `json:"highlights,omitempty"`
		Shadows    int     `json:"shadows,omitempty"`
		Whites     int     `json:"whites,omitempty"`
		Blacks     int     `json:"blacks,omitempty"`
	} `json:"light,omitempty"`
	Color *struct {
		Saturation   int    `json:"saturation,omitempty"`
		Vibrance     int    `json:"vibrance,omitempty"`
		WhiteBalance string `json:"whiteBalance,omitempty"`
	} `json:"color,omitempty"`
	Effects *struct {
		Clarity  int `json:"clarity,omitempty"`
		Dehaze   int `json:"dehaze,omitempty"`
		Texture  int `json:"texture,omitempty"`
		Vignette int `json:"vignette,omitempty"`
	} `json:"effects,omitempty"`
	Sharpen *struct {
		Detail      int     `json:"detail,omitempty"`
		Radius      float64 `json:"radius,omitempty"`
		EdgeMasking int     `json:"edgeMasking,omitempty"`
	} `json:"sharpen,omitempty"`
	Sharpness      *int `json:"sharpness,omitempty"`
	NoiseReduction *struct {
		Luminance int `json:"luminance,omitempty"`
		Color     int `json:"color,omitempty"`
	} `json:"noiseReduction,omitempty"`
	Presets []presetRef `json:"presets,omitempty"`
	Xmp     *struct {
		Source fileRef `json:"source"`
		Masks  []struct {
			Digest string  `json:"digest"`
			Source fileRef `json:"source"`
		} `json:"masks,omitempty"`
		Orientation string `json:"orientation,omitempty"`
	} `json:"xmp,omitempty"`
}

// actionsRequest is ActionsRequest (POST /v2/execute-actions).
type actionsRequest struct {
	Image   imageInput `json:"image"`
	Options struct {
		Actions []struct {
			Source     fileRef `json:"source"`
			ActionName string  `json:"actionName,omitempty"`
		} `json:"actions,omitempty"`
		Uxp                *sourced  `json:"uxp,omitempty"`
		AdditionalContents []sourced `json:"additionalContents,omitempty"`
		Brushes            []sourced `json:"brushes,omitempty"`
		Patterns           []sourced `json:"patterns,omitempty"`
		FontOptions        *struct {
			AdditionalFonts []sourced `json:"additionalFonts,omitempty"`
		} `json:"fontOptions,omitempty"`
	} `json:"options"`
	Outputs []outputSpec `json:"outputs"`
}

// compositeRequest is CreateCompositeRequest (POST /v2/create-composite).
type compositeRequest struct {
	Image imageInput `json:"image"`
	Edits *struct {
		Document *struct {
			Resize *struct {
				Width                *dimension `json:"width,omitempty"`
				Height               *dimension `json:"height,omitempty"`
				ConstrainProportions *bool      `json:"constrainProportions,omitempty"`
				Resample             string     `json:"resample,omitempty"`
			} `json:"resize,omitempty"`
			Crop *struct {
				Bounds struct {
					Left   int `json:"left"`
					Top    int `json:"top"`
					Right  int `json:"right"`
					Bottom int `json:"bottom"`
				} `json:"bounds"`
			} `json:"crop,omitempty"`
			Trim *struct {
				TrimUpon string `json:"trimUpon,omitempty"`
			} `json:"trim,omitempty"`
		} `json:"document,omitempty"`
		Layers []layerOp `json:"layers,omitempty"`
	} `json:"edits,omitempty"`
	Outputs []outputSpec `json:"outputs"`
}

// dimension is DimensionMeasurement.
type dimension struct {
	Unit  string `json:"unit"`
	Value int    `json:"value"`
}

// layerOp is one entry of edits.layers.
type layerOp struct {
	Type      string   `json:"type,omitempty"`
	Name      string   `json:"name,omitempty"`
	Image     *sourced `json:"image,omitempty"`
	IsVisible *bool    `json:"isVisible,omitempty"`
	Operation struct {
		Type      string `json:"type"`
		Placement *struct {
			Type string `json:"type"`
		} `json:"placement,omitempty"`
	} `json:"operation"`
	BlendOptions *struct {
		Opacity *int `json:"opacity,omitempty"`
	} `json:"blendOptions,omitempty"`
	Transform *struct {
		Offset *struct {
			Horizontal int `json:"horizontal"`
			Vertical   int `json:"vertical"`
		} `json:"offset,omitempty"`
	} `json:"transform,omitempty"`
}

// manifestRequest is GenerateManifestRequest (POST /v2/generate-manifest).
type manifestRequest struct {
	Image                  sourced      `json:"image"`
	IncludeLayerThumbnails bool         `json:"includeLayerThumbnails,omitempty"`
	TrimToTransparency     bool         `json:"trimToTransparency,omitempty"`
	IncludeXmp             bool         `json:"includeXmp,omitempty"`
	Outputs                []outputSpec `json:"outputs"`
}

// autoCropRequest is AutoCropRequest (POST /v1/auto-crop).
type autoCropRequest struct {
	Image struct {
		Source struct {
			URL string `json:"url"`
		} `json:"source"`
		MediaType string `json:"mediaType,omitempty"`
	} `json:"image"`
	Mode        string              `json:"mode"`
	AspectRatio *oneOrMany[string]  `json:"aspectRatio,omitempty"`
	Focus       []string            `json:"focus,omitempty"`
	Zoom        *oneOrMany[float64] `json:"zoom,omitempty"`
	OutputType  string              `json:"outputType,omitempty"`
}

// oneOrMany is a field that is a single value or an array of them.
type oneOrMany[T any] struct {
	Values []T
	Array  bool
}

func (o *oneOrMany[T]) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		o.Array = true
		return json.Unmarshal(b, &o.Values)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	o.Values = []T{v}
	return nil
}

// rbRequest is RemoveBackgroundV2Request (POST /v2/remove-background).
type rbRequest struct {
	Image struct {
		Source struct {
			URL string `json:"url"`
		} `json:"source"`
	} `json:"image"`
	Mode   string `json:"mode,omitempty"`
	Output *struct {
		MediaType string `json:"mediaType,omitempty"`
	} `json:"output,omitempty"`
	Trim            bool `json:"trim,omitempty"`
	BackgroundColor *struct {
		Red   float64 `json:"red"`
		Green float64 `json:"green"`
		Blue  float64 `json:"blue"`
		Alpha float64 `json:"alpha"`
	} `json:"backgroundColor,omitempty"`
}

// ruleSet collects rule violations.
type ruleSet []fieldError

func (r *ruleSet) add(code, path, format string, args ...any) {
	*r = append(*r, fieldError{code, path + ": " + fmt.Sprintf(format, args...)})
}

// checkURL requires an absolute http(s) URL without blanks: Adobe's
// "The url is malformed or blocked".
func (r *ruleSet) checkURL(path, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(raw, " \t\r\n") {
		r.add(errInvalid, path, "The url is malformed or blocked (it must be an absolute http or https URL)")
	}
}

// checkRef checks a resource reference's URL.
func (r *ruleSet) checkRef(path string, f fileRef) {
	if f.URL != "" || (f.Content == nil && f.CreativeCloudPath == "" && f.CreativeCloudFileID == "" && f.LightroomPath == "") {
		r.checkURL(path+".url", f.URL)
	}
	if f.CreativeCloudPath != "" && strings.HasPrefix(f.CreativeCloudPath, "/") {
		r.add(errInvalid, path+".creativeCloudPath", "creativeCloudPath values must not have a leading '/'")
	}
}

// checkOutputs applies the output rules: quality only on JPEG, compression
// only on PNG, scriptOutputPattern only on execute-actions and with hosted
// or embedded destinations, layer_bounds only for one layer, one of id or
// name per layer reference, no ICC profile on PSDC, and well-formed
// destination URLs.
func (r *ruleSet) checkOutputs(op string, outs []outputSpec) {
	for i, o := range outs {
		p := fmt.Sprintf("outputs[%d]", i)
		if o.Quality != "" && o.MediaType != mediaJPEG {
			r.add(errInvalid, p+".quality", "'quality' parameter is not supported for %s format", formatName(o.MediaType))
		}
		if o.Compression != "" && o.MediaType != mediaPNG {
			r.add(errInvalid, p+".compression", "'compression' parameter is not supported for %s format", formatName(o.MediaType))
		}
		if o.ScriptOutputPattern != nil {
			switch k := o.Destination.kind(); {
			case op != opActions:
				r.add(errInvalid, p+".scriptOutputPattern", "scriptOutputPattern is only applicable for /v2/execute-actions")
			case k != destHosted && k != destEmbedded:
				r.add(errInvalid, p+".scriptOutputPattern", "an output with scriptOutputPattern accepts only hosted or embedded destinations, not a %s destination", k)
			}
		}
		if o.CropMode == "layer_bounds" && len(o.Layers) != 1 {
			r.add(errInvalid, p+".cropMode", "cropMode layer_bounds is valid for single-layer export only (outputs[%d].layers must name exactly one layer)", i)
		}
		for j, l := range o.Layers {
			if (l.ID == nil) == (l.Name == nil) {
				r.add(errInvalid, fmt.Sprintf("%s.layers[%d]", p, j), "Each layer reference must contain exactly one of id or name (not both).")
			}
		}
		if o.IccProfile != nil {
			if o.MediaType == mediaPSDC || o.MediaType == mediaPSDCUCF {
				r.add(errInvalid, p+".iccProfile", "an ICC profile is not supported for PSDC outputs")
			}
			if o.IccProfile.Source != nil {
				r.checkRef(p+".iccProfile.source", *o.IccProfile.Source)
			}
		}
		if d := o.Destination; d.kind() == destURL {
			r.checkURL(p+".destination.url", d.URL)
			if u, err := url.Parse(d.URL); err == nil && strings.HasSuffix(u.Hostname(), ".blob.core.windows.net") && d.StorageType != "azure" {
				r.add(errInvalid, p+".destination.storageType", "Azure Blob Storage URL requires 'storageType': 'azure'")
			}
		}
	}
}

func (q *editRequest) rules() []fieldError {
	var r ruleSet
	r.checkRef("image.source", q.Image.Source)
	if e := q.Edits; e != nil {
		for i, p := range e.Presets {
			r.checkRef(fmt.Sprintf("edits.presets[%d]", i), p.ref())
		}
		if e.Xmp != nil {
			r.checkRef("edits.xmp.source", e.Xmp.Source)
			for i, m := range e.Xmp.Masks {
				r.checkRef(fmt.Sprintf("edits.xmp.masks[%d].source", i), m.Source)
			}
		}
	}
	r.checkOutputs(opEdit, q.Outputs)
	return r
}

func (q *actionsRequest) rules() []fieldError {
	var r ruleSet
	if q.Image.Source != nil {
		r.checkRef("image.source", *q.Image.Source)
	}
	o := q.Options
	if len(o.Actions) == 0 && o.Uxp == nil {
		r.add(errMissing, "options", "At least one of actions or uxp is required.")
	}
	for i, a := range o.Actions {
		p := fmt.Sprintf("options.actions[%d].source", i)
		if a.Source.Content == nil {
			r.checkRef(p, a.Source)
			continue
		}
		content := *a.Source.Content
		switch {
		case len(content) > maxInline:
			r.add(errInvalid, p+".content", "inline content is %d bytes; the maximum size is 50KB (%d bytes)", len(content), maxInline)
		case a.Source.ContentType != mediaJSON:
			r.add(errInvalid, p+".contentType", "Invalid contentType for inline action: %q (inline ActionJSON needs \"application/json\")", a.Source.ContentType)
		default:
			var steps []map[string]any
			if err := json.Unmarshal([]byte(content), &steps); err != nil {
				r.add(errInvalid, p+".content", "inline ActionJSON must be a JSON-stringified array of action steps: %v", err)
			}
		}
	}
	if u := o.Uxp; u != nil {
		p := "options.uxp.source"
		if c := u.Source.Content; c != nil {
			if len(*c) > maxInline {
				r.add(errInvalid, p+".content", "inline content is %d bytes; the maximum size is 50KB (%d bytes)", len(*c), maxInline)
			}
			if ct := u.Source.ContentType; ct != "" && ct != "application/javascript" {
				r.add(errInvalid, p+".contentType", "Invalid contentType for an inline UXP script: %q (it needs \"application/javascript\")", ct)
			}
		} else {
			r.checkRef(p, u.Source)
		}
	}
	for name, list := range map[string][]sourced{"additionalContents": o.AdditionalContents, "brushes": o.Brushes, "patterns": o.Patterns} {
		for i, s := range list {
			r.checkRef(fmt.Sprintf("options.%s[%d].source", name, i), s.Source)
		}
	}
	if f := o.FontOptions; f != nil {
		if len(f.AdditionalFonts) > 10 {
			r.add(errInvalid, "options.fontOptions.additionalFonts", "Array size must be between 0 and 10 at path 'options.fontOptions.additionalFonts'")
		}
		for i, s := range f.AdditionalFonts {
			r.checkRef(fmt.Sprintf("options.fontOptions.additionalFonts[%d].source", i), s.Source)
		}
	}
	r.checkOutputs(opActions, q.Outputs)
	return r
}

func (q *compositeRequest) rules() []fieldError {
	var r ruleSet
	if q.Image.Source != nil {
		r.checkRef("image.source", *q.Image.Source)
	}
	if e := q.Edits; e != nil {
		for i, l := range e.Layers {
			if l.Image != nil {
				r.checkRef(fmt.Sprintf("edits.layers[%d].image.source", i), l.Image.Source)
			}
		}
		if d := e.Document; d != nil && d.Crop != nil {
			b := d.Crop.Bounds
			if b.Right <= b.Left || b.Bottom <= b.Top {
				r.add(errInvalid, "edits.document.crop.bounds", "the bounds enclose no pixel (right must exceed left and bottom top)")
			}
		}
		if d := e.Document; d != nil && d.Resize != nil {
			rs := d.Resize
			if rs.Width == nil && rs.Height == nil {
				r.add(errMissing, "edits.document.resize", "a resize needs a width or a height")
			}
			for name, dim := range map[string]*dimension{"width": rs.Width, "height": rs.Height} {
				if dim != nil && dim.Value <= 0 {
					r.add(errInvalid, "edits.document.resize."+name+".value", "Invalid value '%d' at path 'edits.document.resize.%s.value'. It must be at least 1.", dim.Value, name)
				}
			}
		}
	}
	r.checkOutputs(opComposite, q.Outputs)
	return r
}

func (q *manifestRequest) rules() []fieldError {
	var r ruleSet
	r.checkRef("image.source", q.Image.Source)
	r.checkOutputs(opManifest, q.Outputs)
	return r
}

// maxAutoCropList bounds aspectRatio and zoom arrays.
const maxAutoCropList = 20

func (q *autoCropRequest) rules() []fieldError {
	var r ruleSet
	r.checkURL("image.source.url", q.Image.Source.URL)
	cropMode := q.Mode == "smartCrop" || q.Mode == "subjectCrop"
	if q.AspectRatio != nil {
		switch {
		case !cropMode:
			r.add(errInvalid, "aspectRatio", "aspectRatio is allowed only for 'smartCrop' and 'subjectCrop', not for %q", q.Mode)
		case len(q.AspectRatio.Values) == 0:
			r.add(errInvalid, "aspectRatio", "Array size must be between 1 and %d at path 'aspectRatio'", maxAutoCropList)
		case len(q.AspectRatio.Values) > maxAutoCropList:
			r.add(errInvalid, "aspectRatio", "Array size must be between 1 and %d at path 'aspectRatio'", maxAutoCropList)
		}
	}
	switch q.Mode {
	case "subjectCrop", "objectDetection":
		if len(q.Focus) == 0 {
			r.add(errMissing, "focus", "focus is required for 'subjectCrop' and 'objectDetection'")
		}
	default:
		if len(q.Focus) > 0 {
			r.add(errInvalid, "focus", "focus must be empty for 'smartCrop' and 'fullSceneDetection'")
		}
	}
	if z := q.Zoom; z != nil {
		switch {
		case q.AspectRatio == nil:
			r.add(errInvalid, "zoom", "zoom must not be sent without aspectRatio")
		case z.Array && len(z.Values) != len(q.AspectRatio.Values):
			r.add(errInvalid, "zoom", "zoom has %d values and aspectRatio %d: an array of zooms must match aspectRatio", len(z.Values), len(q.AspectRatio.Values))
		case len(z.Values) > maxAutoCropList:
			r.add(errInvalid, "zoom", "Array size must be between 1 and %d at path 'zoom'", maxAutoCropList)
		}
		for i, v := range z.Values {
			if v <= 0 || v > 1 {
				p := "zoom"
				if z.Array {
					p = fmt.Sprintf("zoom[%d]", i)
				}
				r.add(errInvalid, p, "Invalid value '%s' at path '%s'. A zoom is in (0, 1].", num(v), p)
			}
		}
	}
	return r
}

func (q *rbRequest) rules() []fieldError {
	var r ruleSet
	if q.Image.Source.URL == "" {
		r.add(errMissing, "image.source.url", "Required field 'url' is missing at path 'image.source'")
	} else {
		u, err := url.Parse(q.Image.Source.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.add(errInvalid, "image.source.url", "image.source.url must be an http or https URL")
		}
	}
	if bc := q.BackgroundColor; bc != nil {
		for _, f := range []struct {
			name string
			v    float64
		}{{"red", bc.Red}, {"green", bc.Green}, {"blue", bc.Blue}} {
			if f.v != float64(int(f.v)) {
				r.add(errInvalid, "backgroundColor."+f.name, "backgroundColor.%s must be a whole number from 0 to 255, not %v", f.name, f.v)
			}
		}
	}
	return r
}
