package uploader

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRendition(t *testing.T) {
	good := []struct {
		spec  string
		want  Rendition
		canon string
		mt    string
		ext   string
	}{
		{"jpeg", Rendition{Format: "jpeg"}, "jpeg", "image/jpeg", "jpg"},
		{"JPG", Rendition{Format: "jpeg"}, "jpeg", "image/jpeg", "jpg"},
		{"jpeg:quality=maximum,maxWidth=2048", Rendition{Format: "jpeg", Quality: "maximum", MaxWidth: 2048}, "jpeg:quality=maximum,maxWidth=2048", "image/jpeg", "jpg"},
		{" jpeg : maxWidth=2048px , quality=high , resample=bicubic ", Rendition{Format: "jpeg", Quality: "high", MaxWidth: 2048, Resample: "bicubic"},
			"jpeg:quality=high,maxWidth=2048,resample=bicubic", "image/jpeg", "jpg"},
		{"png:compression=high", Rendition{Format: "png", Compression: "high"}, "png:compression=high", "image/png", "png"},
		{"png:width=800", Rendition{Format: "png", Width: 800}, "png:width=800", "image/png", "png"},
		{"tiff", Rendition{Format: "tiff"}, "tiff", "image/tiff", "tif"},
		{"tif", Rendition{Format: "tiff"}, "tiff", "image/tiff", "tif"},
		{"psd", Rendition{Format: "psd"}, "psd", "image/vnd.adobe.photoshop", "psd"},
		{"dng", Rendition{Format: "dng"}, "dng", "image/x-adobe-dng", "dng"},
		{"xmp", Rendition{Format: "xmp"}, "xmp", "application/rdf+xml", "xmp"},
		{"webp", Rendition{Format: "webp"}, "webp", "image/webp", "webp"},
		{"json", Rendition{Format: "json"}, "json", "application/json", "json"},
		{"png:", Rendition{Format: "png"}, "png", "image/png", "png"},
	}
	for _, tc := range good {
		r, err := ParseRendition(tc.spec)
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if r != tc.want || r.String() != tc.canon || r.MediaType() != tc.mt || r.Ext() != tc.ext {
			t.Errorf("%q: %+v %q %s %s, want %+v %q %s %s", tc.spec, r, r, r.MediaType(), r.Ext(), tc.want, tc.canon, tc.mt, tc.ext)
		}
		if again, err := ParseRendition(r.String()); err != nil || again != r {
			t.Errorf("%q: the canonical spec %q reads as %+v, %v", tc.spec, r, again, err)
		}
	}
	bad := []struct{ spec, want string }{
		{"gif", `unknown format "gif"`},
		{"", `unknown format ""`},
		{"jpeg:quality=best", `quality "best": want one of very_poor`},
		{"png:quality=high", "quality is for jpeg only, not png"},
		{"jpeg:compression=high", "compression is for png only, not jpeg"},
		{"png:compression=9", `compression "9"`},
		{"jpeg:width=0", `width "0" is not a positive number`},
		{"jpeg:maxWidth=-5", `maxWidth "-5"`},
		{"jpeg:maxWidth=big", `maxWidth "big"`},
		{"jpeg:width=40000", "at most 32000"},
		{"jpeg:resample=smooth", `resample "smooth"`},
		{"jpeg:quality", `"quality" is not KEY=VALUE`},
		{"jpeg:quality=high,quality=low", "quality given twice"},
		{"jpeg:size=10", `unknown option "size"`},
	}
	for _, tc := range bad {
		_, err := ParseRendition(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `output "`) {
			t.Errorf("%q: error %v, want one naming the output and saying %q", tc.spec, err, tc.want)
		}
	}
}

