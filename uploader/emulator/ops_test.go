package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"math"
	"net/http"
	"strings"
	"testing"

	"hotfolder/ratelimit"
)

// The examples below are photoshop-v2-ops.md's minimal and full examples
// of each endpoint, with their URLs pointing at the emulator's own uploads
// (inputs), a PUT sink or the emulator's store (URL destinations).

func TestEditMinimalAndFull(t *testing.T) {
	f := start(t, Config{})
	k := newSink(t)
	in := f.upload("edit/in.jpg", encodeTest(t, shotImage(), mediaJPEG))

	// Minimal (EDIT L75-98).
	sub := f.submitTo("/v2/edit", obj{"image": src(in), "edits": obj{"autoTone": true},
		"outputs": arr{obj{"destination": obj{"url": k.url("auto.jpg")}, "mediaType": "image/jpeg"}}})
	outs := f.succeeded(sub)
	if len(outs) != 1 || outs[0]["destination"].(obj)["url"] != k.url("auto.jpg") || outs[0]["mediaType"] != mediaJPEG {
		t.Fatalf("outputs %v, want the URL destination echoed", outs)
	}
	b, ct := k.get(t, "auto.jpg")
	if img := decodeAs(t, mediaJPEG, b); img.Bounds().Size() != image.Pt(120, 90) || ct != mediaJPEG {
		t.Errorf("PUT %v %s, want a 120×90 JPEG", img.Bounds(), ct)
	}

	// Full, without its DNG output (not emulated: below).
	preset := f.upload("edit/look.xmp", []byte("<x:xmpmeta>preset</x:xmpmeta>"))
	xmp := f.upload("edit/settings.xmp", []byte("<x:xmpmeta>settings</x:xmpmeta>"))
	mask := f.upload("edit/mask.bin", []byte{1, 2, 3})
	edits := obj{"autoTone": true, "autoStraighten": obj{"enabled": true, "constrainCrop": true, "uprightMode": "auto"},
		"light":   obj{"exposure": 0.5, "contrast": 15, "highlights": -20, "shadows": 15, "whites": 5, "blacks": -10},
		"color":   obj{"saturation": 10, "vibrance": 15, "whiteBalance": "Auto"},
		"effects": obj{"clarity": 5, "dehaze": 2, "texture": 10, "vignette": -10},
		"sharpen": obj{"detail": 50, "radius": 1.0, "edgeMasking": 25}, "noiseReduction": obj{"luminance": 25, "color": 10},
		"presets": arr{src(preset), obj{"url": preset}},
		"xmp": obj{"source": obj{"url": xmp}, "orientation": "right_top",
			"masks": arr{obj{"source": obj{"url": mask}, "digest": "37B3568A954F0C80CA946DA0187FB9E2"}}}}
	full := obj{"image": src(in), "edits": edits, "outputs": arr{
		obj{"destination": obj{"validityPeriod": 3600}, "mediaType": "image/jpeg", "quality": "maximum"},
		obj{"destination": obj{"url": k.url("full.png")}, "mediaType": "image/png", "compression": "default"},
		obj{"destination": obj{"embedded": "string"}, "mediaType": "application/rdf+xml"},
	}}
	outs = f.succeeded(f.submitTo("/v2/edit", full))
	if len(outs) != 3 {
		t.Fatalf("%d outputs, want 3", len(outs))
	}
	if outs[0]["quality"] != "maximum" || outs[1]["compression"] != "default" {
		t.Errorf("request fields not echoed: %v", outs)
	}
	jpg := decodeAs(t, mediaJPEG, hostedBytes(t, outs[0]))
	b, _ = k.get(t, "full.png")
	pngImg := decodeAs(t, mediaPNG, b)
	if jpg.Bounds().Size() != image.Pt(120, 90) || pngImg.Bounds().Size() != image.Pt(120, 90) {
		t.Errorf("sizes %v %v, want 120×90 (edit keeps the geometry)", jpg.Bounds(), pngImg.Bounds())
	}
	// Visibly edited: exposure +0.5 and the rest change the backdrop.
	if c := at(pngImg, 5, 5); near(c, color.NRGBA{235, 235, 235, 255}, 3) {
		t.Errorf("backdrop %v unchanged by the edits", c)
	}
	d := outs[2]["destination"].(obj)
	packet, _ := d["content"].(string)
	if d["embedded"] != "string" || !strings.Contains(packet, "<x:xmpmeta") || !strings.Contains(packet, `crs:Exposure2012="+0.50"`) ||
		!strings.Contains(packet, "hotfolder:XmpInput=") || !strings.Contains(packet, `crs:AutoTone="True"`) {
		t.Errorf("XMP output %v, want an inline packet with the settings and the XMP input", d)
	}

	// Without an XMP input the packet says nothing of one.
	outs = f.succeeded(f.submitTo("/v2/edit", obj{"image": src(in), "edits": obj{"light": obj{"contrast": 20}},
		"outputs": arr{obj{"destination": obj{"embedded": "string"}, "mediaType": "application/rdf+xml"}}}))
	if p := outs[0]["destination"].(obj)["content"].(string); strings.Contains(p, "XmpInput") || !strings.Contains(p, `crs:Contrast2012="+20"`) {
		t.Errorf("packet %s", p)
	}

	// The full example as published, with its DNG output: not emulated.
	full["outputs"] = append(full["outputs"].(arr), obj{"destination": obj{"url": k.url("x.dng")}, "mediaType": "image/x-adobe-dng"})
	if code, msg := f.failed(f.submitTo("/v2/edit", full)); code != "unsupported_option" || !strings.Contains(msg, "DNG") {
		t.Errorf("DNG output: %s %q, want unsupported_option about DNG", code, msg)
	}
}

