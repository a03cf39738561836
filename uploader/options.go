package uploader

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// The options of each operation. Their recipe keys (the json names) are
// Adobe's field names wherever Adobe has one, so that Adobe's reference
// explains them; files are local paths, resolved by [Recipe.Normalize] and
// uploaded by the Client (see aux.go).

// RemoveBackground holds the options of POST /v2/remove-background. The
// output format is the step's single rendition.
type RemoveBackground struct {
	Mode            string `json:"mode,omitempty"`            // cutout (Adobe's default), mask or psd
	BackgroundColor *Color `json:"backgroundColor,omitempty"` // nil: transparent (beware: Adobe's JPEG output then comes back black)
	// Trim crops the result to the cut-out's border.
	Trim bool `json:"trim,omitempty"`
	// ColorDecontamination (0–1; nil: Adobe's default, 1) removes colour
	// the background left on the subject.
	ColorDecontamination *float64 `json:"colorDecontamination,omitempty"`
}

// Color is a background colour: RGB 0–255 and alpha 0–1. A recipe gives
// it as {red, green, blue, alpha} (alpha defaults to 1) or as hex, "#ffffff"
// or "ffffff80".
type Color struct {
	Red   int     `json:"red"`
	Green int     `json:"green"`
	Blue  int     `json:"blue"`
	Alpha float64 `json:"alpha"`
}

func (c *Color) decodeRecipe(v any, p path) error {
	if n, ok := v.(json.Number); ok && (len(n) == 6 || len(n) == 8) && strings.Trim(string(n), "0123456789") == "" {
		// Hex that happens to be all digits (123456) reads as a
		// number, in -set's JSON as in YAML: it is still the colour.
		v = string(n)
	}
	if s, ok := v.(string); ok {
		h := strings.TrimPrefix(strings.TrimSpace(s), "#")
		n, err := strconv.ParseUint(h, 16, 32)
		switch {
		case err != nil || len(h) != 6 && len(h) != 8:
			return p.errorf("colour %q: want hex RRGGBB or RRGGBBAA, or {red, green, blue, alpha}", s)
		case len(h) == 6:
			*c = Color{int(n >> 16), int(n >> 8 & 0xff), int(n & 0xff), 1}
		default:
			*c = Color{int(n >> 24), int(n >> 16 & 0xff), int(n >> 8 & 0xff), math.Round(float64(n&0xff)/255*1000) / 1000}
		}
		return nil
	}
	x := Color{Alpha: 1}
	obj, ok := v.(map[string]any)
	if !ok {
		return p.errorf("want a colour (hex or {red, green, blue, alpha}), got %s", describe(v))
	}
	if err := decodeObject(obj, reflect.ValueOf(&x).Elem(), p, nil); err != nil {
		return err
	}
	*c = x
	return nil
}

// Edit holds the options of POST /v2/edit: Lightroom's adjustments, then
// presets and an XMP file, in Adobe's order.
type Edit struct {
	AutoTone       bool              `json:"autoTone,omitempty"`
	AutoStraighten *AutoStraighten   `json:"autoStraighten,omitempty"` // a recipe may give just true
	Light          *Light            `json:"light,omitempty"`
	Color          *ColorAdjustments `json:"color,omitempty"`
	Effects        *Effects          `json:"effects,omitempty"`
	Sharpen        *Sharpen          `json:"sharpen,omitempty"`
	Sharpness      int               `json:"sharpness,omitempty"` // 0–150
	NoiseReduction *NoiseReduction   `json:"noiseReduction,omitempty"`
	Presets        []string          `json:"presets,omitempty"` // Lightroom preset files (.xmp), at most 10, applied in order
	XMP            *XMP              `json:"xmp,omitempty"`     // a recipe may give just the file
}

// AutoStraighten straightens the image. In a recipe, true is
// {enabled: true}, and enabled defaults to true in an object.
type AutoStraighten struct {
	Enabled       bool   `json:"enabled"`
	ConstrainCrop *bool  `json:"constrainCrop,omitempty"` // crop away the blank edges; nil: Adobe's default, true
	UprightMode   string `json:"uprightMode,omitempty"`   // auto, full, level or vertical
}

