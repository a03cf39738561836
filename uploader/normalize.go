package uploader

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Limits and enumerations of Adobe's spec (photoshopv2-api.json and, for
// remove background, its last revision that had it).
const (
	maxOutputs  = 25
	maxPresets  = 10
	maxActions  = 10
	maxContents = 25
	maxBrushes  = 10 // brushes, and patterns
	maxRatios   = 20 // aspect ratios, and zooms
	maxInline   = 51200
	maxICCName  = 255
)

var (
	rbModes          = []string{"cutout", "mask", "psd"}
	whiteBalances    = []string{"As Shot", "Auto", "Cloudy", "Custom", "Daylight", "Flash", "Fluorescent", "Shade", "Tungsten"}
	uprightModes     = []string{"auto", "full", "level", "vertical"}
	xmpOrientations  = []string{"top_left", "top_right", "bottom_right", "bottom_left", "left_top", "right_top", "right_bottom", "left_bottom"}
	fontStrategies   = []string{"fail", "use_default"}
	standardProfiles = []string{"Adobe RGB (1998)", "Apple RGB", "ColorMatch RGB", "sRGB IEC61966-2.1", "Dot Gain 10%",
		"Dot Gain 15%", "Dot Gain 20%", "Dot Gain 25%", "Dot Gain 30%", "Gray Gamma 1.8", "Gray Gamma 2.2"}
	autoCropModes  = []string{"smartCrop", "subjectCrop", "fullSceneDetection", "objectDetection"}
	aspectRatios   = []string{"1:1", "16:9", "9:16", "4:3", "3:4", "4:5", "5:4", "3:2", "2:3", "21:9"}
	defaultPadding = Length{Value: 10} // Adobe's product-crop ActionJSON pads by 10 px
)

// outputRule is which renditions an operation writes.
type outputRule struct {
	formats []string // formats it can write
	sized   bool     // width, maxWidth and resample allowed
	plain   bool     // no rendition options at all
	def     Rendition
}

func outputRules(op string) outputRule {
	switch op {
	case OpRemoveBackground:
		return outputRule{formats: []string{"png", "jpeg", "webp", "psd"}, plain: true, def: Rendition{Format: "png"}}
	case OpEdit:
		return outputRule{formats: []string{"jpeg", "png", "dng", "xmp"}, def: Rendition{Format: "jpeg", Quality: "maximum"}}
	case OpActions, OpComposite:
		return outputRule{formats: []string{"jpeg", "png", "tiff", "psd"}, sized: true, def: Rendition{Format: "jpeg", Quality: "photoshop_max"}}
	case OpProductCrop:
		return outputRule{formats: []string{"jpeg", "png", "tiff", "psd"}, sized: true, def: Rendition{Format: "png"}}
	case OpManifest:
		return outputRule{formats: []string{"json"}, plain: true, def: Rendition{Format: "json"}}
	}
	return outputRule{} // auto-crop: none
}

// Normalize checks the recipe and fills in its defaults, so that what is
// sent, and the [Recipe.Fingerprint], no longer depend on what was left
// out. It checks every option's enumeration and range (Adobe's spec), at
// most 10 presets and actions, that manifest and auto-crop are last, and
// the renditions: 1–25 for the last step (remove background exactly one,
// png, jpeg, webp or psd without options; edit jpeg, png, dng or xmp, not
// resized; actions, product-crop and composite jpeg, png, tiff or psd;
// manifest json; auto-crop none), exactly one for an earlier step, whose
// result the next step reads. Defaults: remove background png; edit jpeg
// quality maximum; actions and composite jpeg photoshop_max; product-crop
// png; manifest json; an earlier step png (it keeps transparency).
// Relative file paths are resolved against dir (the recipe file's folder,
// or the working directory for flags; "" is the working directory) and
// must exist; action files must be .atn or ActionJSON, ICC files ICC
// profiles. Errors name the field: "steps[1].light.exposure: 7 is out of
// -5…5".
func (r *Recipe) Normalize(dir string) error {
	if len(r.Steps) == 0 {
		return errors.New("steps: a recipe needs at least one step")
	}
	dir, err := filepath.Abs(dir) // "" is the working directory
	if err != nil {
		return fmt.Errorf("recipe: %w", err)
	}
	for i := range r.Steps {
		s := &r.Steps[i]
		p := path("steps").index(i)
		if err := s.checkOp(p); err != nil {
			return err
		}
		if other := s.otherOptions(); len(other) > 0 {
			return errNotOp(p, s.Op, other)
		}
		if last := i == len(r.Steps)-1; !last && (s.Op == OpManifest || s.Op == OpAutoCrop) {
			return p.errorf("%s can only be the last step: what it returns is not an image for the next step", s.Op)
		}
	}
	for i := range r.Steps {
		s := &r.Steps[i]
		p := path("steps").index(i)
		s.options(true)
		if err := s.checkOptions(p); err != nil {
			return err
		}
		s.fillDefaults()
		next := ""
		if i < len(r.Steps)-1 {
			next = r.Steps[i+1].Op
		}
		if err := s.normalizeOutputs(p, next); err != nil {
			return err
		}
		if err := s.resolveFiles(p, dir); err != nil {
			return err
		}
	}
	return nil
}