// TestEditAutoTone: the levels stretch spreads a dull image over the range.
func TestEditAutoTone(t *testing.T) {
	f := start(t, Config{})
	dull := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			v := uint8(100 + x)
			dull.SetNRGBA(x, y, color.NRGBA{v, v, v, 255})
		}
	}
	in := f.upload("dull.png", encodeTest(t, dull, mediaPNG))
	outs := f.succeeded(f.submitTo("/v2/edit", obj{"image": src(in), "edits": obj{"autoTone": true},
		"outputs": arr{obj{"destination": obj{}, "mediaType": "image/png"}}}))
	img := decodeAs(t, mediaPNG, hostedBytes(t, outs[0]))
	if lo, hi := at(img, 0, 0).R, at(img, 63, 0).R; lo > 5 || hi < 250 {
		t.Errorf("after autoTone the range is %d..%d, want about 0..255", lo, hi)
	}
}

func actionsBody(in string, actions arr, outputs ...obj) obj {
	outs := arr{}
	for _, o := range outputs {
		outs = append(outs, o)
	}
	return obj{"image": src(in), "options": obj{"actions": actions}, "outputs": outs}
}

func hostedPNG() obj { return obj{"destination": obj{"validityPeriod": 600}, "mediaType": "image/png"} }

func TestExecuteActions(t *testing.T) {
	f := start(t, Config{})
	in := f.upload("act/in.png", objectShot(t))
	atn1 := f.upload("act/one.atn", []byte("8BCO action set one"))
	atn2 := f.upload("act/two.atn", []byte("8BCO action set two"))
	k := newSink(t)

	// Minimal .atn (ACT L100-123): a tint that depends on the file.
	centre := func(body obj) color.NRGBA {
		outs := f.succeeded(f.submitTo("/v2/execute-actions", body))
		return at(decodeAs(t, mediaPNG, hostedBytes(t, outs[0])), 60, 45)
	}
	minimal := obj{"image": src(in), "options": obj{"actions": arr{obj{"source": obj{"url": atn1}, "actionName": "Resize to Web"}}},
		"outputs": arr{obj{"destination": obj{"url": k.url("min.jpg")}, "mediaType": "image/jpeg", "quality": "photoshop_max"}}}
	f.succeeded(f.submitTo("/v2/execute-actions", minimal))
	b, _ := k.get(t, "min.jpg")
	if c := at(decodeAs(t, mediaJPEG, b), 60, 45); near(c, color.NRGBA{20, 60, 200, 255}, 8) {
		t.Errorf("centre %v: the action left the image unchanged", c)
	}
	one := centre(actionsBody(in, arr{obj{"source": obj{"url": atn1}}}, hostedPNG()))
	again := centre(actionsBody(in, arr{obj{"source": obj{"url": atn1}}}, hostedPNG()))
	two := centre(actionsBody(in, arr{obj{"source": obj{"url": atn2}}}, hostedPNG()))
	if one != again || one == two || one == (color.NRGBA{20, 60, 200, 255}) {
		t.Errorf("centres %v %v %v: want the same action file to give the same visible result, another a different one", one, again, two)
	}

	// Inline ActionJSON (ACT L290-314): convertMode to grayscale.
	gray := `[{"_obj":"convertMode","to":{"_enum":"colorSpaceMode","_value":"grayscale"}}]`
	outs := f.succeeded(f.submitTo("/v2/execute-actions", actionsBody(in,
		arr{obj{"source": obj{"content": gray, "contentType": "application/json"}}},
		obj{"destination": obj{}, "mediaType": "image/jpeg"})))
	img := decodeAs(t, mediaJPEG, hostedBytes(t, outs[0]))
	if c := at(img, 60, 45); abs(int(c.R)-int(c.B)) > 4 {
		t.Errorf("grayscale centre %v, want R = G = B", c)
	}

	// Full (EXA + ACT): .atn, inline placeEvent of additionalContents[0],
	// brushes, patterns, fonts; JPEG capped by maxWidth, PNG, PSD.
	logo := f.upload("act/logo.png", encodeTest(t, solid(10, 10, color.NRGBA{255, 0, 0, 255}), mediaPNG))
	aux := f.upload("act/aux.bin", []byte("brush, pattern or font"))
	full := obj{"image": src(in), "options": obj{
		"actions": arr{obj{"source": obj{"url": atn1}, "actionName": "Resize to Web"},
			obj{"source": obj{"content": `[{"_obj":"placeEvent","null":{"_path":"__ADDITIONAL_CONTENTS_PATH_0__","_kind":"local"}}]`, "contentType": "application/json"}}},
		"additionalContents": arr{src(logo)}, "brushes": arr{src(aux)}, "patterns": arr{src(aux)},
		"fontOptions": obj{"additionalFonts": arr{src(aux)}, "missingFontStrategy": "use_default"}},
		"outputs": arr{
			obj{"destination": obj{"url": k.url("full.jpg")}, "mediaType": "image/jpeg", "quality": "maximum", "maxWidth": 60},
			obj{"destination": obj{"validityPeriod": 3600}, "mediaType": "image/png", "compression": "medium"},
			obj{"destination": obj{"url": k.url("full.psd")}, "mediaType": "image/vnd.adobe.photoshop"},
		}}
	outs = f.succeeded(f.submitTo("/v2/execute-actions", full))
	if len(outs) != 3 || outs[0]["maxWidth"] != float64(60) || outs[1]["compression"] != "medium" {
		t.Fatalf("outputs %v", outs)
	}
	b, _ = k.get(t, "full.jpg")
	if got := decodeAs(t, mediaJPEG, b).Bounds().Size(); got != image.Pt(60, 45) {
		t.Errorf("JPEG with maxWidth 60: %v, want 60×45", got)
	}
	pngImg := decodeAs(t, mediaPNG, hostedBytes(t, outs[1]))
	if c := at(pngImg, 60, 45); !near(c, color.NRGBA{255, 0, 0, 255}, 0) {
		t.Errorf("centre %v, want the red logo placed centred", c)
	}
	b, ct := k.get(t, "full.psd")
	if psd := decodeAs(t, mediaPSD, b); psd.Bounds().Size() != image.Pt(120, 90) || ct != mediaPSD {
		t.Errorf("PSD %v %s", psd.Bounds(), ct)
	}
}