func TestStepFromFlags(t *testing.T) {
	good := []struct {
		name    string
		op      string
		sets    []string
		outputs []string
		want    Step
	}{
		{"remove background as main passes it", OpRemoveBackground, []string{"mode=mask", "backgroundColor=ffffff"}, []string{"jpeg"},
			Step{Op: OpRemoveBackground, RemoveBackground: &RemoveBackground{Mode: "mask", BackgroundColor: &Color{255, 255, 255, 1}},
				Outputs: []Rendition{{Format: "jpeg"}}}},
		{"hex colour with alpha, trim, decontamination", OpRemoveBackground, []string{"backgroundColor=#ff000080", "trim=true", "colorDecontamination=0"}, nil,
			Step{Op: OpRemoveBackground, RemoveBackground: &RemoveBackground{BackgroundColor: &Color{255, 0, 0, 0.502}, Trim: true, ColorDecontamination: new(0.0)}}},
		{"hex colour of digits only", OpRemoveBackground, []string{"backgroundColor=123456"}, nil,
			Step{Op: OpRemoveBackground, RemoveBackground: &RemoveBackground{BackgroundColor: &Color{0x12, 0x34, 0x56, 1}}}},
		{"colour as JSON", OpRemoveBackground, []string{`backgroundColor={"red":1,"green":2,"blue":3}`}, nil,
			Step{Op: OpRemoveBackground, RemoveBackground: &RemoveBackground{BackgroundColor: &Color{1, 2, 3, 1}}}},
		{"dotted paths, JSON values", OpEdit, []string{"autoTone=true", "light.exposure=0.5", "light.contrast=15", "color.whiteBalance=As Shot"},
			[]string{"jpeg:quality=high", "xmp"},
			Step{Op: OpEdit, Edit: &Edit{AutoTone: true, Light: &Light{Exposure: 0.5, Contrast: 15}, Color: &ColorAdjustments{WhiteBalance: "As Shot"}},
				Outputs: []Rendition{{Format: "jpeg", Quality: "high"}, {Format: "xmp"}}}},
		{"autoStraighten shorthand", OpEdit, []string{"autoStraighten=true"}, nil,
			Step{Op: OpEdit, Edit: &Edit{AutoStraighten: &AutoStraighten{Enabled: true}}}},
		{"autoStraighten by parts: enabled by default", OpEdit, []string{"autoStraighten.uprightMode=full"}, nil,
			Step{Op: OpEdit, Edit: &Edit{AutoStraighten: &AutoStraighten{Enabled: true, UprightMode: "full"}}}},
		{"a string for a list", OpActions, []string{"actions=house.atn"}, nil,
			Step{Op: OpActions, Actions: &Actions{Actions: []Action{{File: "house.atn"}}}}},
		{"a JSON list of actions", OpActions, []string{`actions=[{"file":"house.atn","action":"Resize"},"tweak.json"]`}, nil,
			Step{Op: OpActions, Actions: &Actions{Actions: []Action{{File: "house.atn", Action: "Resize"}, {File: "tweak.json"}}}}},
		{"padding in pixels", OpProductCrop, []string{"padding=40"}, nil,
			Step{Op: OpProductCrop, ProductCrop: &ProductCrop{Padding: &Length{Value: 40}}}},
		{"padding in percent", OpProductCrop, []string{"padding=5%"}, []string{"png"},
			Step{Op: OpProductCrop, ProductCrop: &ProductCrop{Padding: &Length{Value: 5, Percent: true}}, Outputs: []Rendition{{Format: "png"}}}},
		{"composite", OpComposite, []string{"resize.width=2048", "trim=true", "icc=sRGB IEC61966-2.1", "watermark=logo.png"}, nil,
			Step{Op: OpComposite, Composite: &Composite{Resize: &Resize{Width: &Dimension{Value: 2048}}, Trim: true,
				ICC: &ICCProfile{Name: "sRGB IEC61966-2.1"}, Watermark: "logo.png"}}},
		{"auto-crop lists", OpAutoCrop, []string{"aspectRatio=1:1", "zoom=0.9"}, nil,
			Step{Op: OpAutoCrop, AutoCrop: &AutoCrop{AspectRatio: []string{"1:1"}, Zoom: []float64{0.9}}}},
		{"manifest", OpManifest, []string{"includeXmp=true", "exportOptions=png:compression=high"}, nil,
			Step{Op: OpManifest, Manifest: &Manifest{IncludeXmp: true, ExportOptions: &Rendition{Format: "png", Compression: "high"}}}},
		{"no options", OpEdit, nil, nil, Step{Op: OpEdit, Edit: &Edit{}}},
	}
	for _, tc := range good {
		got, err := StepFromFlags(tc.op, tc.sets, tc.outputs)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tc.want)
			t.Errorf("%s: step %s, want %s", tc.name, g, w)
		}
	}
	bad := []struct {
		name    string
		op      string
		sets    []string
		outputs []string
		want    string
	}{
		{"no op", "", nil, nil, "-op: no operation (want one of remove-background, edit"},
		{"unknown op", "sharpen", nil, nil, `-op: unknown operation "sharpen"`},
		{"unknown key", OpEdit, []string{"autotone=true"}, nil, `-set: unknown key "autotone" for edit (known: op, outputs, autoTone`},
		{"unknown nested key", OpEdit, []string{"light.expsure=1"}, nil, `-set: light: unknown key "expsure" (known: exposure, contrast`},
		{"wrong kind", OpEdit, []string{"autoTone=yes"}, nil, `-set: autoTone: want true or false, got "yes"`},
		{"not a whole number", OpEdit, []string{"light.contrast=1.5"}, nil, "-set: light.contrast: want a whole number, got 1.5"},
		{"no =", OpEdit, []string{"autoTone"}, nil, `-set "autoTone": want KEY=VALUE`},
		{"given twice", OpEdit, []string{"autoTone=true", "autoTone=false"}, nil, "-set autoTone: given twice"},
		{"value then path", OpEdit, []string{"light=1", "light.exposure=1"}, nil, "-set light.exposure: light is already set to a value"},
		{"op by -set", OpEdit, []string{"op=actions"}, nil, "-set op: give it with -op"},
		{"outputs by -set", OpEdit, []string{"outputs=png"}, nil, "-set outputs: give it with -output"},
		{"bad padding", OpProductCrop, []string{"padding=wide"}, nil, `-set: padding: "wide" is not pixels or a percentage`},
		{"bad colour", OpRemoveBackground, []string{"backgroundColor=white"}, nil, `-set: backgroundColor: colour "white"`},
		{"bad output", OpEdit, nil, []string{"gif"}, `-output "gif": unknown format "gif"`},
	}
	for _, tc := range bad {
		_, err := StepFromFlags(tc.op, tc.sets, tc.outputs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.want)
		}
	}
}

