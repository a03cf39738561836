package uploader

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// Every request body the client can build is checked against Adobe's
// OpenAPI spec (testdata/adobe-openapi, see its README): the current v2
// spec, and for remove background the last revision that had it.
//
// The spec as published cannot reject much: no schema closes its
// properties (a misspelt "qualty" would pass), and the oneOf of every
// output family matches all its branches at once, each being the same base
// schema through allOf with a discriminator that has no mapping. So the
// test makes the spec strict before using it, without loosening anything
// it says (strictSpec):
//   - allOf is flattened and every object schema with properties gets
//     additionalProperties: false, so an unknown field fails;
//   - the discriminators the base schemas declare (mediaType on outputs
//     and export options, type on ICC profiles and layer operations) get
//     the mapping the schema names imply, so each output is checked
//     against exactly its media type's schema;
//   - the 16 layer edits of edits.layers[] share one discriminator value
//     ("layer" is both AddLayer and EditLayer), so that oneOf is checked
//     as anyOf (the watermark must still match one layer edit exactly,
//     closed);
//   - LightroomEdits.presets[] takes the guide's form
//     {"source":{"url":…}} instead of the spec's bare {"url":…}:
//     photoshop-v2-ops.md §9 #5 decides that the client sends the guide's
//     form, the one deliberate difference from the spec.

// discriminated maps a schema to the discriminator property and values its
// base schema's discriminator implies.
var discriminated = map[string]struct {
	prop   string
	values []string
}{
	"JpegOutput":         {"mediaType", []string{"image/jpeg"}},
	"PngOutput":          {"mediaType", []string{"image/png"}},
	"TiffOutput":         {"mediaType", []string{"image/tiff"}},
	"PsdOutput":          {"mediaType", []string{"image/vnd.adobe.photoshop"}},
	"JsonOutput":         {"mediaType", []string{"application/json"}},
	"PsdcOutput":         {"mediaType", []string{"document/vnd.adobe.cpsd+dcxucf", "document/vnd.adobe.cpsd+dcx"}},
	"LrJpegOutput":       {"mediaType", []string{"image/jpeg"}},
	"LrPngOutput":        {"mediaType", []string{"image/png"}},
	"LrDngOutput":        {"mediaType", []string{"image/x-adobe-dng"}},
	"XmpOutput":          {"mediaType", []string{"application/rdf+xml"}},
	"JpegExportOptions":  {"mediaType", []string{"image/jpeg"}},
	"PngExportOptions":   {"mediaType", []string{"image/png"}},
	"StandardIccProfile": {"type", []string{"standard"}},
	"CustomIccProfile":   {"type", []string{"custom"}},
	"AddOperation":       {"type", []string{"add"}},
	"DeleteOperation":    {"type", []string{"delete"}},
	"EditOperation":      {"type", []string{"edit"}},
	"MoveOperation":      {"type", []string{"move"}},
}

var (
	specOnce sync.Once
	specs    map[string]*openapi3.T
	specErr  error
)

// spec returns one of Adobe's specs (a file in testdata/adobe-openapi),
// made strict.
func spec(t *testing.T, name string) *openapi3.T {
	t.Helper()
	specOnce.Do(func() {
		specs = map[string]*openapi3.T{}
		for _, n := range []string{"photoshopv2-api.json", "photoshopv2-api-with-remove-background.json"} {
			doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join("testdata", "adobe-openapi", n))
			if err != nil {
				specErr = fmt.Errorf("%s: %w", n, err)
				return
			}
			if err := strictSpec(doc); err != nil {
				specErr = fmt.Errorf("%s: %w", n, err)
				return
			}
			specs[n] = doc
		}
	})
	if specErr != nil {
		t.Fatal(specErr)
	}
	return specs[name]
}