// productCrop is Adobe's product-crop recipe (PC L57-88) with its
// canvasSize padding set.
func productCrop(value float64, unit string) string {
	steps := []any{
		obj{"_obj": "autoCutout", "sampleAllLayers": false},
		obj{"_obj": "make", "at": obj{"_enum": "channel", "_ref": "channel", "_value": "mask"}, "new": obj{"_class": "channel"},
			"using": obj{"_enum": "userMaskEnabled", "_value": "revealSelection"}},
		obj{"_obj": "newPlacedLayer"},
		obj{"_obj": "trim", "bottom": true, "left": true, "right": true, "top": true, "trimBasedOn": obj{"_enum": "trimBasedOn", "_value": "transparency"}},
		obj{"_obj": "canvasSize", "height": obj{"_unit": unit, "_value": value}, "horizontal": obj{"_enum": "horizontalLocation", "_value": "center"},
			"relative": true, "vertical": obj{"_enum": "verticalLocation", "_value": "center"}, "width": obj{"_unit": unit, "_value": value}},
		obj{"_obj": "placedLayerConvertToLayers"},
		obj{"_obj": "delete", "_target": arr{obj{"_enum": "channel", "_ref": "channel", "_value": "mask"}}},
		obj{"_obj": "trim", "bottom": true, "left": true, "right": true, "top": true, "trimBasedOn": obj{"_enum": "trimBasedOn", "_value": "transparency"}},
	}
	b, _ := json.Marshal(steps)
	return string(b)
}

func TestProductCrop(t *testing.T) {
	f := start(t, Config{})
	in := f.upload("pc/in.png", objectShot(t)) // subject: 40×40 at 40..80 × 25..65
	for _, tc := range []struct {
		value float64
		unit  string
		want  int
	}{
		{10, "pixelsUnit", 50},
		{0, "pixelsUnit", 40},
		{50, "percentUnit", 60},
	} {
		outs := f.succeeded(f.submitTo("/v2/execute-actions", actionsBody(in,
			arr{obj{"source": obj{"content": productCrop(tc.value, tc.unit), "contentType": "application/json"}}}, hostedPNG())))
		img := decodeAs(t, mediaPNG, hostedBytes(t, outs[0]))
		size := img.Bounds().Size()
		if abs(size.X-tc.want) > 2 || abs(size.Y-tc.want) > 2 {
			t.Errorf("padding %v %s: %v, want %d×%d (the subject box plus the padding)", tc.value, tc.unit, size, tc.want, tc.want)
			continue
		}
		if c := at(img, size.X/2, size.Y/2); !near(c, color.NRGBA{20, 60, 200, 255}, 0) {
			t.Errorf("padding %v %s: centre %v, want the subject", tc.value, tc.unit, c)
		}
		if tc.want > 40 {
			if c := at(img, 1, 1); c.A != 0 {
				t.Errorf("padding %v %s: corner %v, want transparent padding", tc.value, tc.unit, c)
			}
		}
	}
}