// recipeYAML and recipeJSON are one recipe, the package documentation's
// example, in both formats.
const recipeYAML = `# every op of a product shot
steps:
  - op: remove-background
    mode: cutout
  - op: product-crop
    padding: 40px          # or "5%"
  - op: edit
    autoTone: true
    light: {exposure: 0.5, contrast: 15}
    presets: [looks/warm.xmp]
  - op: actions
    actions:
      - file: house.atn
        action: Resize to Web
      - file: tweak.json
  - op: composite
    resize: {width: 2048}
    trim: true
    icc: sRGB IEC61966-2.1   # or {file: profile.icc, name: House}
    watermark: logo.png
outputs:
  - jpeg:quality=maximum
  - jpeg:maxWidth=2048
  - png:compression=high
`

const recipeJSON = `{
  "steps": [
    {"op": "remove-background", "mode": "cutout"},
    {"op": "product-crop", "padding": "40px"},
    {"op": "edit", "autoTone": true, "light": {"exposure": 0.5, "contrast": 15}, "presets": ["looks/warm.xmp"]},
    {"op": "actions", "actions": [{"file": "house.atn", "action": "Resize to Web"}, {"file": "tweak.json"}]},
    {"op": "composite", "resize": {"width": 2048}, "trim": true, "icc": "sRGB IEC61966-2.1", "watermark": "logo.png",
     "outputs": ["jpeg:quality=maximum", "jpeg:maxWidth=2048", "png:compression=high"]}
  ]
}`

// recipeDir is a folder with the files of recipeYAML.
func recipeDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	auxFiles(t, dir)
	if err := os.Mkdir(filepath.Join(dir, "looks"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "looks"), "warm.xmp", []byte("<x:xmpmeta>warm</x:xmpmeta>"))
	return dir
}

