package uploader

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	pathpkg "path"
	"strings"
	"unicode/utf8"
)

// The request bodies of the operations, as photoshop-v2-ops.md describes
// them; where Adobe's guides and spec disagree, its §9 decides (see
// doc.go). Every one is checked against Adobe's spec by spec_test.go.

// defaultValidity is how long Adobe keeps a hosted output, in seconds.
const defaultValidity = 3600

type urlSource struct {
	URL string `json:"url"`
}

// sourceRef is {"source":{"url":…}}.
type sourceRef struct {
	Source urlSource `json:"source"`
}

func ref(u string) sourceRef { return sourceRef{Source: urlSource{URL: u}} }

type destinationBody struct {
	ValidityPeriod int    `json:"validityPeriod,omitempty"` // hosted
	Embedded       string `json:"embedded,omitempty"`       // embedded: string, base64 or json
}

type outputBody struct {
	Destination destinationBody `json:"destination"`
	MediaType   string          `json:"mediaType"`
	Quality     string          `json:"quality,omitempty"`
	Compression string          `json:"compression,omitempty"`
	Width       int             `json:"width,omitempty"`
	MaxWidth    int             `json:"maxWidth,omitempty"`
	Resample    string          `json:"resample,omitempty"`
	ICCProfile  *iccBody        `json:"iccProfile,omitempty"`
}

type iccBody struct {
	Type      string     `json:"type"` // standard or custom
	Name      string     `json:"name"`
	ImageMode string     `json:"imageMode,omitempty"`
	Source    *urlSource `json:"source,omitempty"` // custom
}

type removeBackgroundBody struct {
	Image  sourceRef `json:"image"`
	Mode   string    `json:"mode,omitempty"`
	Output *struct {
		MediaType string `json:"mediaType"`
	} `json:"output,omitempty"`
	BackgroundColor      *Color   `json:"backgroundColor,omitempty"`
	Trim                 bool     `json:"trim,omitempty"`
	ColorDecontamination *float64 `json:"colorDecontamination,omitempty"`
}

type editBody struct {
	Image   sourceRef    `json:"image"`
	Edits   *editsBody   `json:"edits,omitempty"`
	Outputs []outputBody `json:"outputs"`
}

type editsBody struct {
	AutoTone       bool              `json:"autoTone,omitempty"`
	AutoStraighten *AutoStraighten   `json:"autoStraighten,omitempty"`
	Light          *Light            `json:"light,omitempty"`
	Color          *ColorAdjustments `json:"color,omitempty"`
	Effects        *Effects          `json:"effects,omitempty"`
	Sharpen        *Sharpen          `json:"sharpen,omitempty"`
	Sharpness      int               `json:"sharpness,omitempty"`
	NoiseReduction *NoiseReduction   `json:"noiseReduction,omitempty"`
	Presets        []sourceRef       `json:"presets,omitempty"` // the guide's form, §9 #5
	XMP            *xmpBody          `json:"xmp,omitempty"`
}

type xmpBody struct {
	Source      urlSource  `json:"source"`
	Orientation string     `json:"orientation,omitempty"`
	Masks       []maskBody `json:"masks,omitempty"`
}

type maskBody struct {
	Source urlSource `json:"source"`
	Digest string    `json:"digest"`
}

type actionsBody struct {
	Image   sourceRef      `json:"image"`
	Options actionsOptions `json:"options"`
	Outputs []outputBody   `json:"outputs"`
}

type actionsOptions struct {
	Actions            []actionBody     `json:"actions"`
	AdditionalContents []sourceRef      `json:"additionalContents,omitempty"`
	Brushes            []sourceRef      `json:"brushes,omitempty"`
	Patterns           []sourceRef      `json:"patterns,omitempty"`
	FontOptions        *fontOptionsBody `json:"fontOptions,omitempty"`
}

type actionBody struct {
	Source     actionSource `json:"source"`
	ActionName string       `json:"actionName,omitempty"`
}

// actionSource is a URL or inline content.
type actionSource struct {
	URL         string `json:"url,omitempty"`
	Content     string `json:"content,omitempty"`
	ContentType string `json:"contentType,omitempty"`
}