func (a *AutoStraighten) decodeRecipe(v any, p path) error {
	if b, ok := v.(bool); ok {
		*a = AutoStraighten{Enabled: b}
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return p.errorf("want true, false or {enabled, constrainCrop, uprightMode}, got %s", describe(v))
	}
	x := AutoStraighten{Enabled: true}
	if err := decodeObject(obj, reflect.ValueOf(&x).Elem(), p, nil); err != nil {
		return err
	}
	*a = x
	return nil
}

// Light is Lightroom's light panel: exposure −5…5, the rest −100…100.
type Light struct {
	Exposure   float64 `json:"exposure,omitempty"`
	Contrast   int     `json:"contrast,omitempty"`
	Highlights int     `json:"highlights,omitempty"`
	Shadows    int     `json:"shadows,omitempty"`
	Whites     int     `json:"whites,omitempty"`
	Blacks     int     `json:"blacks,omitempty"`
}

// ColorAdjustments is Lightroom's colour panel: saturation and vibrance
// −100…100, and a white balance preset.
type ColorAdjustments struct {
	Saturation   int    `json:"saturation,omitempty"`
	Vibrance     int    `json:"vibrance,omitempty"`
	WhiteBalance string `json:"whiteBalance,omitempty"` // As Shot, Auto, Cloudy, Custom, Daylight, Flash, Fluorescent, Shade, Tungsten
}

// Effects is Lightroom's effects panel, each −100…100.
type Effects struct {
	Clarity  int `json:"clarity,omitempty"`
	Dehaze   int `json:"dehaze,omitempty"`
	Texture  int `json:"texture,omitempty"`
	Vignette int `json:"vignette,omitempty"`
}

// Sharpen is Lightroom's sharpening: detail and edgeMasking 0…100, radius
// 0.5…3.
type Sharpen struct {
	Detail      int     `json:"detail,omitempty"`
	Radius      float64 `json:"radius,omitempty"`
	EdgeMasking int     `json:"edgeMasking,omitempty"`
}

// NoiseReduction is Lightroom's noise reduction, each 0…100.
type NoiseReduction struct {
	Luminance int `json:"luminance,omitempty"`
	Color     int `json:"color,omitempty"`
}

// XMP is a Camera Raw / Lightroom settings file applied to the image. A
// recipe may give just the file.
type XMP struct {
	File        string    `json:"file"`
	Orientation string    `json:"orientation,omitempty"` // top_left, top_right, bottom_right, bottom_left, left_top, right_top, right_bottom, left_bottom
	Masks       []XMPMask `json:"masks,omitempty"`
}

// XMPMask is a mask file Camera Raw wrote for the XMP, and the digest the
// XMP knows it by.
type XMPMask struct {
	File   string `json:"file"`
	Digest string `json:"digest"`
}

func (x *XMP) decodeRecipe(v any, p path) error {
	if s, ok := v.(string); ok {
		*x = XMP{File: s}
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return p.errorf("want a file or {file, orientation, masks}, got %s", describe(v))
	}
	var y XMP
	if err := decodeObject(obj, reflect.ValueOf(&y).Elem(), p, nil); err != nil {
		return err
	}
	*x = y
	return nil
}

// Actions holds the options of POST /v2/execute-actions: Photoshop actions
// run in order, and the files they may use.
type Actions struct {
	Actions []Action `json:"actions"` // 1–10, run in order
	// AdditionalContents are files the actions refer to as
	// __ADDITIONAL_CONTENTS_PATH_0__, _1__… (at most 25).
	AdditionalContents []string     `json:"additionalContents,omitempty"`
	Brushes            []string     `json:"brushes,omitempty"`  // .abr files, at most 10
	Patterns           []string     `json:"patterns,omitempty"` // .pat files, at most 10
	FontOptions        *FontOptions `json:"fontOptions,omitempty"`
}

// Action is an action file: an .atn action set (with the name of the
// action to run, else all of them) or an ActionJSON .json file (an array
// of descriptors). A recipe may give just the file.
type Action struct {
	File   string `json:"file"`
	Action string `json:"action,omitempty"` // Adobe's actionName; a recipe may call it that too
}

func (a *Action) decodeRecipe(v any, p path) error {
	if s, ok := v.(string); ok {
		*a = Action{File: s}
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return p.errorf("want an action file or {file, action}, got %s", describe(v))
	}
	var x Action
	if err := decodeObject(obj, reflect.ValueOf(&x).Elem(), p, map[string]string{"actionName": "action"}); err != nil {
		return err
	}
	*a = x
	return nil
}