func TestParseRecipeYAMLAndJSONAgree(t *testing.T) {
	y, err := ParseRecipe([]byte(recipeYAML), "recipe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	j, err := ParseRecipe([]byte(recipeJSON), "recipe.json")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(y, j) {
		yb, _ := json.Marshal(y)
		jb, _ := json.Marshal(j)
		t.Fatalf("YAML %s\nJSON %s", yb, jb)
	}
	yml, err := ParseRecipe([]byte(recipeYAML), "x.YML")
	if err != nil || !reflect.DeepEqual(yml, y) {
		t.Errorf(".YML: %v", err)
	}
	want := Recipe{Steps: []Step{
		{Op: OpRemoveBackground, RemoveBackground: &RemoveBackground{Mode: "cutout"}},
		{Op: OpProductCrop, ProductCrop: &ProductCrop{Padding: &Length{Value: 40}}},
		{Op: OpEdit, Edit: &Edit{AutoTone: true, Light: &Light{Exposure: 0.5, Contrast: 15}, Presets: []string{"looks/warm.xmp"}}},
		{Op: OpActions, Actions: &Actions{Actions: []Action{{File: "house.atn", Action: "Resize to Web"}, {File: "tweak.json"}}}},
		{Op: OpComposite, Composite: &Composite{Resize: &Resize{Width: &Dimension{Value: 2048}}, Trim: true,
			ICC: &ICCProfile{Name: "sRGB IEC61966-2.1"}, Watermark: "logo.png"},
			Outputs: []Rendition{{Format: "jpeg", Quality: "maximum"}, {Format: "jpeg", MaxWidth: 2048}, {Format: "png", Compression: "high"}}},
	}}
	if !reflect.DeepEqual(y, want) {
		yb, _ := json.Marshal(y)
		wb, _ := json.Marshal(want)
		t.Errorf("recipe %s\nwant %s", yb, wb)
	}

	dir := recipeDir(t)
	if err := y.Normalize(dir); err != nil {
		t.Fatal(err)
	}
	// Earlier steps write one PNG, the next one's input; defaults filled in.
	for i, s := range y.Steps[:4] {
		if !slices.Equal(s.Outputs, []Rendition{{Format: "png"}}) {
			t.Errorf("steps[%d].outputs %v, want [png]", i, s.Outputs)
		}
	}
	if rs := y.Steps[4].Composite.Resize; *rs.ConstrainProportions != true || rs.Resample != "bicubic" {
		t.Errorf("resize defaults %+v", rs)
	}
	files := y.AuxFiles()
	wantFiles := []string{filepath.Join(dir, "looks", "warm.xmp"), filepath.Join(dir, "house.atn"), filepath.Join(dir, "tweak.json"), filepath.Join(dir, "logo.png")}
	if !slices.Equal(files, wantFiles) {
		t.Errorf("aux files %v, want %v", files, wantFiles)
	}
	// Normalizing again changes nothing.
	again, _ := y.clone()
	if err := again.Normalize("/elsewhere"); err != nil || !reflect.DeepEqual(again, y) {
		t.Errorf("a second Normalize: %v", err)
	}
}

func TestParseRecipeErrors(t *testing.T) {
	tests := []struct {
		name, file, data, want string
	}{
		{"unknown top-level key", "r.json", `{"steps":[{"op":"edit"}],"output":["png"]}`, `recipe r.json: unknown key "output" (known: steps, outputs)`},
		{"unknown step key", "r.yaml", "steps:\n  - op: edit\n    autotone: true\n", `recipe r.yaml: steps[0]: unknown key "autotone" for edit (known: op, outputs, autoTone`},
		{"unknown nested key", "r.yaml", "steps:\n  - op: edit\n  - op: edit\n    light: {exposur: 1}\n", `steps[1].light: unknown key "exposur"`},
		{"unknown key in an action", "r.json", `{"steps":[{"op":"actions","actions":[{"file":"a.atn","name":"x"}]}]}`, `steps[0].actions[0]: unknown key "name" (known: file, action)`},
		{"no steps", "r.json", `{"steps":[]}`, "steps: a recipe needs at least one step"},
		{"no op", "r.json", `{"steps":[{"mode":"cutout"}]}`, "steps[0]: no op"},
		{"unknown op", "r.json", `{"steps":[{"op":"blur"}]}`, `steps[0].op: unknown operation "blur"`},
		{"key given twice", "r.json", `{"steps":[{"op":"edit","autoTone":true,"autoTone":false}]}`, "steps[0].autoTone: given twice"},
		{"YAML key given twice", "r.yaml", "steps:\n  - op: edit\n    autoTone: true\n    autoTone: false\n", "already defined"},
		{"wrong kind", "r.json", `{"steps":[{"op":"edit","light":{"exposure":"high"}}]}`, `steps[0].light.exposure: want a number, got "high"`},
		{"bad rendition", "r.json", `{"steps":[{"op":"edit"}],"outputs":["gif"]}`, `outputs[0]: output "gif": unknown format`},
		{"outputs twice", "r.json", `{"steps":[{"op":"edit","outputs":["png"]}],"outputs":["jpeg"]}`, "outputs: the last step (steps[0]) has outputs of its own"},
		{"a date", "r.yaml", "steps:\n  - op: actions\n    actions: [2001-12-14]\n", "steps[0].actions[0]: 2001-12-14T00:00:00Z reads as a date: quote it"},
		{"bad JSON", "r.json", "{\n  \"steps\": [\n    {\"op\": \"edit\",}\n  ]\n}", "line 3, column"},
		{"bad YAML", "r.yml", "steps:\n  - op: edit\n   light: 1\n", "yaml: line"},
		{"not an object", "r.json", `["edit"]`, "want an object with steps"},
	}
	for _, tc := range tests {
		_, err := ParseRecipe([]byte(tc.data), tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "recipe "+tc.file+": ") {
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.want)
		}
	}
}