func TestCreateComposite(t *testing.T) {
	f := start(t, Config{})
	k := newSink(t)

	// Minimal conversion (OUT L245-262): PSD in, JPEG of width 60 out.
	psd := f.upload("cc/in.psd", encodeTest(t, shotImage(), mediaPSD))
	f.succeeded(f.submitTo("/v2/create-composite", obj{"image": src(psd),
		"outputs": arr{obj{"destination": obj{"url": k.url("min.jpg")}, "mediaType": "image/jpeg", "quality": "maximum", "width": 60}}}))
	b, _ := k.get(t, "min.jpg")
	if img := decodeAs(t, mediaJPEG, b); img.Bounds().Size() != image.Pt(60, 45) || !near(at(img, 30, 22), color.NRGBA{20, 60, 200, 255}, 12) {
		t.Errorf("JPEG %v centre %v, want 60×45 with the blue square", img.Bounds(), at(img, 30, 22))
	}

	// Full: resize to 50%, trim, a watermark layer on top; four outputs.
	in := f.upload("cc/floating.png", encodeTest(t, floating(), mediaPNG))
	logo := f.upload("cc/logo.png", encodeTest(t, solid(8, 8, color.NRGBA{0, 200, 0, 255}), mediaPNG))
	full := obj{"image": src(in),
		"edits": obj{"document": obj{"resize": obj{"width": obj{"unit": "percent_unit", "value": 50}, "constrainProportions": true, "resample": "bicubic"},
			"trim": obj{"trimUpon": "transparent_pixels"}},
			"layers": arr{obj{"type": "layer", "name": "Watermark", "image": src(logo),
				"operation": obj{"type": "add", "placement": obj{"type": "top"}}, "transform": obj{"offset": obj{"horizontal": 20, "vertical": 12}}}}},
		"outputs": arr{
			obj{"destination": obj{"url": k.url("hq.jpg")}, "mediaType": "image/jpeg", "quality": "photoshop_max",
				"iccProfile": obj{"type": "standard", "name": "sRGB IEC61966-2.1", "imageMode": "rgb"}},
			obj{"destination": obj{"url": k.url("preview.jpg")}, "mediaType": "image/jpeg", "quality": "medium", "maxWidth": 10, "resample": "bicubic_sharper"},
			obj{"destination": obj{"url": k.url("out.png")}, "mediaType": "image/png", "compression": "default", "cropMode": "trim_to_transparency"},
			obj{"destination": obj{"url": k.url("out.tif")}, "mediaType": "image/tiff"},
		}}
	outs := f.succeeded(f.submitTo("/v2/create-composite", full))
	if len(outs) != 4 || outs[0]["iccProfile"].(obj)["name"] != "sRGB IEC61966-2.1" {
		t.Fatalf("outputs %v", outs)
	}
	// The orange block (40×30 at 30,20) and the 8×8 logo at 20,12 halve to
	// 20×15 at 15,10 and 4×4 at 10,6; the trim keeps 10..35 × 6..25, and
	// a pixel more where the bicubic resampling left faint edges.
	want := image.Pt(25, 19)
	sizeOK := func(got image.Point) bool { return abs(got.X-want.X) <= 2 && abs(got.Y-want.Y) <= 2 }
	b, _ = k.get(t, "hq.jpg")
	if got := decodeAs(t, mediaJPEG, b).Bounds().Size(); !sizeOK(got) {
		t.Errorf("resized and trimmed: %v, want %v", got, want)
	}
	b, _ = k.get(t, "preview.jpg")
	if got := decodeAs(t, mediaJPEG, b).Bounds().Size(); got.X != 10 {
		t.Errorf("maxWidth 10: %v", got)
	}
	b, _ = k.get(t, "out.png")
	pngImg := decodeAs(t, mediaPNG, b)
	if got := pngImg.Bounds().Size(); !sizeOK(got) {
		t.Errorf("PNG: %v, want %v", got, want)
	}
	if c := at(pngImg, 3, 3); !near(c, color.NRGBA{0, 200, 0, 255}, 40) {
		t.Errorf("top-left %v, want the green watermark on top", c)
	}
	if c := at(pngImg, pngImg.Bounds().Dx()-2, 1); c.A != 0 {
		t.Errorf("top-right %v, want transparent", c)
	}
	if c := at(pngImg, 15, 12); !near(c, color.NRGBA{240, 120, 20, 255}, 20) {
		t.Errorf("middle %v, want the orange block", c)
	}
	b, _ = k.get(t, "out.tif")
	if got := decodeAs(t, mediaTIFF, b).Bounds().Size(); !sizeOK(got) {
		t.Errorf("TIFF: %v, want %v", got, want)
	}
}