type fontOptionsBody struct {
	AdditionalFonts           []sourceRef `json:"additionalFonts,omitempty"`
	DefaultFontPostScriptName string      `json:"defaultFontPostScriptName,omitempty"`
	MissingFontStrategy       string      `json:"missingFontStrategy,omitempty"`
}

type compositeBody struct {
	Image   sourceRef       `json:"image"`
	Edits   *compositeEdits `json:"edits,omitempty"`
	Outputs []outputBody    `json:"outputs"`
}

type compositeEdits struct {
	Document *documentBody `json:"document,omitempty"`
	Layers   []layerBody   `json:"layers,omitempty"`
}

type documentBody struct {
	Resize *resizeBody   `json:"resize,omitempty"`
	Trim   *documentTrim `json:"trim,omitempty"`
}

type resizeBody struct {
	Width                *dimensionBody `json:"width,omitempty"`
	Height               *dimensionBody `json:"height,omitempty"`
	ConstrainProportions *bool          `json:"constrainProportions,omitempty"`
	Resample             string         `json:"resample,omitempty"`
}

type dimensionBody struct {
	Unit  string `json:"unit"` // pixels_unit or percent_unit
	Value int    `json:"value"`
}

type documentTrim struct {
	TrimUpon string `json:"trimUpon"`
}

// layerBody is an AddLayer: an image layer.
type layerBody struct {
	Type      string    `json:"type"`
	Name      string    `json:"name"`
	Image     sourceRef `json:"image"`
	Operation struct {
		Type      string `json:"type"`
		Placement struct {
			Type string `json:"type"`
		} `json:"placement"`
	} `json:"operation"`
}

type manifestBody struct {
	Image                  sourceRef          `json:"image"`
	IncludeLayerThumbnails bool               `json:"includeLayerThumbnails,omitempty"`
	MaximumThumbnailDepth  int                `json:"maximumThumbnailDepth,omitempty"`
	TrimToTransparency     bool               `json:"trimToTransparency,omitempty"`
	IncludeXmp             bool               `json:"includeXmp,omitempty"`
	ExtractSmartObjectData bool               `json:"extractSmartObjectData,omitempty"`
	ExportOptions          *exportOptionsBody `json:"exportOptions,omitempty"`
	Outputs                []outputBody       `json:"outputs"`
}

type exportOptionsBody struct {
	MediaType   string `json:"mediaType"`
	Quality     string `json:"quality,omitempty"`
	Compression string `json:"compression,omitempty"`
}

type autoCropBody struct {
	Image struct {
		Source    urlSource `json:"source"`
		MediaType string    `json:"mediaType,omitempty"`
	} `json:"image"`
	Mode        string    `json:"mode"`
	AspectRatio []string  `json:"aspectRatio,omitempty"`
	Focus       []string  `json:"focus,omitempty"`
	Zoom        []float64 `json:"zoom,omitempty"`
	OutputType  string    `json:"outputType"`
}

// body builds the request body of step on the input at src, uploading
// the files it refers to (see aux.go).
func (c *Client) body(ctx context.Context, step Step, src string) (any, error) {
	outs, err := c.outputBodies(ctx, step)
	if err != nil {
		return nil, err
	}
	image := ref(src)
	switch step.Op {
	case OpRemoveBackground:
		return c.removeBackgroundRequest(ctx, step, image, outs, src)
	case OpEdit:
		return c.editRequest(ctx, step, image, outs, src)
	case OpActions:
		return c.actionsRequest(ctx, step, image, outs, src)
	case OpProductCrop:
		return c.productCropRequest(ctx, step, image, outs, src)
	case OpComposite:
		return c.compositeRequest(ctx, step, image, outs, src)
	case OpManifest:
		return c.manifestRequest(ctx, step, image, outs, src)
	case OpAutoCrop:
		return c.autoCropRequest(ctx, step, image, outs, src)
	}
	return nil, fmt.Errorf("submit: unknown operation %q", step.Op)
}