// FontOptions are the fonts actions may need.
type FontOptions struct {
	AdditionalFonts           []string `json:"additionalFonts,omitempty"` // font files
	DefaultFontPostScriptName string   `json:"defaultFontPostScriptName,omitempty"`
	MissingFontStrategy       string   `json:"missingFontStrategy,omitempty"` // fail or use_default
}

// ProductCrop runs Adobe's product-crop ActionJSON (photoshop-v2-ops.md
// §4): cut the subject out, trim to it, and pad the canvas.
type ProductCrop struct {
	Padding *Length `json:"padding,omitempty"` // Adobe's default: 10px
}

// Length is pixels or a percentage: a recipe gives 40, "40px" or "5%".
type Length struct {
	Value   float64
	Percent bool
}

func (l Length) String() string {
	if l.Percent {
		return strconv.FormatFloat(l.Value, 'f', -1, 64) + "%"
	}
	return strconv.FormatFloat(l.Value, 'f', -1, 64) + "px"
}

// MarshalJSON writes l as a recipe holds it: "40px" or "5%".
func (l Length) MarshalJSON() ([]byte, error) { return strconv.AppendQuote(nil, l.String()), nil }

func (l *Length) decodeRecipe(v any, p path) error {
	s := ""
	switch v := v.(type) {
	case json.Number:
		s = v.String()
	case string:
		s = strings.TrimSpace(v)
	default:
		return p.errorf("want pixels or a percentage (40, \"40px\", \"5%%\"), got %s", describe(v))
	}
	x := Length{}
	num := s
	switch {
	case strings.HasSuffix(s, "%"):
		x.Percent, num = true, strings.TrimSpace(strings.TrimSuffix(s, "%"))
	case strings.HasSuffix(s, "px"):
		num = strings.TrimSpace(strings.TrimSuffix(s, "px"))
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return p.errorf("%q is not pixels or a percentage (40, \"40px\", \"5%%\")", s)
	}
	x.Value = f
	*l = x
	return nil
}

// Composite holds the options of POST /v2/create-composite: resize, then
// trim (Adobe's order), a watermark layer on top, and the colour profile
// every output is converted to.
type Composite struct {
	Resize    *Resize     `json:"resize,omitempty"`
	Trim      bool        `json:"trim,omitempty"`      // trim transparent pixels away
	Watermark string      `json:"watermark,omitempty"` // an image file, added as the top layer
	ICC       *ICCProfile `json:"icc,omitempty"`       // a recipe may give a standard profile's name
}

// Resize resizes the document: a width and/or height in pixels or percent.
type Resize struct {
	Width                *Dimension `json:"width,omitempty"`
	Height               *Dimension `json:"height,omitempty"`
	ConstrainProportions *bool      `json:"constrainProportions,omitempty"` // default true
	Resample             string     `json:"resample,omitempty"`             // default bicubic (Adobe's guide; its spec says bilinear, so it is always sent)
}

// Dimension is a whole number of pixels or a percentage: a recipe gives
// 2048, "2048px" or "50%".
type Dimension struct {
	Value   int
	Percent bool
}

func (d Dimension) String() string {
	if d.Percent {
		return strconv.Itoa(d.Value) + "%"
	}
	return strconv.Itoa(d.Value) + "px"
}

// MarshalJSON writes d as a recipe holds it: "2048px" or "50%".
func (d Dimension) MarshalJSON() ([]byte, error) { return strconv.AppendQuote(nil, d.String()), nil }

func (d *Dimension) decodeRecipe(v any, p path) error {
	var l Length
	if err := l.decodeRecipe(v, p); err != nil {
		return err
	}
	if l.Value != math.Trunc(l.Value) || l.Value < 0 || l.Value > math.MaxInt32 {
		return p.errorf("%s: want a whole number of pixels or percent, at least 0", l)
	}
	*d = Dimension{Value: int(l.Value), Percent: l.Percent}
	return nil
}

// ICCProfile is the colour profile outputs are converted to: one of
// Adobe's standard profiles by name, or a custom ICC file with a name.
type ICCProfile struct {
	Name      string `json:"name"`
	File      string `json:"file,omitempty"`      // a custom profile's .icc file
	ImageMode string `json:"imageMode,omitempty"` // rgb or grayscale (custom: cmyk too)
}