// fillDefaults sets the option defaults Normalize fills in.
func (s *Step) fillDefaults() {
	switch s.Op {
	case OpProductCrop:
		pc := s.ProductCrop
		pc.Padding = new(pc.padding())
	case OpComposite:
		if rs := s.Composite.Resize; rs != nil {
			*rs = rs.withDefaults()
		}
	case OpAutoCrop:
		*s.AutoCrop = s.AutoCrop.withDefaults()
	}
}

// padding is the padding to apply: Adobe's 10 px when none is given.
func (pc ProductCrop) padding() Length {
	if pc.Padding == nil {
		return defaultPadding
	}
	return *pc.Padding
}

// withDefaults fills in what is always sent: proportions kept and the
// resampling (whose default Adobe's spec and guide disagree on).
func (rs Resize) withDefaults() Resize {
	if rs.ConstrainProportions == nil {
		rs.ConstrainProportions = new(true)
	}
	if rs.Resample == "" {
		rs.Resample = "bicubic"
	}
	return rs
}

// cropModes are the auto-crop modes that make crops (and take aspect ratios).
func cropMode(mode string) bool { return mode == "smartCrop" || mode == "subjectCrop" }

// withDefaults fills in smartCrop and, for a crop mode, the 1:1 aspect
// ratio Adobe defaults to, so that the number of results is known.
func (a AutoCrop) withDefaults() AutoCrop {
	if a.Mode == "" {
		a.Mode = "smartCrop"
	}
	if cropMode(a.Mode) && len(a.AspectRatio) == 0 {
		a.AspectRatio = []string{"1:1"}
	}
	return a
}

// Ratios returns the aspect ratios an auto-crop job crops to, in order,
// defaults applied (1:1 when none is given): Wait returns one result for
// each. None for the detection modes, whose number of results is not
// known in advance. A nil AutoCrop has the defaults.
func (a *AutoCrop) Ratios() []string {
	var v AutoCrop
	if a != nil {
		v = *a
	}
	return slices.Clone(v.withDefaults().AspectRatio)
}

// checkOptions checks the values of s's options (none may be nil but
// those of other operations), against Adobe's spec.
func (s *Step) checkOptions(p path) error {
	switch s.Op {
	case OpRemoveBackground:
		rb := s.RemoveBackground
		if rb == nil {
			return nil
		}
		if err := enum(p.field("mode"), rb.Mode, rbModes); err != nil {
			return err
		}
		if c := rb.BackgroundColor; c != nil {
			q := p.field("backgroundColor")
			for _, ch := range []struct {
				name string
				v    int
			}{{"red", c.Red}, {"green", c.Green}, {"blue", c.Blue}} {
				if err := inRange(q.field(ch.name), float64(ch.v), 0, 255); err != nil {
					return err
				}
			}
			if err := inRange(q.field("alpha"), c.Alpha, 0, 1); err != nil {
				return err
			}
		}
		if d := rb.ColorDecontamination; d != nil {
			return inRange(p.field("colorDecontamination"), *d, 0, 1)
		}
	case OpEdit:
		return s.Edit.check(p)
	case OpActions:
		return s.Actions.check(p)
	case OpProductCrop:
		if pad := s.ProductCrop.padding(); pad.Value < 0 || pad.Value > 100000 {
			return p.field("padding").errorf("%s is out of 0…100000", pad)
		}
	case OpComposite:
		return s.Composite.check(p)
	case OpManifest:
		m := s.Manifest
		if m.MaximumThumbnailDepth < 0 {
			return p.field("maximumThumbnailDepth").errorf("%d: want 0 (no limit) or more", m.MaximumThumbnailDepth)
		}
		if eo := m.ExportOptions; eo != nil {
			q := p.field("exportOptions")
			if eo.Format != "jpeg" && eo.Format != "png" {
				return q.errorf("thumbnails are jpeg or png, not %s", eo.Format)
			}
			if eo.Width != 0 || eo.MaxWidth != 0 || eo.Resample != "" {
				return q.errorf("thumbnails take quality (jpeg) or compression (png) only")
			}
			if err := eo.check(); err != nil {
				return q.errorf("%v", err)
			}
		}
	case OpAutoCrop:
		return s.AutoCrop.withDefaults().check(p)
	}
	return nil
}