// TestCompositeCropAndPNGLevels: crop bounds, and every PNG compression
// level gives a PNG that decodes to the same pixels.
func TestCompositeCropAndPNGLevels(t *testing.T) {
	f := start(t, Config{})
	in := f.upload("cc/shot.png", objectShot(t))
	var outputs arr
	levels := []string{"none", "very_low", "low", "medium_low", "medium", "medium_high", "default", "high", "very_high", "maximum"}
	for _, l := range levels {
		outputs = append(outputs, obj{"destination": obj{}, "mediaType": "image/png", "compression": l})
	}
	outs := f.succeeded(f.submitTo("/v2/create-composite", obj{"image": src(in),
		"edits": obj{"document": obj{"crop": obj{"bounds": obj{"left": 30, "top": 20, "right": 90, "bottom": 70}}}}, "outputs": outputs}))
	var sizes []int
	for i, o := range outs {
		b := hostedBytes(t, o)
		sizes = append(sizes, len(b))
		img := decodeAs(t, mediaPNG, b)
		if img.Bounds().Size() != image.Pt(60, 50) || at(img, 30, 25) != (color.NRGBA{20, 60, 200, 255}) || at(img, 2, 2) != (color.NRGBA{235, 235, 235, 255}) {
			t.Errorf("%s: %v", levels[i], img.Bounds())
		}
	}
	if sizes[0] <= sizes[len(sizes)-1] {
		t.Errorf("sizes %v: none should be larger than maximum", sizes)
	}
}

func TestGenerateManifest(t *testing.T) {
	f := start(t, Config{})
	k := newSink(t)
	psd := f.upload("m/in.psd", encodeTest(t, floating(), mediaPSD))

	// Minimal (MAN L582-600): embedded json.
	outs := f.succeeded(f.submitTo("/v2/generate-manifest", obj{"image": src(psd),
		"outputs": arr{obj{"destination": obj{"embedded": "json"}, "mediaType": "application/json"}}}))
	d := outs[0]["destination"].(obj)
	content, ok := d["content"].(obj)
	if d["embedded"] != "json" || !ok {
		t.Fatalf("destination %v, want embedded json content", d)
	}
	doc := content["document"].(obj)
	layers := content["layers"].(arr)
	if doc["width"] != float64(120) || doc["height"] != float64(90) || doc["imageMode"] != "rgb" || doc["depth"] != float64(8) || len(layers) != 1 {
		t.Errorf("manifest %v", content)
	}
	if l := layers[0].(obj); l["name"] != "Layer 0" || l["type"] != "layer" {
		t.Errorf("layer %v, want Layer 0 (a transparent flat image)", l)
	}

	// Full (MAN L297-327), to a URL; and base64 and string embeddings.
	in := f.upload("m/in.jpg", encodeTest(t, shotImage(), mediaJPEG))
	outs = f.succeeded(f.submitTo("/v2/generate-manifest", obj{"image": src(in), "includeLayerThumbnails": true, "maximumThumbnailDepth": 5,
		"includeXmp": true, "trimToTransparency": true, "exportOptions": obj{"mediaType": "image/jpeg", "quality": "high"},
		"outputs": arr{
			obj{"destination": obj{"url": k.url("manifest.json")}, "mediaType": "application/json"},
			obj{"destination": obj{"embedded": "base64"}, "mediaType": "application/json"},
			obj{"destination": obj{"embedded": "string"}, "mediaType": "application/json"},
		}}))
	b, ct := k.get(t, "manifest.json")
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil || ct != mediaJSON || m.Document.Width != 120 || m.Document.Height != 90 || m.Layers[0].Type != "background_layer" {
		t.Errorf("manifest %s (%s, %v)", b, ct, err)
	}
	raw, err := base64.StdEncoding.DecodeString(outs[1]["destination"].(obj)["content"].(string))
	if err != nil || !bytes.Equal(raw, b) {
		t.Errorf("base64 content %q, want the manifest", raw)
	}
	if s := outs[2]["destination"].(obj)["content"].(string); s != string(b) {
		t.Errorf("string content %q, want the manifest", s)
	}
}