// removeBackgroundRequest is the body of POST /v2/remove-background.
func (c *Client) removeBackgroundRequest(ctx context.Context, step Step, image sourceRef, outs []outputBody, src string) (any, error) {
	b := removeBackgroundBody{Image: image}
	if rb := step.RemoveBackground; rb != nil {
		b.Mode, b.BackgroundColor, b.Trim, b.ColorDecontamination = rb.Mode, rb.BackgroundColor, rb.Trim, rb.ColorDecontamination
	}
	if len(step.Outputs) > 0 { // none: Adobe's default, the input's format
		b.Output = &struct {
			MediaType string `json:"mediaType"`
		}{step.Outputs[0].MediaType()}
	}
	return b, nil
}

// editRequest is the body of POST /v2/edit, its preset and XMP files uploaded.
func (c *Client) editRequest(ctx context.Context, step Step, image sourceRef, outs []outputBody, src string) (any, error) {
	b := editBody{Image: image, Outputs: outs}
	if e := step.Edit; e != nil {
		eb := editsBody{AutoTone: e.AutoTone, AutoStraighten: e.AutoStraighten, Light: e.Light, Color: e.Color,
			Effects: e.Effects, Sharpen: e.Sharpen, Sharpness: e.Sharpness, NoiseReduction: e.NoiseReduction}
		for _, f := range e.Presets {
			u, err := c.auxURL(ctx, f)
			if err != nil {
				return nil, err
			}
			eb.Presets = append(eb.Presets, ref(u))
		}
		if x := e.XMP; x != nil {
			u, err := c.auxURL(ctx, x.File)
			if err != nil {
				return nil, err
			}
			xb := &xmpBody{Source: urlSource{u}, Orientation: x.Orientation}
			for _, m := range x.Masks {
				u, err := c.auxURL(ctx, m.File)
				if err != nil {
					return nil, err
				}
				xb.Masks = append(xb.Masks, maskBody{Source: urlSource{u}, Digest: m.Digest})
			}
			eb.XMP = xb
		}
		if data, _ := json.Marshal(eb); string(data) != "{}" {
			b.Edits = &eb
		}
	}
	return b, nil
}

// actionsRequest is the body of POST /v2/execute-actions for action files, uploaded (or inline when small).
func (c *Client) actionsRequest(ctx context.Context, step Step, image sourceRef, outs []outputBody, src string) (any, error) {
	b := actionsBody{Image: image, Outputs: outs}
	a := step.Actions
	if a == nil || len(a.Actions) == 0 {
		return nil, fmt.Errorf("submit: an actions step needs at least one action file")
	}
	for _, act := range a.Actions {
		ab, err := c.actionBody(ctx, act)
		if err != nil {
			return nil, err
		}
		b.Options.Actions = append(b.Options.Actions, ab)
	}
	var err error
	if b.Options.AdditionalContents, err = c.refs(ctx, a.AdditionalContents); err != nil {
		return nil, err
	}
	if b.Options.Brushes, err = c.refs(ctx, a.Brushes); err != nil {
		return nil, err
	}
	if b.Options.Patterns, err = c.refs(ctx, a.Patterns); err != nil {
		return nil, err
	}
	if f := a.FontOptions; f != nil {
		fb := &fontOptionsBody{DefaultFontPostScriptName: f.DefaultFontPostScriptName, MissingFontStrategy: f.MissingFontStrategy}
		if fb.AdditionalFonts, err = c.refs(ctx, f.AdditionalFonts); err != nil {
			return nil, err
		}
		b.Options.FontOptions = fb
	}
	return b, nil
}

// productCropRequest is the body of POST /v2/execute-actions with Adobe's product-crop ActionJSON.
func (c *Client) productCropRequest(ctx context.Context, step Step, image sourceRef, outs []outputBody, src string) (any, error) {
	var pc ProductCrop
	if step.ProductCrop != nil {
		pc = *step.ProductCrop
	}
	content, err := productCropJSON(pc.padding())
	if err != nil {
		return nil, err
	}
	b := actionsBody{Image: image, Outputs: outs}
	b.Options.Actions = []actionBody{{Source: actionSource{Content: string(content), ContentType: "application/json"}}}
	return b, nil
}