func TestNormalizeErrors(t *testing.T) {
	dir := recipeDir(t)
	writeFile(t, dir, "notes.txt", []byte("hello"))
	writeFile(t, dir, "broken.json", []byte(`[{"_obj":`))
	writeFile(t, dir, "scalar.json", []byte(`"hello"`))
	tests := []struct {
		name, yaml, want string
	}{
		{"exposure out of range", "steps:\n  - op: edit\n  - op: edit\n    light: {exposure: 7}\n", "steps[1].light.exposure: 7 is out of -5…5"},
		{"edit writes no tiff", "steps:\n  - op: edit\n    outputs: [jpeg, png, tiff]\n", "steps[0].outputs[2]: edit cannot write tiff (jpeg, png, dng, xmp)"},
		{"edit does not resize", "steps:\n  - op: edit\n    outputs: [jpeg:maxWidth=100]\n", "steps[0].outputs[0]: edit cannot resize its outputs"},
		{"contrast", "steps:\n  - op: edit\n    light: {contrast: -101}\n", "steps[0].light.contrast: -101 is out of -100…100"},
		{"sharpness", "steps:\n  - op: edit\n    sharpness: 151\n", "steps[0].sharpness: 151 is out of 0…150"},
		{"radius", "steps:\n  - op: edit\n    sharpen: {radius: 0.2}\n", "steps[0].sharpen.radius: 0.2 is out of 0.5…3"},
		{"white balance", "steps:\n  - op: edit\n    color: {whiteBalance: Sunny}\n", `steps[0].color.whiteBalance: "Sunny": want As Shot, Auto`},
		{"upright", "steps:\n  - op: edit\n    autoStraighten: {uprightMode: tilt}\n", `steps[0].autoStraighten.uprightMode: "tilt": want auto, full, level or vertical`},
		{"11 presets", "steps:\n  - op: edit\n    presets: [a,b,c,d,e,f,g,h,i,j,k]\n", "steps[0].presets: 11 presets: at most 10"},
		{"missing preset", "steps:\n  - op: edit\n    presets: [looks/cold.xmp]\n", "steps[0].presets[0]: " + filepath.Join(dir, "looks", "cold.xmp") + " does not exist"},
		{"folder for a file", "steps:\n  - op: composite\n    watermark: looks\n", "steps[0].watermark: " + filepath.Join(dir, "looks") + " is not a file"},
		{"mask digest", "steps:\n  - op: edit\n    xmp: {file: look.xmp, masks: [{file: mask.bin}]}\n", "steps[0].xmp.masks[0].digest: missing"},
		{"no actions", "steps:\n  - op: actions\n", "steps[0].actions: no action file given"},
		{"11 actions", "steps:\n  - op: actions\n    actions: [a,b,c,d,e,f,g,h,i,j,k]\n", "steps[0].actions: 11 actions: at most 10"},
		{"action of no known kind", "steps:\n  - op: actions\n    actions: [notes.txt]\n", "steps[0].actions[0].file: " + filepath.Join(dir, "notes.txt") + ": want an .atn action set or an ActionJSON .json file"},
		{"broken ActionJSON", "steps:\n  - op: actions\n    actions: [broken.json]\n", "steps[0].actions[0].file: " + filepath.Join(dir, "broken.json") + ": not ActionJSON"},
		{"ActionJSON not a list", "steps:\n  - op: actions\n    actions: [scalar.json]\n", "not ActionJSON: want an array"},
		{"font strategy", "steps:\n  - op: actions\n    actions: [house.atn]\n    fontOptions: {missingFontStrategy: guess}\n", `steps[0].fontOptions.missingFontStrategy: "guess": want fail or use_default`},
		{"actions write no dng", "steps:\n  - op: actions\n    actions: [house.atn]\n    outputs: [dng]\n", "steps[0].outputs[0]: actions cannot write dng (jpeg, png, tiff, psd)"},
		{"negative padding", "steps:\n  - op: product-crop\n    padding: -4\n", "steps[0].padding: -4px is out of 0…100000"},
		{"empty resize", "steps:\n  - op: composite\n    resize: {}\n", "steps[0].resize: give a width, a height or both"},
		{"zero width", "steps:\n  - op: composite\n    resize: {width: 0}\n", "steps[0].resize.width: 0px is out of 1…32000 px"},
		{"fractional width", "steps:\n  - op: composite\n    resize: {width: 10.5}\n", "steps[0].resize.width: 10.5px: want a whole number"},
		{"unknown profile", "steps:\n  - op: composite\n    icc: sRGB\n", `steps[0].icc: "sRGB" is not a standard profile`},
		{"custom profile needs a name", "steps:\n  - op: composite\n    icc: {file: profile.icc}\n", "steps[0].icc.name: a custom profile needs a name"},
		{"not an ICC profile", "steps:\n  - op: composite\n    icc: {file: notes.txt, name: House}\n", "steps[0].icc.file: " + filepath.Join(dir, "notes.txt") + " is not an ICC profile"},
		{"standard cmyk", "steps:\n  - op: composite\n    icc: {name: Apple RGB, imageMode: cmyk}\n", `steps[0].icc.imageMode: "cmyk": want rgb or grayscale`},
		{"manifest first", "steps:\n  - op: manifest\n  - op: edit\n", "steps[0]: manifest can only be the last step"},
		{"auto-crop first", "steps:\n  - op: auto-crop\n  - op: edit\n", "steps[0]: auto-crop can only be the last step"},
		{"manifest writes json", "steps:\n  - op: manifest\n    outputs: [png]\n", "steps[0].outputs[0]: manifest cannot write png (json)"},
		{"thumbnails", "steps:\n  - op: manifest\n    exportOptions: tiff\n", "steps[0].exportOptions: thumbnails are jpeg or png, not tiff"},
		{"auto-crop outputs", "steps:\n  - op: auto-crop\n    outputs: [png]\n", "steps[0].outputs: auto-crop takes no outputs"},
		{"aspect ratio", "steps:\n  - op: auto-crop\n    aspectRatio: [1:1, 7:5]\n", `steps[0].aspectRatio[1]: "7:5": want 1:1, 16:9`},
		{"focus needed", "steps:\n  - op: auto-crop\n    mode: subjectCrop\n", "steps[0].focus: subjectCrop needs focus labels"},
		{"focus not taken", "steps:\n  - op: auto-crop\n    focus: [person]\n", "steps[0].focus: smartCrop takes no focus labels"},
		{"zoom count", "steps:\n  - op: auto-crop\n    aspectRatio: [1:1, 4:5]\n    zoom: 0.5\n", "steps[0].zoom: 1 zooms for 2 aspect ratios"},
		{"zoom range", "steps:\n  - op: auto-crop\n    zoom: [1.5]\n", "steps[0].zoom[0]: 1.5 is out of (0…1]"},
		{"detection takes no ratio", "steps:\n  - op: auto-crop\n    mode: fullSceneDetection\n    aspectRatio: 1:1\n", "steps[0]: fullSceneDetection makes no crops"},
		{"auto-crop mode", "steps:\n  - op: auto-crop\n    mode: crop\n", `steps[0].mode: "crop": want smartCrop`},
		{"remove background writes one", "steps:\n  - op: remove-background\n    outputs: [png, jpeg]\n", "steps[0].outputs: remove-background writes exactly one output, not 2"},
		{"remove background takes no options", "steps:\n  - op: remove-background\n    outputs: [jpeg:quality=high]\n", "steps[0].outputs[0]: remove-background takes no rendition options (got jpeg:quality=high)"},
		{"remove background writes no tiff", "steps:\n  - op: remove-background\n    outputs: [tiff]\n", "steps[0].outputs[0]: remove-background cannot write tiff (png, jpeg, webp, psd)"},
		{"remove background mode", "steps:\n  - op: remove-background\n    mode: erase\n", `steps[0].mode: "erase": want cutout, mask or psd`},
		{"an earlier step writes one", "steps:\n  - op: edit\n    outputs: [png, jpeg]\n  - op: composite\n", "steps[0].outputs: 2 outputs: a step before the last writes one result"},
		{"the next step reads it", "steps:\n  - op: edit\n    outputs: [dng]\n  - op: composite\n", "steps[0].outputs[0]: composite cannot read dng (it reads jpeg, png, tiff, psd, webp)"},
		{"26 outputs", "steps:\n  - op: composite\n    outputs: [" + strings.TrimSuffix(strings.Repeat("png,", 26), ",") + "]\n", "steps[0].outputs: 26 outputs: at most 25"},
	}
	for _, tc := range tests {
		r, err := ParseRecipe([]byte(tc.yaml), "r.yaml") // some are refused here already
		if err == nil {
			err = r.Normalize(dir)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Normalize error %v, want one with %q", tc.name, err, tc.want)
		}
	}
	// Options of another operation.
	r := Recipe{Steps: []Step{{Op: OpEdit, Composite: &Composite{Trim: true}}}}
	if err := r.Normalize(dir); err == nil || !strings.Contains(err.Error(), "steps[0]: the step is edit, but has options of composite") {
		t.Errorf("options of another op: %v", err)
	}
	if err := (&Recipe{}).Normalize(dir); err == nil || !strings.Contains(err.Error(), "at least one step") {
		t.Errorf("no steps: %v", err)
	}
}