func strictSpec(doc *openapi3.T) error {
	schemas := doc.Components.Schemas
	// §9 #5: presets in the guide's form.
	if le := schemas["LightroomEdits"]; le != nil {
		p := le.Value.Properties["presets"]
		if p == nil || p.Value.Items == nil {
			return fmt.Errorf("LightroomEdits.presets[] not found")
		}
		p.Value.Items = &openapi3.SchemaRef{Value: &openapi3.Schema{
			Type:       &openapi3.Types{"object"},
			Required:   []string{"source"},
			Properties: openapi3.Schemas{"source": schemas["FileResourceInput"]},
		}}
	}
	// The layer edits cannot be told apart: anyOf.
	if ed := schemas["Edits"]; ed != nil {
		items := ed.Value.Properties["layers"].Value.Items.Value
		items.AnyOf, items.OneOf = items.OneOf, nil
	}
	seen := map[*openapi3.Schema]bool{}
	for _, s := range schemas {
		strictSchema(s.Value, seen)
	}
	for _, pi := range doc.Paths.Map() {
		for _, op := range pi.Operations() {
			if op.RequestBody != nil {
				for _, mt := range op.RequestBody.Value.Content {
					strictSchema(mt.Schema.Value, seen)
				}
			}
		}
	}
	return nil
}