func (e *Edit) check(p path) error {
	if a := e.AutoStraighten; a != nil {
		if err := enum(p.field("autoStraighten").field("uprightMode"), a.UprightMode, uprightModes); err != nil {
			return err
		}
	}
	type rng struct {
		name   string
		v      float64
		lo, hi float64
	}
	var checks []rng
	if l := e.Light; l != nil {
		q := "light."
		checks = append(checks, rng{q + "exposure", l.Exposure, -5, 5}, rng{q + "contrast", float64(l.Contrast), -100, 100},
			rng{q + "highlights", float64(l.Highlights), -100, 100}, rng{q + "shadows", float64(l.Shadows), -100, 100},
			rng{q + "whites", float64(l.Whites), -100, 100}, rng{q + "blacks", float64(l.Blacks), -100, 100})
	}
	if c := e.Color; c != nil {
		checks = append(checks, rng{"color.saturation", float64(c.Saturation), -100, 100}, rng{"color.vibrance", float64(c.Vibrance), -100, 100})
		if err := enum(p.field("color").field("whiteBalance"), c.WhiteBalance, whiteBalances); err != nil {
			return err
		}
	}
	if f := e.Effects; f != nil {
		q := "effects."
		checks = append(checks, rng{q + "clarity", float64(f.Clarity), -100, 100}, rng{q + "dehaze", float64(f.Dehaze), -100, 100},
			rng{q + "texture", float64(f.Texture), -100, 100}, rng{q + "vignette", float64(f.Vignette), -100, 100})
	}
	if sh := e.Sharpen; sh != nil {
		checks = append(checks, rng{"sharpen.detail", float64(sh.Detail), 0, 100}, rng{"sharpen.edgeMasking", float64(sh.EdgeMasking), 0, 100})
		if sh.Radius != 0 {
			checks = append(checks, rng{"sharpen.radius", sh.Radius, 0.5, 3})
		}
	}
	checks = append(checks, rng{"sharpness", float64(e.Sharpness), 0, 150})
	if n := e.NoiseReduction; n != nil {
		checks = append(checks, rng{"noiseReduction.luminance", float64(n.Luminance), 0, 100}, rng{"noiseReduction.color", float64(n.Color), 0, 100})
	}
	for _, c := range checks {
		q := p
		for part := range strings.SplitSeq(c.name, ".") {
			q = q.field(part)
		}
		if err := inRange(q, c.v, c.lo, c.hi); err != nil {
			return err
		}
	}
	if n := len(e.Presets); n > maxPresets {
		return p.field("presets").errorf("%d presets: at most %d", n, maxPresets)
	}
	if x := e.XMP; x != nil {
		q := p.field("xmp")
		if err := enum(q.field("orientation"), x.Orientation, xmpOrientations); err != nil {
			return err
		}
		for i, m := range x.Masks {
			if m.Digest == "" {
				return q.field("masks").index(i).field("digest").errorf("missing: the digest the XMP knows the mask by")
			}
		}
	}
	return nil
}

func (a *Actions) check(p path) error {
	switch n := len(a.Actions); {
	case n == 0:
		return p.field("actions").errorf("no action file given (an .atn action set or an ActionJSON .json file)")
	case n > maxActions:
		return p.field("actions").errorf("%d actions: at most %d", n, maxActions)
	}
	for _, l := range []struct {
		name string
		n    int
		max  int
	}{{"additionalContents", len(a.AdditionalContents), maxContents}, {"brushes", len(a.Brushes), maxBrushes}, {"patterns", len(a.Patterns), maxBrushes}} {
		if l.n > l.max {
			return p.field(l.name).errorf("%d files: at most %d", l.n, l.max)
		}
	}
	if f := a.FontOptions; f != nil {
		return enum(p.field("fontOptions").field("missingFontStrategy"), f.MissingFontStrategy, fontStrategies)
	}
	return nil
}