func TestNormalizeDefaults(t *testing.T) {
	dir := recipeDir(t)
	tests := []struct {
		op   string
		want []Rendition
	}{
		{OpRemoveBackground, []Rendition{{Format: "png"}}},
		{OpEdit, []Rendition{{Format: "jpeg", Quality: "maximum"}}},
		{OpActions, []Rendition{{Format: "jpeg", Quality: "photoshop_max"}}},
		{OpComposite, []Rendition{{Format: "jpeg", Quality: "photoshop_max"}}},
		{OpProductCrop, []Rendition{{Format: "png"}}},
		{OpManifest, []Rendition{{Format: "json"}}},
		{OpAutoCrop, nil},
	}
	for _, tc := range tests {
		s := Step{Op: tc.op}
		if tc.op == OpActions {
			s.Actions = &Actions{Actions: []Action{{File: "house.atn"}}}
		}
		r := Recipe{Steps: []Step{s}}
		if err := r.Normalize(dir); err != nil {
			t.Errorf("%s: %v", tc.op, err)
			continue
		}
		got := r.Steps[0]
		if !slices.Equal(got.Outputs, tc.want) || got.options(false) == nil {
			t.Errorf("%s: outputs %v (options %v), want %v", tc.op, got.Outputs, got.options(false), tc.want)
		}
	}
	r := Recipe{Steps: []Step{{Op: OpProductCrop}, {Op: OpAutoCrop}}}
	if err := r.Normalize(dir); err != nil {
		t.Fatal(err)
	}
	if p := r.Steps[0].ProductCrop.Padding; p == nil || *p != (Length{Value: 10}) {
		t.Errorf("padding %v, want Adobe's 10px", p)
	}
	if a := r.Steps[1].AutoCrop; a.Mode != "smartCrop" || !slices.Equal(a.AspectRatio, []string{"1:1"}) {
		t.Errorf("auto-crop %+v, want smartCrop 1:1", a)
	}
	// Relative to the working directory when dir is "".
	t.Chdir(dir)
	r = Recipe{Steps: []Step{{Op: OpComposite, Composite: &Composite{Watermark: "logo.png"}}}}
	if err := r.Normalize(""); err != nil || r.Steps[0].Composite.Watermark != filepath.Join(dir, "logo.png") {
		t.Errorf("watermark %q, %v", r.Steps[0].Composite.Watermark, err)
	}
}