// strictSchema flattens s's allOf, closes its properties and maps the
// discriminators of its oneOf, and so on down.
func strictSchema(s *openapi3.Schema, seen map[*openapi3.Schema]bool) {
	if s == nil || seen[s] {
		return
	}
	seen[s] = true
	var keep openapi3.SchemaRefs
	for _, ref := range s.AllOf {
		sub := ref.Value
		strictSchema(sub, seen)
		if len(sub.OneOf) > 0 || len(sub.AnyOf) > 0 || len(sub.AllOf) > 0 {
			keep = append(keep, ref)
			continue
		}
		if s.Type == nil {
			s.Type = sub.Type
		}
		if len(sub.Properties) > 0 && s.Properties == nil {
			s.Properties = openapi3.Schemas{}
		}
		for k, v := range sub.Properties {
			if _, ok := s.Properties[k]; !ok {
				s.Properties[k] = v
			}
		}
		for _, r := range sub.Required {
			if !contains(s.Required, r) {
				s.Required = append(s.Required, r)
			}
		}
		if len(sub.Enum) > 0 && len(s.Enum) == 0 {
			s.Enum = sub.Enum
		}
	}
	s.AllOf = keep
	for _, p := range s.Properties {
		strictSchema(p.Value, seen)
	}
	if s.Items != nil {
		strictSchema(s.Items.Value, seen)
	}
	if s.AdditionalProperties.Schema != nil {
		strictSchema(s.AdditionalProperties.Schema.Value, seen)
	}
	for _, x := range append(append(openapi3.SchemaRefs{}, s.OneOf...), s.AnyOf...) {
		strictSchema(x.Value, seen)
	}
	if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
		s.AdditionalProperties.Has = new(false)
	}
	if len(s.OneOf) > 1 && s.Discriminator == nil {
		d := &openapi3.Discriminator{Mapping: map[string]openapi3.MappingRef{}}
		for _, x := range s.OneOf {
			m, ok := discriminated[strings.TrimPrefix(x.Ref, "#/components/schemas/")]
			if !ok || d.PropertyName != "" && d.PropertyName != m.prop {
				d = nil
				break
			}
			d.PropertyName = m.prop
			for _, v := range m.values {
				d.Mapping[v] = openapi3.MappingRef{Ref: x.Ref}
			}
		}
		if d != nil {
			s.Discriminator = d
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// checkAgainstSpec validates a request body sent to method urlPath
// against the operation's request body schema in doc.
func checkAgainstSpec(doc *openapi3.T, method, urlPath string, body []byte) error {
	pi := doc.Paths.Find(urlPath)
	if pi == nil {
		return fmt.Errorf("%s is not a path of the spec", urlPath)
	}
	op := pi.GetOperation(method)
	if op == nil || op.RequestBody == nil {
		return fmt.Errorf("%s %s is not an operation of the spec with a body", method, urlPath)
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil {
		return fmt.Errorf("%s %s takes no application/json", method, urlPath)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	return mt.Schema.Value.VisitJSON(v, openapi3.MultiErrors())
}

// specServer is the server the spec names for the operation at urlPath.
func specServer(doc *openapi3.T, method, urlPath string) string {
	pi := doc.Paths.Find(urlPath)
	if op := pi.GetOperation(method); op.Servers != nil && len(*op.Servers) > 0 {
		return (*op.Servers)[0].URL
	}
	if len(pi.Servers) > 0 {
		return pi.Servers[0].URL
	}
	return doc.Servers[0].URL
}

// auxFiles writes one of every kind of file a recipe refers to into dir.
func auxFiles(t *testing.T, dir string) {
	t.Helper()
	icc := make([]byte, 128)
	copy(icc[36:], "acsp")
	big := "[" + strings.Repeat(`{"_obj":"brightnessEvent","brightness":1},`, 1500) + `{"_obj":"brightnessEvent","brightness":1}]`
	for name, data := range map[string]string{
		"house.atn":   "an action set\x00\x01",
		"tweak.json":  `[{"_obj":"convertMode","to":{"_enum":"colorSpaceMode","_value":"grayscale"}}]`,
		"one.json":    `{"_obj":"brightnessEvent","brightness":20}`,
		"big.json":    big,
		"warm.xmp":    "<x:xmpmeta>warm</x:xmpmeta>",
		"cool.xmp":    "<x:xmpmeta>cool</x:xmpmeta>",
		"look.xmp":    "<x:xmpmeta>look</x:xmpmeta>",
		"mask.bin":    "mask bits",
		"logo.png":    string(encode(t, pngEnc, 8, 8)),
		"extra.png":   string(encode(t, pngEnc, 4, 4)),
		"profile.icc": string(icc),
		"soft.abr":    "brush",
		"paper.pat":   "pattern",
		"font.otf":    "font",
	} {
		writeFile(t, dir, name, []byte(data))
	}
	if len(big) <= maxInline {
		t.Fatalf("big.json has %d bytes, not more than the inline limit", len(big))
	}
}

// specCase is one step whose request the conformance test checks.
type specCase struct {
	name string
	step Step
}

// specCases returns, for every operation, a minimal step, one with every
// option group set, and steps writing every rendition it allows.
func specCases() []specCase {
	outs := func(specs ...string) []Rendition {
		var rs []Rendition
		for _, s := range specs {
			r, err := ParseRendition(s)
			if err != nil {
				panic(err)
			}
			rs = append(rs, r)
		}
		return rs
	}
	sized := outs("jpeg", "jpeg:quality=very_poor,width=800,resample=nearest_neighbor", "jpeg:quality=photoshop_max,maxWidth=2048",
		"png", "png:compression=none,width=10,maxWidth=20,resample=bicubic_sharper", "png:compression=maximum", "tiff",
		"tiff:maxWidth=4000,resample=bilinear", "psd", "psd:width=100,resample=bicubic_smoother")
	cases := []specCase{
		{"remove-background minimal", Step{Op: OpRemoveBackground}},
		{"remove-background every option", Step{Op: OpRemoveBackground, RemoveBackground: &RemoveBackground{Mode: "mask",
			BackgroundColor: &Color{10, 20, 30, 0.5}, Trim: true, ColorDecontamination: new(0.25)}}},
		{"edit minimal", Step{Op: OpEdit}},
		{"edit every option", Step{Op: OpEdit, Edit: &Edit{
			AutoTone:       true,
			AutoStraighten: &AutoStraighten{Enabled: true, ConstrainCrop: new(false), UprightMode: "vertical"},
			Light:          &Light{Exposure: 0.5, Contrast: 15, Highlights: -20, Shadows: 15, Whites: 5, Blacks: -10},
			Color:          &ColorAdjustments{Saturation: 10, Vibrance: 15, WhiteBalance: "As Shot"},
			Effects:        &Effects{Clarity: 5, Dehaze: 2, Texture: 10, Vignette: -10},
			Sharpen:        &Sharpen{Detail: 50, Radius: 1.5, EdgeMasking: 25},
			Sharpness:      40,
			NoiseReduction: &NoiseReduction{Luminance: 25, Color: 10},
			Presets:        []string{"warm.xmp", "cool.xmp"},
			XMP:            &XMP{File: "look.xmp", Orientation: "right_top", Masks: []XMPMask{{File: "mask.bin", Digest: "37B3568A954F0C80CA946DA0187FB9E2"}}},
		}}},
		{"edit renditions", Step{Op: OpEdit, Edit: &Edit{AutoTone: true},
			Outputs: outs("jpeg", "jpeg:quality=high", "png", "png:compression=default", "dng", "xmp")}},
		{"actions minimal", Step{Op: OpActions, Actions: &Actions{Actions: []Action{{File: "house.atn"}}}}},
		{"actions every option", Step{Op: OpActions, Actions: &Actions{
			Actions: []Action{{File: "house.atn", Action: "Resize to Web"}, {File: "tweak.json"}, {File: "one.json"},
				{File: "big.json", Action: "Brighten"}},
			AdditionalContents: []string{"extra.png"},
			Brushes:            []string{"soft.abr"},
			Patterns:           []string{"paper.pat"},
			FontOptions:        &FontOptions{AdditionalFonts: []string{"font.otf"}, DefaultFontPostScriptName: "MyriadPro-Regular", MissingFontStrategy: "use_default"},
		}}},
		{"actions renditions", Step{Op: OpActions, Actions: &Actions{Actions: []Action{{File: "tweak.json"}}}, Outputs: sized}},
		{"product-crop minimal", Step{Op: OpProductCrop}},
		{"product-crop percent", Step{Op: OpProductCrop, ProductCrop: &ProductCrop{Padding: &Length{Value: 5, Percent: true}}}},
		{"product-crop renditions", Step{Op: OpProductCrop, ProductCrop: &ProductCrop{Padding: &Length{Value: 40}}, Outputs: sized}},
		{"composite minimal", Step{Op: OpComposite}},
		{"composite every option", Step{Op: OpComposite, Composite: &Composite{
			Resize:    &Resize{Width: &Dimension{Value: 2048}, Height: &Dimension{Value: 50, Percent: true}, ConstrainProportions: new(false), Resample: "bicubic_sharper"},
			Trim:      true,
			Watermark: "logo.png",
			ICC:       &ICCProfile{Name: "sRGB IEC61966-2.1", ImageMode: "rgb"},
		}}},
		{"composite custom profile", Step{Op: OpComposite, Composite: &Composite{
			Resize: &Resize{Width: &Dimension{Value: 800}}, ICC: &ICCProfile{Name: "House", File: "profile.icc", ImageMode: "cmyk"}}}},
		{"composite renditions", Step{Op: OpComposite, Composite: &Composite{ICC: &ICCProfile{Name: "Dot Gain 20%"}}, Outputs: sized}},
		{"manifest minimal", Step{Op: OpManifest}},
		{"manifest every option", Step{Op: OpManifest, Manifest: &Manifest{IncludeLayerThumbnails: true, MaximumThumbnailDepth: 5,
			TrimToTransparency: true, IncludeXmp: true, ExtractSmartObjectData: true, ExportOptions: &Rendition{Format: "jpeg", Quality: "high"}}}},
		{"manifest png thumbnails", Step{Op: OpManifest, Manifest: &Manifest{IncludeLayerThumbnails: true,
			ExportOptions: &Rendition{Format: "png", Compression: "medium"}}}},
		{"auto-crop minimal", Step{Op: OpAutoCrop}},
		{"auto-crop every option", Step{Op: OpAutoCrop, AutoCrop: &AutoCrop{Mode: "subjectCrop", AspectRatio: []string{"1:1", "4:5", "16:9"},
			Focus: []string{"person", "logo"}, Zoom: []float64{1, 0.85, 0.5}}}},
		{"auto-crop detection", Step{Op: OpAutoCrop, AutoCrop: &AutoCrop{Mode: "objectDetection", Focus: []string{"shoe"}}}},
	}
	for _, f := range outputRules(OpRemoveBackground).formats {
		cases = append(cases, specCase{"remove-background " + f, Step{Op: OpRemoveBackground, Outputs: outs(f)}})
	}
	return cases
}

// TestRequestsConformToAdobesSpec submits every case through the client
// to the fake Adobe and validates each body it sent, and the host and
// path it sent it to, against Adobe's spec.
func TestRequestsConformToAdobesSpec(t *testing.T) {
	dir := t.TempDir()
	auxFiles(t, dir)
	seen := map[string]bool{}
	for _, tc := range specCases() {
		t.Run(tc.name, func(t *testing.T) {
			r := Recipe{Steps: []Step{tc.step}}
			if err := r.Normalize(dir); err != nil {
				t.Fatal(err)
			}
			step := r.Steps[0]
			seen[step.Op] = true
			e := newEnv(t, nil)
			route := "POST " + endpoint(step.Op)
			host, other := e.ps, e.adobe
			if onImageHost(step.Op) {
				host, other = e.adobe, e.ps
			}
			host.on(route, acceptedReply)
			src := "https://bucket.s3.amazonaws.com/hotfolder/0123/in.jpg?X-Amz-Signature=" + sigMarker
			if _, err := e.c.Submit(context.Background(), step, src); err != nil {
				t.Fatal(err)
			}
			reqs := host.requests(route)
			if len(reqs) != 1 || len(other.requests(route)) != 0 {
				t.Fatalf("%d requests to the operation's host, %d to the other", len(reqs), len(other.requests(route)))
			}
			name := "photoshopv2-api.json"
			if step.Op == OpRemoveBackground {
				name = "photoshopv2-api-with-remove-background.json"
			}
			doc := spec(t, name)
			if err := checkAgainstSpec(doc, "POST", reqs[0].path, reqs[0].body); err != nil {
				t.Errorf("the body does not conform to %s: %v\n%s", name, err, reqs[0].body)
			}
			want := map[*fakeAdobe]string{e.adobe: "https://image.adobe.io", e.ps: "https://photoshop-api.adobe.io"}[host]
			if got := specServer(doc, "POST", reqs[0].path); got != want {
				t.Errorf("sent to %s's fake, but the spec serves %s at %s", want, reqs[0].path, got)
			}
			var body map[string]any
			json.Unmarshal(reqs[0].body, &body)
			if got := body["image"].(map[string]any)["source"].(map[string]any)["url"]; got != src {
				t.Errorf("image.source.url %v, want the source", got)
			}
		})
	}
	for _, op := range Ops() {
		if !seen[op] {
			t.Errorf("no case for %s", op)
		}
	}
}

// The strict spec has teeth: bodies a small mistake away from a valid one
// fail.
func TestSpecCheckRejects(t *testing.T) {
	doc := spec(t, "photoshopv2-api.json")
	valid := `{"image":{"source":{"url":"https://x.example/a.jpg"}},"edits":{"autoTone":true,"light":{"exposure":0.5},
		"presets":[{"source":{"url":"https://x.example/p.xmp"}}]},"outputs":[{"destination":{"validityPeriod":3600},"mediaType":"image/jpeg","quality":"high"}]}`
	if err := checkAgainstSpec(doc, "POST", "/v2/edit", []byte(valid)); err != nil {
		t.Fatalf("the valid body fails: %v", err)
	}
	for name, body := range map[string]string{
		"unknown output field":   strings.Replace(valid, `"quality"`, `"qualty"`, 1),
		"unknown edit":           strings.Replace(valid, `"autoTone"`, `"autoTones"`, 1),
		"exposure out of range":  strings.Replace(valid, `0.5`, `7`, 1),
		"quality not in enum":    strings.Replace(valid, `"high"`, `"best"`, 1),
		"compression on a jpeg":  strings.Replace(valid, `"quality":"high"`, `"compression":"high"`, 1),
		"tiff from edit":         strings.Replace(valid, `"image/jpeg","quality":"high"`, `"image/tiff"`, 1),
		"width on an edit":       strings.Replace(valid, `"quality":"high"`, `"width":100`, 1),
		"validity too short":     strings.Replace(valid, `3600`, `30`, 1),
		"preset in spec form":    strings.Replace(valid, `{"source":{"url":"https://x.example/p.xmp"}}`, `{"url":"https://x.example/p.xmp"}`, 1),
		"no image":               strings.Replace(valid, `"image":{"source":{"url":"https://x.example/a.jpg"}},`, ``, 1),
		"no outputs":             strings.Replace(valid, `,"outputs":[{"destination":{"validityPeriod":3600},"mediaType":"image/jpeg","quality":"high"}]`, ``, 1),
		"contrast not a integer": strings.Replace(valid, `"exposure":0.5`, `"contrast":1.5`, 1),
	} {
		if checkAgainstSpec(doc, "POST", "/v2/edit", []byte(body)) == nil {
			t.Errorf("%s: passes\n%s", name, body)
		}
	}
	layer := `{"image":{"source":{"url":"https://x.example/a.jpg"}},"edits":{"layers":[{"type":"layer","name":"W","image":{"source":{"url":"https://x.example/l.png"}},"operation":{"type":"add","placement":{"type":"top"}}}]},"outputs":[{"destination":{"validityPeriod":3600},"mediaType":"image/png","compression":"high","iccProfile":{"type":"standard","name":"Apple RGB"}}]}`
	if err := checkAgainstSpec(doc, "POST", "/v2/create-composite", []byte(layer)); err != nil {
		t.Fatalf("the valid composite fails: %v", err)
	}
	for name, body := range map[string]string{
		"unknown layer field":   strings.Replace(layer, `"name":"W"`, `"nme":"W"`, 1),
		"unknown placement":     strings.Replace(layer, `"top"`, `"topmost"`, 1),
		"quality on a png":      strings.Replace(layer, `"compression":"high"`, `"quality":"high"`, 1),
		"profile not standard":  strings.Replace(layer, `"Apple RGB"`, `"House"`, 1),
		"custom without source": strings.Replace(layer, `"standard"`, `"custom"`, 1),
	} {
		if checkAgainstSpec(doc, "POST", "/v2/create-composite", []byte(body)) == nil {
			t.Errorf("%s: passes\n%s", name, body)
		}
	}
	rb := spec(t, "photoshopv2-api-with-remove-background.json")
	if err := checkAgainstSpec(rb, "POST", "/v2/remove-background", []byte(`{"image":{"source":{"url":"https://x.example/a.jpg"}},"output":{"mediaType":"image/tiff"}}`)); err == nil {
		t.Error("remove background to TIFF passes")
	}
}

// The test data is Adobe's spec as published: unchanged copies of the
// reference files, when they are there.
func TestSpecCopiesUnchanged(t *testing.T) {
	for _, n := range []string{"photoshopv2-api.json", "photoshopv2-api-with-remove-background.json", "LICENSE", "COPYRIGHT"} {
		ref, err := os.ReadFile(filepath.Join("..", "..", "shared", "reference", "adobe-openapi", n))
		if err != nil {
			t.Skipf("no reference copy to compare with: %v", err)
		}
		got, err := os.ReadFile(filepath.Join("testdata", "adobe-openapi", n))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(ref) {
			t.Errorf("testdata/adobe-openapi/%s differs from the reference copy", n)
		}
	}
}