func (c *Composite) check(p path) error {
	if rs := c.Resize; rs != nil {
		q := p.field("resize")
		if rs.Width == nil && rs.Height == nil {
			return q.errorf("give a width, a height or both")
		}
		for _, d := range []struct {
			name string
			d    *Dimension
		}{{"width", rs.Width}, {"height", rs.Height}} {
			if d.d != nil && (d.d.Value < 1 || !d.d.Percent && d.d.Value > 32000) {
				return q.field(d.name).errorf("%s is out of 1…32000 px", d.d)
			}
		}
		if err := enum(q.field("resample"), rs.Resample, resamples); err != nil {
			return err
		}
	}
	if icc := c.ICC; icc != nil {
		q := p.field("icc")
		if icc.File == "" {
			if err := enum(q.field("name"), icc.Name, standardProfiles); err != nil || icc.Name == "" {
				return q.errorf("%q is not a standard profile (%s); for another, give {file, name}", icc.Name, strings.Join(standardProfiles, ", "))
			}
			return enum(q.field("imageMode"), icc.ImageMode, []string{"rgb", "grayscale"})
		}
		if icc.Name == "" || len(icc.Name) > maxICCName {
			return q.field("name").errorf("a custom profile needs a name of 1 to %d characters", maxICCName)
		}
		return enum(q.field("imageMode"), icc.ImageMode, []string{"rgb", "grayscale", "cmyk"})
	}
	return nil
}

func (a AutoCrop) check(p path) error {
	if err := enum(p.field("mode"), a.Mode, autoCropModes); err != nil {
		return err
	}
	if !cropMode(a.Mode) {
		if len(a.AspectRatio) > 0 || len(a.Zoom) > 0 {
			return p.errorf("%s makes no crops: it takes no aspectRatio or zoom", a.Mode)
		}
	}
	if n := len(a.AspectRatio); n > maxRatios {
		return p.field("aspectRatio").errorf("%d aspect ratios: at most %d", n, maxRatios)
	}
	for i, r := range a.AspectRatio {
		if err := enum(p.field("aspectRatio").index(i), r, aspectRatios); err != nil {
			return err
		}
	}
	needsFocus := a.Mode == "subjectCrop" || a.Mode == "objectDetection"
	switch {
	case needsFocus && len(a.Focus) == 0:
		return p.field("focus").errorf("%s needs focus labels (what to look for, e.g. person)", a.Mode)
	case !needsFocus && len(a.Focus) > 0:
		return p.field("focus").errorf("%s takes no focus labels", a.Mode)
	}
	if len(a.Zoom) > 0 && len(a.Zoom) != len(a.AspectRatio) {
		return p.field("zoom").errorf("%d zooms for %d aspect ratios: give one per aspect ratio", len(a.Zoom), len(a.AspectRatio))
	}
	for i, z := range a.Zoom {
		if z <= 0 || z > 1 {
			return p.field("zoom").index(i).errorf("%s is out of (0…1]", fmtNum(z))
		}
	}
	return nil
}

// normalizeOutputs checks s's renditions and fills in the default. next is
// the operation of the step after s, "" if s is the last.
func (s *Step) normalizeOutputs(p path, next string) error {
	rule := outputRules(s.Op)
	q := p.field("outputs")
	if s.Op == OpAutoCrop {
		if len(s.Outputs) > 0 {
			return q.errorf("auto-crop takes no outputs: it returns one image per aspect ratio")
		}
		return nil
	}
	if next != "" {
		switch len(s.Outputs) {
		case 0:
			s.Outputs = []Rendition{{Format: "png"}}
		case 1:
		default:
			return q.errorf("%d outputs: a step before the last writes one result, the next step's input", len(s.Outputs))
		}
		if in := inputFormats(next); !slices.Contains(in, s.Outputs[0].Format) {
			return q.index(0).errorf("%s cannot read %s (it reads %s)", next, s.Outputs[0].Format, strings.Join(in, ", "))
		}
	}
	switch n := len(s.Outputs); {
	case n == 0:
		s.Outputs = []Rendition{rule.def}
	case s.Op == OpRemoveBackground && n > 1:
		return q.errorf("remove-background writes exactly one output, not %d", n)
	case n > maxOutputs:
		return q.errorf("%d outputs: at most %d", n, maxOutputs)
	}
	for i, r := range s.Outputs {
		if err := s.checkRendition(q.index(i), r, rule); err != nil {
			return err
		}
	}
	return nil
}