func TestAutoCrop(t *testing.T) {
	f := start(t, Config{})
	big := image.NewNRGBA(image.Rect(0, 0, 200, 100))
	for y := range 100 {
		for x := range 200 {
			c := color.NRGBA{240, 240, 240, 255}
			if x >= 130 && x < 170 && y >= 30 && y < 70 {
				c = color.NRGBA{200, 30, 30, 255}
			}
			big.SetNRGBA(x, y, c)
		}
	}
	in := f.upload("ac/in.jpg", encodeTest(t, big, mediaJPEG))

	// Minimal [I] (§6): two ratios with zooms.
	outs := f.succeeded(f.submitTo("/v1/auto-crop", obj{"image": obj{"source": obj{"url": in}, "mediaType": "image/jpeg"},
		"mode": "smartCrop", "aspectRatio": arr{"1:1", "4:5"}, "zoom": arr{0.9, 0.85}}))
	raw, _ := json.Marshal(outs[0])
	checkSchema(t, "AutoCropOutput", raw)
	crops := outs[0]["crops"].(arr)
	if len(crops) != 2 || len(outs[0]["subject"].(arr)) != 0 || len(outs[0]["objects"].(arr)) != 0 {
		t.Fatalf("output %s, want two crops", raw)
	}
	for i, want := range []struct {
		ratio float64
		h     float64
	}{{1, 90}, {0.8, 85}} {
		bb := crops[i].(obj)["boundingBoxes"].(arr)[0].(obj)
		x, y, w, h := bb["x"].(float64), bb["y"].(float64), bb["width"].(float64), bb["height"].(float64)
		if math.Abs(w/h-want.ratio) > 0.02 || math.Abs(h-want.h) > 1 || x < 0 || y < 0 || x+w > 200 || y+h > 100 {
			t.Errorf("crop %d: %v, want ratio %v, height %v, inside the image", i, bb, want.ratio, want.h)
		}
		if cx := x + w/2; math.Abs(cx-150) > 1 {
			t.Errorf("crop %d centred at x %v, want the subject's 150", i, cx)
		}
		img := decodeAs(t, mediaJPEG, hostedBytes(t, obj{"destination": obj{"url": bb["url"]}}))
		if img.Bounds().Dx() != int(w) || img.Bounds().Dy() != int(h) {
			t.Errorf("crop %d image %v, want %v×%v", i, img.Bounds(), w, h)
		}
	}

	// Bounding boxes only; objectDetection; fullSceneDetection.
	outs = f.succeeded(f.submitTo("/v1/auto-crop", obj{"image": obj{"source": obj{"url": in}}, "mode": "subjectCrop",
		"focus": arr{"shoe"}, "aspectRatio": "16:9", "outputType": "boundingBoxes"}))
	bb := outs[0]["crops"].(arr)[0].(obj)["boundingBoxes"].(arr)[0].(obj)
	if _, has := bb["url"]; has || math.Abs(bb["width"].(float64)/bb["height"].(float64)-16.0/9) > 0.02 {
		t.Errorf("box %v, want 16:9 without url", bb)
	}
	outs = f.succeeded(f.submitTo("/v1/auto-crop", obj{"image": obj{"source": obj{"url": in}}, "mode": "objectDetection", "focus": arr{"shoe", "bag"}}))
	objs := outs[0]["objects"].(arr)
	if len(objs) != 2 || objs[1].(obj)["objectName"] != "bag" {
		t.Fatalf("objects %v", objs)
	}
	sb := objs[0].(obj)["boundingBoxes"].(arr)[0].(obj)
	if abs(int(sb["x"].(float64))-130) > 2 || abs(int(sb["width"].(float64))-40) > 3 {
		t.Errorf("subject box %v, want about 130,30 40×40", sb)
	}
	outs = f.succeeded(f.submitTo("/v1/auto-crop", obj{"image": obj{"source": obj{"url": in}}, "mode": "fullSceneDetection"}))
	if len(outs[0]["subject"].(arr)) != 1 || len(outs[0]["crops"].(arr)) != 0 {
		t.Errorf("full scene %v", outs[0])
	}
}

// TestRemoveBackgroundPSDAndWebP: psd mode and the webp and PSD outputs
// now succeed, with the cutout's alpha.
func TestRemoveBackgroundPSDAndWebP(t *testing.T) {
	f := start(t, Config{})
	in := f.upload("rb/shot.png", objectShot(t))
	webpIn := f.upload("rb/shot.webp", encodeTest(t, shotImage(), mediaWebP))
	for _, tc := range []struct {
		name, source string
		extra        map[string]any
		want         string
	}{
		{"psd mode", in, map[string]any{"mode": "psd"}, mediaPSD},
		{"psd output", in, map[string]any{"output": map[string]any{"mediaType": mediaPSD}}, mediaPSD},
		{"webp output", in, map[string]any{"output": map[string]any{"mediaType": mediaWebP}}, mediaWebP},
		{"webp input, default output", webpIn, nil, mediaWebP},
	} {
		st := f.finish(f.submit(rbBody(tc.source, tc.extra)))
		if st.Status != "succeeded" || st.Result.Outputs[0].MediaType != tc.want {
			t.Errorf("%s: %+v, want succeeded with %s", tc.name, st, tc.want)
			continue
		}
		resp, b := download(t, st.Result.Outputs[0].Destination.URL)
		if ct := resp.Header.Get("Content-Type"); ct != tc.want {
			t.Errorf("%s: Content-Type %s", tc.name, ct)
		}
		img := decodeAs(t, tc.want, b)
		if img.Bounds().Size() != image.Pt(120, 90) || at(img, 2, 2).A != 0 || !near(at(img, 60, 45), color.NRGBA{20, 60, 200, 255}, 0) {
			t.Errorf("%s: %v corner %v centre %v, want the cutout", tc.name, img.Bounds(), at(img, 2, 2), at(img, 60, 45))
		}
	}
	// A mask in PSD is one gray channel.
	st := f.finish(f.submit(rbBody(in, map[string]any{"mode": "mask", "output": map[string]any{"mediaType": mediaPSD}})))
	_, b := download(t, st.Result.Outputs[0].Destination.URL)
	if img, ok := decodeAs(t, mediaPSD, b).(*image.Gray); !ok || img.GrayAt(60, 45).Y != 255 || img.GrayAt(2, 2).Y != 0 {
		t.Errorf("mask PSD: %T", img)
	}
}