// compositeRequest is the body of POST /v2/create-composite, its watermark uploaded.
func (c *Client) compositeRequest(ctx context.Context, step Step, image sourceRef, outs []outputBody, src string) (any, error) {
	b := compositeBody{Image: image, Outputs: outs}
	cp := step.Composite
	if cp == nil {
		return b, nil
	}
	var ed compositeEdits
	if rs := cp.Resize; rs != nil || cp.Trim {
		ed.Document = &documentBody{}
		if rs != nil {
			r := rs.withDefaults()
			ed.Document.Resize = &resizeBody{Width: dimension(r.Width), Height: dimension(r.Height),
				ConstrainProportions: r.ConstrainProportions, Resample: r.Resample}
		}
		if cp.Trim {
			ed.Document.Trim = &documentTrim{TrimUpon: "transparent_pixels"}
		}
	}
	if cp.Watermark != "" {
		u, err := c.auxURL(ctx, cp.Watermark)
		if err != nil {
			return nil, err
		}
		l := layerBody{Type: "layer", Name: "Watermark", Image: ref(u)}
		l.Operation.Type, l.Operation.Placement.Type = "add", "top"
		ed.Layers = []layerBody{l}
	}
	if ed.Document != nil || ed.Layers != nil {
		b.Edits = &ed
	}
	return b, nil
}

// manifestRequest is the body of POST /v2/generate-manifest.
func (c *Client) manifestRequest(ctx context.Context, step Step, image sourceRef, outs []outputBody, src string) (any, error) {
	b := manifestBody{Image: image, Outputs: outs}
	if m := step.Manifest; m != nil {
		b.IncludeLayerThumbnails, b.MaximumThumbnailDepth, b.TrimToTransparency = m.IncludeLayerThumbnails, m.MaximumThumbnailDepth, m.TrimToTransparency
		b.IncludeXmp, b.ExtractSmartObjectData = m.IncludeXmp, m.ExtractSmartObjectData
		if eo := m.ExportOptions; eo != nil {
			b.ExportOptions = &exportOptionsBody{MediaType: eo.MediaType(), Quality: eo.Quality, Compression: eo.Compression}
		}
	}
	return b, nil
}

// autoCropRequest is the body of POST /v1/auto-crop.
func (c *Client) autoCropRequest(ctx context.Context, step Step, image sourceRef, outs []outputBody, src string) (any, error) {
	var a AutoCrop
	if step.AutoCrop != nil {
		a = *step.AutoCrop
	}
	a = a.withDefaults()
	b := autoCropBody{Mode: a.Mode, AspectRatio: a.AspectRatio, Focus: a.Focus, Zoom: a.Zoom, OutputType: "images"}
	b.Image.Source.URL = src
	b.Image.MediaType = mediaTypeOfURL(src)
	return b, nil
}

// outputBodies are the outputs[] of step's request: hosted for
// validityPeriod, the manifest embedded as JSON.
func (c *Client) outputBodies(ctx context.Context, step Step) ([]outputBody, error) {
	var icc *iccBody
	if step.Op == OpComposite && step.Composite != nil && step.Composite.ICC != nil {
		p := step.Composite.ICC
		icc = &iccBody{Type: "standard", Name: p.Name, ImageMode: p.ImageMode}
		if p.File != "" {
			u, err := c.auxURL(ctx, p.File)
			if err != nil {
				return nil, err
			}
			icc.Type, icc.Source = "custom", &urlSource{u}
		}
	}
	var outs []outputBody
	for _, r := range step.Outputs {
		o := outputBody{Destination: destinationBody{ValidityPeriod: int(c.cfg.ResultValidity.Seconds())}, MediaType: r.MediaType(),
			Quality: r.Quality, Compression: r.Compression, Width: r.Width, MaxWidth: r.MaxWidth, Resample: r.Resample, ICCProfile: icc}
		if step.Op == OpManifest {
			o.Destination = destinationBody{Embedded: "json"}
		}
		// execute-actions guarantees no JPEG quality: ask for the best
		// (photoshop-v2-ops.md §2.5).
		if (step.Op == OpActions || step.Op == OpProductCrop) && r.Format == "jpeg" && r.Quality == "" {
			o.Quality = "photoshop_max"
		}
		outs = append(outs, o)
	}
	return outs, nil
}