func TestFingerprint(t *testing.T) {
	dir := recipeDir(t)
	parse := func(t *testing.T, dir, yaml string) Recipe {
		t.Helper()
		r, err := ParseRecipe([]byte(yaml), "r.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Normalize(dir); err != nil {
			t.Fatal(err)
		}
		return r
	}
	fp := func(t *testing.T, r Recipe) string {
		t.Helper()
		s, err := r.Fingerprint()
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != 64 {
			t.Fatalf("fingerprint %q", s)
		}
		return s
	}
	base := fp(t, parse(t, dir, recipeYAML))
	if again := fp(t, parse(t, dir, recipeYAML)); again != base {
		t.Error("the same recipe has two fingerprints")
	}
	if j := fp(t, parse(t, dir, recipeJSON)); j != base {
		t.Error("the JSON and YAML recipes have different fingerprints")
	}
	// Any option changes it.
	for _, change := range [][2]string{
		{"mode: cutout", "mode: mask"},
		{"padding: 40px", "padding: 40%"},
		{"exposure: 0.5", "exposure: 0.6"},
		{"autoTone: true", "autoTone: false"},
		{"action: Resize to Web", "action: Resize to Print"},
		{"width: 2048", "width: 2047"},
		{"trim: true", "trim: false"},
		{"icc: sRGB IEC61966-2.1", "icc: Adobe RGB (1998)"},
		{"jpeg:maxWidth=2048", "jpeg:maxWidth=2049"},
		{"  - png:compression=high\n", ""},
	} {
		if !strings.Contains(recipeYAML, change[0]) {
			t.Fatalf("%q not in the recipe", change[0])
		}
		if got := fp(t, parse(t, dir, strings.Replace(recipeYAML, change[0], change[1], 1))); got == base {
			t.Errorf("%q → %q keeps the fingerprint", change[0], change[1])
		}
	}
	// An aux file's content changes it, its path does not.
	other := t.TempDir()
	auxFiles(t, other)
	os.Mkdir(filepath.Join(other, "presets"), 0o755)
	writeFile(t, filepath.Join(other, "presets"), "w.xmp", []byte("<x:xmpmeta>warm</x:xmpmeta>"))
	moved := strings.Replace(recipeYAML, "looks/warm.xmp", "presets/w.xmp", 1)
	if got := fp(t, parse(t, other, moved)); got != base {
		t.Error("moving and renaming the files changes the fingerprint")
	}
	for _, f := range []string{"presets/w.xmp", "house.atn", "tweak.json", "logo.png"} {
		p := filepath.Join(other, f)
		old, _ := os.ReadFile(p)
		os.WriteFile(p, append(old, ' '), 0o644)
		if got := fp(t, parse(t, other, moved)); got == base {
			t.Errorf("a change to %s keeps the fingerprint", f)
		}
		os.WriteFile(p, old, 0o644)
	}
	if got := fp(t, parse(t, other, moved)); got != base {
		t.Error("the files restored, the fingerprint is not")
	}
	// The file itself, not its mtime.
	os.Chtimes(filepath.Join(other, "logo.png"), time.Now(), time.Now().Add(-time.Hour))
	if got := fp(t, parse(t, other, moved)); got != base {
		t.Error("touching a file changes the fingerprint")
	}
}

// Adobe's product-crop ActionJSON is sent as published, but for the
// padding.
func TestProductCropJSON(t *testing.T) {
	got, err := productCropJSON(defaultPadding)
	if err != nil || string(got) != productCropSteps {
		t.Errorf("10px: %s, %v\nwant Adobe's\n%s", got, err, productCropSteps)
	}
	got, _ = productCropJSON(Length{Value: 5, Percent: true})
	want := strings.ReplaceAll(productCropSteps, `{"_unit":"pixelsUnit","_value":10}`, `{"_unit":"percentUnit","_value":5}`)
	if string(got) != want || strings.Count(want, "percentUnit") != 2 {
		t.Errorf("5%%: %s", got)
	}
	got, _ = productCropJSON(Length{Value: 40})
	if want := strings.ReplaceAll(productCropSteps, `"_value":10}`, `"_value":40}`); string(got) != want {
		t.Errorf("40px: %s", got)
	}
}