// TestOwnResultAsInput: a hosted result of one job is the input of the
// next, read from the results folder.
func TestOwnResultAsInput(t *testing.T) {
	f := start(t, Config{})
	in := f.upload("chain/in.png", objectShot(t))
	st := f.finish(f.submit(rbBody(in, nil)))
	cut := st.Result.Outputs[0].Destination.URL
	outs := f.succeeded(f.submitTo("/v2/create-composite", obj{"image": src(cut), "edits": obj{"document": obj{"trim": obj{"trimUpon": "transparent_pixels"}}},
		"outputs": arr{hostedPNG()}}))
	if img := decodeAs(t, mediaPNG, hostedBytes(t, outs[0])); img.Bounds().Size() != image.Pt(40, 40) {
		t.Errorf("trimmed cutout %v, want the 40×40 subject", img.Bounds())
	}
	f.s.mu.Lock()
	var j *job
	for _, x := range f.s.jobs {
		if x.op == opComposite {
			j = x
		}
	}
	f.s.mu.Unlock()
	if ref := j.local[cut]; !strings.HasPrefix(ref, resultRef) {
		t.Errorf("local reference %q of a result URL, want results/…", ref)
	}
}

// TestURLDestinationOwnStore: the emulator PUTs an output to its own
// upload store, where a presigned GET finds it.
func TestURLDestinationOwnStore(t *testing.T) {
	f := start(t, Config{})
	in := f.upload("own/in.png", objectShot(t))
	dest := f.s.StorageURL() + "/own/out.tif?X-Amz-Signature=x"
	outs := f.succeeded(f.submitTo("/v2/create-composite", obj{"image": src(in),
		"outputs": arr{obj{"destination": obj{"url": dest}, "mediaType": "image/tiff"}}}))
	if outs[0]["destination"].(obj)["url"] != dest {
		t.Errorf("destination %v, want %s echoed", outs[0]["destination"], dest)
	}
	st := NewStore(f.s.StorageURL(), nil)
	get, err := st.PresignGet(t.Context(), "own/out.tif", 60e9)
	if err != nil {
		t.Fatal(err)
	}
	resp, b := download(t, get)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the PUT output: %s", resp.Status)
	}
	if img := decodeAs(t, mediaTIFF, b); img.Bounds().Size() != image.Pt(120, 90) {
		t.Errorf("TIFF %v", img.Bounds())
	}
}

// TestOutputFailures: what fails a job, with Adobe's codes.
func TestOutputFailures(t *testing.T) {
	f := start(t, Config{})
	in := f.upload("fail/in.png", objectShot(t))
	k := newSink(t)
	notPSD := f.upload("fail/bad.psd", []byte("8BPS\x00\x01 garbage that is not a PSD"))
	cmyk := encodeTest(t, shotImage(), mediaPSD)
	cmyk[25] = 4 // colour mode CMYK
	cmykURL := f.upload("fail/cmyk.psd", cmyk)
	for _, tc := range []struct {
		name, path string
		body       obj
		code, msg  string
	}{
		{"PUT refused", "/v2/create-composite", obj{"image": src(in), "outputs": arr{obj{"destination": obj{"url": f.s.URL() + "/results/nope.png"}, "mediaType": "image/png"}}},
			"422404", "Unable to process outputs"},
		{"image embedded as json", "/v2/create-composite", obj{"image": src(in), "outputs": arr{obj{"destination": obj{"embedded": "json"}, "mediaType": "image/png"}}},
			"422404", "cannot be embedded as json"},
		{"unreadable PSD", "/v2/create-composite", obj{"image": src(notPSD), "outputs": arr{hostedPNG()}}, "input_unreadable", "PSD"},
		{"CMYK PSD", "/v2/create-composite", obj{"image": src(cmykURL), "outputs": arr{hostedPNG()}}, "input_unreadable", "CMYK"},
		{"creative cloud destination", "/v2/create-composite", obj{"image": src(in), "outputs": arr{obj{"destination": obj{"creativeCloudPath": "a/b.png"}, "mediaType": "image/png"}}},
			"unsupported_option", "Creative Cloud"},
		{"PSDC", "/v2/create-composite", obj{"image": src(in), "outputs": arr{obj{"destination": obj{}, "mediaType": "document/vnd.adobe.cpsd+dcx"}}},
			"unsupported_option", "not emulated"},
		{"text layer", "/v2/create-composite", obj{"image": src(in), "edits": obj{"layers": arr{obj{"type": "text_layer", "operation": obj{"type": "add", "placement": obj{"type": "top"}}, "text": obj{"content": "hi"}}}},
			"outputs": arr{hostedPNG()}}, "unsupported_option", "text_layer"},
		{"missing action file", "/v2/execute-actions", actionsBody(in, arr{obj{"source": obj{"url": k.URL + "/nope.atn"}}}, hostedPNG()),
			"input_fetch_failed", "options.actions[0]"},
	} {
		code, msg := f.failed(f.submitTo(tc.path, tc.body))
		if code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %s %q, want %s mentioning %q", tc.name, code, msg, tc.code, tc.msg)
		}
	}
}