// checkRendition checks that op can write r.
func (s *Step) checkRendition(p path, r Rendition, rule outputRule) error {
	if err := r.check(); err != nil {
		return p.errorf("%v", err)
	}
	switch {
	case !slices.Contains(rule.formats, r.Format):
		return p.errorf("%s cannot write %s (%s)", s.Op, r.Format, strings.Join(rule.formats, ", "))
	case rule.plain && r != Rendition{Format: r.Format}:
		return p.errorf("%s takes no rendition options (got %s)", s.Op, r)
	case !rule.sized && (r.Width != 0 || r.MaxWidth != 0 || r.Resample != ""):
		return p.errorf("%s cannot resize its outputs (width, maxWidth and resample are for actions, product-crop and composite)", s.Op)
	}
	return nil
}

// inputFormats are the formats (Image.Format) op reads.
func inputFormats(op string) []string {
	switch op {
	case OpRemoveBackground, "":
		return []string{"jpeg", "png", "webp", "tiff"}
	case OpEdit:
		return []string{"jpeg", "png", "dng", "raw", "webp", "tiff", "psd"}
	case OpAutoCrop:
		return []string{"jpeg", "png", "webp"}
	}
	return []string{"jpeg", "png", "tiff", "psd", "webp"}
}

// resolveFiles makes s's file paths absolute (relative ones are in dir)
// and checks that they are files of the right kind.
func (s *Step) resolveFiles(p path, dir string) error {
	for _, ref := range s.auxRefs(p) {
		f := *ref.file
		if strings.TrimSpace(f) == "" {
			return ref.p.errorf("no file given")
		}
		if !filepath.IsAbs(f) {
			f = filepath.Join(dir, f)
		}
		f = filepath.Clean(f)
		st, err := os.Stat(f)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return ref.p.errorf("%s does not exist", f)
		case err != nil:
			return ref.p.errorf("%v", err)
		case !st.Mode().IsRegular():
			return ref.p.errorf("%s is not a file", f)
		}
		*ref.file = f
		switch ref.kind {
		case "action":
			if err := checkAction(f); err != nil {
				return ref.p.errorf("%v", err)
			}
		case "icc":
			if err := checkICC(f); err != nil {
				return ref.p.errorf("%v", err)
			}
		}
	}
	return nil
}

// actionKind tells an .atn action set ("atn") from an ActionJSON file
// ("json") by its name.
func actionKind(name string) (string, error) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".atn":
		return "atn", nil
	case ".json":
		return "json", nil
	}
	return "", fmt.Errorf("%s: want an .atn action set or an ActionJSON .json file", name)
}

// checkAction checks an action file: an .atn, or ActionJSON whose content
// is a JSON array of descriptors (or one descriptor object).
func checkAction(name string) error {
	kind, err := actionKind(name)
	if err != nil || kind != "json" {
		return err
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	if _, err := actionJSON(data); err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	return nil
}

// actionJSON returns ActionJSON as Adobe takes it inline: a compact JSON
// array (one descriptor object is put in an array).
func actionJSON(data []byte) ([]byte, error) {
	v, err := parseJSON(data)
	if err != nil {
		return nil, fmt.Errorf("not ActionJSON: %v", err)
	}
	switch v.(type) {
	case []any:
	case map[string]any:
		data = append(append([]byte("["), data...), ']')
	default:
		return nil, errors.New("not ActionJSON: want an array of action descriptors")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return nil, fmt.Errorf("not ActionJSON: %v", err)
	}
	return b.Bytes(), nil
}

// checkICC checks that name is an ICC profile: "acsp" at byte 36.
func checkICC(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	var h [40]byte
	if _, err := io.ReadFull(f, h[:]); err != nil || string(h[36:40]) != "acsp" {
		return fmt.Errorf("%s is not an ICC profile", name)
	}
	return nil
}

// enum checks that v, if given, is one of allowed.
func enum(p path, v string, allowed []string) error {
	if v == "" || slices.Contains(allowed, v) {
		return nil
	}
	return p.errorf("%q: want %s", v, orList(allowed))
}

// orList writes "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// inRange checks that lo ≤ v ≤ hi.
func inRange(p path, v, lo, hi float64) error {
	if math.IsNaN(v) || v < lo || v > hi {
		return p.errorf("%s is out of %s…%s", fmtNum(v), fmtNum(lo), fmtNum(hi))
	}
	return nil
}