// actionBody is one action file: ActionJSON of at most 50 KB inline (as
// the JSON text of an array), anything else by URL.
func (c *Client) actionBody(ctx context.Context, a Action) (actionBody, error) {
	kind, err := actionKind(a.File)
	if err != nil {
		return actionBody{}, fmt.Errorf("submit: %w", err)
	}
	ab := actionBody{ActionName: a.Action}
	if kind == "json" {
		// Read once per job, and checked by actionJSON: the file may
		// have changed since Normalize.
		data, err := readAux(a.File)
		if err != nil {
			return actionBody{}, err
		}
		content, err := actionJSON(data)
		if err != nil {
			return actionBody{}, fmt.Errorf("submit: %s: %w", a.File, err)
		}
		if utf8.RuneCount(content) <= maxInline {
			ab.Source = actionSource{Content: string(content), ContentType: "application/json"}
			return ab, nil
		}
	}
	u, err := c.auxURL(ctx, a.File)
	if err != nil {
		return actionBody{}, err
	}
	ab.Source = actionSource{URL: u}
	return ab, nil
}

// refs uploads files and returns them as {"source":{"url":…}}.
func (c *Client) refs(ctx context.Context, files []string) ([]sourceRef, error) {
	var out []sourceRef
	for _, f := range files {
		u, err := c.auxURL(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, ref(u))
	}
	return out, nil
}

func dimension(d *Dimension) *dimensionBody {
	if d == nil {
		return nil
	}
	if d.Percent {
		return &dimensionBody{Unit: "percent_unit", Value: d.Value}
	}
	return &dimensionBody{Unit: "pixels_unit", Value: d.Value}
}

// mediaTypeOfURL guesses an input's media type from its URL's file name
// (Upload keeps the input's extension in the key): image/jpeg, image/png,
// image/webp, or "" (then auto-crop is sent none; it is optional).
func mediaTypeOfURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	switch strings.ToLower(pathpkg.Ext(u.Path)) {
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".png":
		return "image/png"
	case ".webp":
		return "image/webp"
	}
	return ""
}

// productCropSteps is Adobe's product-crop ActionJSON, verbatim from
// AdobeDocs/ffs-photoshop-API src/pages/guides/photoshop-v2/v1-to-v2/
// convenience-apis/product-crop.md (commit 572d708): cut the subject out,
// mask it, make it a smart object, trim, pad the canvas (step 5, the
// padding), back to layers, drop the mask, trim again.
const productCropSteps = `[{"_obj":"autoCutout","sampleAllLayers":false},` +
	`{"_obj":"make","at":{"_enum":"channel","_ref":"channel","_value":"mask"},"new":{"_class":"channel"},"using":{"_enum":"userMaskEnabled","_value":"revealSelection"}},` +
	`{"_obj":"newPlacedLayer"},` +
	`{"_obj":"trim","bottom":true,"left":true,"right":true,"top":true,"trimBasedOn":{"_enum":"trimBasedOn","_value":"transparency"}},` +
	`{"_obj":"canvasSize","height":{"_unit":"pixelsUnit","_value":10},"horizontal":{"_enum":"horizontalLocation","_value":"center"},"relative":true,"vertical":{"_enum":"verticalLocation","_value":"center"},"width":{"_unit":"pixelsUnit","_value":10}},` +
	`{"_obj":"placedLayerConvertToLayers"},` +
	`{"_obj":"delete","_target":[{"_enum":"channel","_ref":"channel","_value":"mask"}]},` +
	`{"_obj":"trim","bottom":true,"left":true,"right":true,"top":true,"trimBasedOn":{"_enum":"trimBasedOn","_value":"transparency"}}]`

// productCropJSON returns the product-crop ActionJSON with the canvasSize
// step's width and height set to pad: pixelsUnit, or percentUnit for a
// percentage, as Adobe's guide customizes it.
func productCropJSON(pad Length) ([]byte, error) {
	var steps []map[string]any
	if err := json.Unmarshal([]byte(productCropSteps), &steps); err != nil {
		return nil, err
	}
	unit := "pixelsUnit"
	if pad.Percent {
		unit = "percentUnit"
	}
	for _, s := range steps {
		if s["_obj"] == "canvasSize" {
			for _, k := range []string{"width", "height"} {
				s[k] = map[string]any{"_unit": unit, "_value": pad.Value}
			}
		}
	}
	return json.Marshal(steps)
}