// TestOperationBuckets: the new operations are charged to the general
// buckets, their status polls too; remove background keeps its own.
func TestOperationBuckets(t *testing.T) {
	f := start(t, Config{})
	in := f.upload("b/in.png", objectShot(t))
	rb := f.submit(rbBody(in, nil))
	sub := f.submitTo("/v2/generate-manifest", obj{"image": src(in), "outputs": arr{obj{"destination": obj{"embedded": "json"}, "mediaType": "application/json"}}})
	f.status(rb)
	f.call(http.MethodGet, sub.StatusURL, nil)
	st := f.s.Stats()
	want := map[ratelimit.Bucket]int{ratelimit.RemoveBackgroundPost: 1, ratelimit.Post: 1}
	for b, n := range want {
		if st.PostsByBucket[b] != n {
			t.Errorf("posts on %s: %d, want %d (%v)", b, st.PostsByBucket[b], n, st.PostsByBucket)
		}
	}
	if st.GetsByBucket[ratelimit.RemoveBackgroundGet] != 1 || st.GetsByBucket[ratelimit.Get] != 1 {
		t.Errorf("gets %v, want one on each", st.GetsByBucket)
	}
	if st.Jobs != 2 || st.PostsPerSource["/storage/b/in.png"] != 2 || len(st.Accepted) != 2 {
		t.Errorf("jobs %d per source %v accepted %v", st.Jobs, st.PostsPerSource, st.Accepted)
	}
}

// TestHostedValidity: a hosted output's URL expires after its
// validityPeriod.
func TestHostedValidity(t *testing.T) {
	f := start(t, Config{})
	in := f.upload("v/in.png", objectShot(t))
	sub := f.submitTo("/v2/create-composite", obj{"image": src(in), "outputs": arr{obj{"destination": obj{"validityPeriod": 60}, "mediaType": "image/png"}}})
	f.waitProcessed(sub.JobID)
	f.clock.Advance(10e9)
	var st struct {
		Result struct {
			Outputs []struct {
				Destination struct{ URL string } `json:"destination"`
			} `json:"outputs"`
		} `json:"result"`
	}
	_, b := f.call(http.MethodGet, sub.StatusURL, nil)
	json.Unmarshal(b, &st)
	u := st.Result.Outputs[0].Destination.URL
	if resp, _ := download(t, u); resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh: %s", resp.Status)
	}
	f.clock.Advance(61e9)
	if resp, body := download(t, u); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "expired") {
		t.Errorf("after validityPeriod: %s %s, want 403 expired", resp.Status, body)
	}
}

func TestPSDRoundTrip(t *testing.T) {
	for _, img := range []image.Image{shotImage(), floating(), grayOf(shotImage())} {
		var b bytes.Buffer
		if err := encodePSD(&b, img); err != nil {
			t.Fatal(err)
		}
		h, err := readPSDHeader(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodePSD(bytes.NewReader(b.Bytes()), 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []image.Point{{0, 0}, {35, 25}, {60, 45}, {119, 89}} {
			if at(got, p.X, p.Y) != at(img, p.X, p.Y) {
				t.Errorf("%T (%d channels) at %v: %v, want %v", img, h.channels, p, at(got, p.X, p.Y), at(img, p.X, p.Y))
			}
		}
	}
	if got := packBits(nil, bytes.Repeat([]byte{7}, 300)); len(got) != 6 {
		t.Errorf("300 equal bytes pack to %d bytes, want 6", len(got))
	}
	for _, n := range []int{1, 2, 3, 127, 128, 129, 300} {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(i * 7 % 5)
		}
		out, err := unpackBits(packBits(nil, src), n)
		if err != nil || !bytes.Equal(out, src) {
			t.Errorf("round trip of %d bytes: %v", n, err)
		}
	}
}