func (c *ICCProfile) decodeRecipe(v any, p path) error {
	if s, ok := v.(string); ok {
		*c = ICCProfile{Name: s}
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return p.errorf("want a standard profile's name or {file, name, imageMode}, got %s", describe(v))
	}
	var x ICCProfile
	if err := decodeObject(obj, reflect.ValueOf(&x).Elem(), p, nil); err != nil {
		return err
	}
	*c = x
	return nil
}

// Manifest holds the options of POST /v2/generate-manifest. Its output is
// the manifest, JSON, returned embedded in the job's status.
type Manifest struct {
	IncludeLayerThumbnails bool       `json:"includeLayerThumbnails,omitempty"`
	MaximumThumbnailDepth  int        `json:"maximumThumbnailDepth,omitempty"` // 0: no limit
	TrimToTransparency     bool       `json:"trimToTransparency,omitempty"`    // of the thumbnails
	IncludeXmp             bool       `json:"includeXmp,omitempty"`
	ExtractSmartObjectData bool       `json:"extractSmartObjectData,omitempty"`
	ExportOptions          *Rendition `json:"exportOptions,omitempty"` // the thumbnails' format: jpeg or png, e.g. "jpeg:quality=high"
}

// AutoCrop holds the options of POST /v1/auto-crop (beta). Each aspect
// ratio gives one cropped image.
type AutoCrop struct {
	Mode        string    `json:"mode,omitempty"`        // smartCrop (default), subjectCrop, fullSceneDetection or objectDetection
	AspectRatio []string  `json:"aspectRatio,omitempty"` // at most 20 of 1:1, 16:9, 9:16, 4:3, 3:4, 4:5, 5:4, 3:2, 2:3, 21:9; default 1:1 (crop modes only)
	Focus       []string  `json:"focus,omitempty"`       // labels of what to keep; required by subjectCrop and objectDetection
	Zoom        []float64 `json:"zoom,omitempty"`        // one per aspect ratio, each in (0, 1]
}

// options returns a pointer to s's options for its Op, allocating them if
// alloc; nil for an unknown Op (or absent options when !alloc).
func (s *Step) options(alloc bool) any {
	switch s.Op {
	case OpRemoveBackground:
		return allocOpt(&s.RemoveBackground, alloc)
	case OpEdit:
		return allocOpt(&s.Edit, alloc)
	case OpActions:
		return allocOpt(&s.Actions, alloc)
	case OpProductCrop:
		return allocOpt(&s.ProductCrop, alloc)
	case OpComposite:
		return allocOpt(&s.Composite, alloc)
	case OpManifest:
		return allocOpt(&s.Manifest, alloc)
	case OpAutoCrop:
		return allocOpt(&s.AutoCrop, alloc)
	}
	return nil
}

func allocOpt[T any](p **T, alloc bool) any {
	if *p == nil {
		if !alloc {
			return nil
		}
		*p = new(T)
	}
	return *p
}

// otherOptions names the options fields set for another operation than
// s.Op, for errors.
func (s *Step) otherOptions() []string {
	var set []string
	for _, f := range []struct {
		op  string
		set bool
	}{
		{OpRemoveBackground, s.RemoveBackground != nil}, {OpEdit, s.Edit != nil}, {OpActions, s.Actions != nil},
		{OpProductCrop, s.ProductCrop != nil}, {OpComposite, s.Composite != nil}, {OpManifest, s.Manifest != nil},
		{OpAutoCrop, s.AutoCrop != nil},
	} {
		if f.set && f.op != s.Op {
			set = append(set, f.op)
		}
	}
	return set
}

// checkOp checks that s.Op is an operation.
func (s *Step) checkOp(p path) error {
	for _, op := range Ops() {
		if s.Op == op {
			return nil
		}
	}
	if s.Op == "" {
		return p.field("op").errorf("no operation (want one of %s)", strings.Join(Ops(), ", "))
	}
	return p.field("op").errorf("unknown operation %q (want one of %s)", s.Op, strings.Join(Ops(), ", "))
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// errNotOp is the error of options set for another operation.
func errNotOp(p path, op string, other []string) error {
	return p.errorf("the step is %s, but has options of %s", op, strings.Join(other, ", "))
}
