package emulator

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestValidation: requests the spec or its prose rules refuse are answered
// 400 validation_error naming the field, before any job exists.
func TestValidation(t *testing.T) {
	f := start(t, Config{})
	in := "https://bucket.s3.amazonaws.com/in.png?X-Amz-Signature=abc"
	put := "https://bucket.s3.amazonaws.com/out.png?X-Amz-Signature=def"
	jpegOut := func(extra obj) obj {
		o := obj{"destination": obj{"url": put}, "mediaType": "image/jpeg"}
		for k, v := range extra {
			o[k] = v
		}
		return o
	}
	many := func(n int, o any) arr {
		var a arr
		for range n {
			a = append(a, o)
		}
		return a
	}
	edit := func(edits obj, outs ...obj) obj {
		b := obj{"image": src(in), "outputs": arr{}}
		if edits != nil {
			b["edits"] = edits
		}
		for _, o := range outs {
			b["outputs"] = append(b["outputs"].(arr), o)
		}
		return b
	}
	composite := func(outs ...obj) obj {
		b := obj{"image": src(in), "outputs": arr{}}
		for _, o := range outs {
			b["outputs"] = append(b["outputs"].(arr), o)
		}
		return b
	}
	inline := func(content, contentType string) obj {
		return obj{"source": obj{"content": content, "contentType": contentType}}
	}
	autoCrop := func(extra obj) obj {
		b := obj{"image": obj{"source": obj{"url": in}}, "mode": "smartCrop"}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	tests := []struct {
		name, path string
		body       any
		mentions   []string
	}{
		// The spec.
		{"no outputs", "/v2/edit", obj{"image": src(in)}, []string{"outputs", "Required field 'outputs' is missing"}},
		{"26 outputs", "/v2/create-composite", obj{"image": src(in), "outputs": many(26, jpegOut(nil))},
			[]string{"Array size must be between 1 and 25 at path 'outputs'"}},
		{"0 outputs", "/v2/generate-manifest", obj{"image": src(in), "outputs": arr{}}, []string{"Array size must be between 1 and 25 at path 'outputs'"}},
		{"11 presets", "/v2/edit", edit(obj{"presets": many(11, obj{"url": in})}, jpegOut(nil)),
			[]string{"Array size must be between 0 and 10 at path 'edits.presets'"}},
		{"11 actions", "/v2/execute-actions", obj{"image": src(in), "options": obj{"actions": many(11, src(in))}, "outputs": arr{jpegOut(nil)}},
			[]string{"options.actions"}},
		{"bad quality", "/v2/edit", edit(nil, jpegOut(obj{"quality": "7"})),
			[]string{"Invalid value '7' at path 'outputs[0].quality'. Accepted values are: very_poor, poor, low, medium, high, maximum, photoshop_max"}},
		{"bad media type", "/v2/create-composite", composite(obj{"destination": obj{"url": put}, "mediaType": "image/gif"}),
			[]string{"outputs[0].mediaType", "Invalid value 'image/gif'"}},
		{"tiff from edit", "/v2/edit", edit(nil, obj{"destination": obj{"url": put}, "mediaType": "image/tiff"}), []string{"outputs[0].mediaType"}},
		{"no media type", "/v2/create-composite", composite(obj{"destination": obj{"url": put}}), []string{"outputs[0].mediaType", "is missing"}},
		{"validityPeriod 30", "/v2/create-composite", composite(obj{"destination": obj{"validityPeriod": 30}, "mediaType": "image/png"}),
			[]string{"outputs[0].destination.validityPeriod: validityPeriod must be between 60 and 86400 seconds"}},
		{"validityPeriod 90000", "/v2/edit", edit(nil, obj{"destination": obj{"validityPeriod": 90000}, "mediaType": "image/png"}),
			[]string{"validityPeriod must be between 60 and 86400 seconds"}},
		{"bad storageType", "/v2/create-composite", composite(obj{"destination": obj{"url": put, "storageType": "s3"}, "mediaType": "image/png"}),
			[]string{"outputs[0].destination.storageType", "Accepted values are: azure, dropbox"}},
		{"exposure 6", "/v2/edit", edit(obj{"light": obj{"exposure": 6}}, jpegOut(nil)), []string{"edits.light.exposure"}},
		{"contrast 1.5", "/v2/edit", edit(obj{"light": obj{"contrast": 1.5}}, jpegOut(nil)), []string{"edits.light.contrast"}},
		{"autoTone as string", "/v2/edit", edit(obj{"autoTone": "yes"}, jpegOut(nil)), []string{"edits.autoTone: must be a boolean"}},
		{"bad whiteBalance", "/v2/edit", edit(obj{"color": obj{"whiteBalance": "Sunny"}}, jpegOut(nil)), []string{"edits.color.whiteBalance"}},
		{"autoStraighten without enabled", "/v2/edit", edit(obj{"autoStraighten": obj{"uprightMode": "auto"}}, jpegOut(nil)),
			[]string{"edits.autoStraighten.enabled"}},
		{"inline XMP", "/v2/edit", edit(obj{"xmp": obj{"source": obj{"content": "<x/>"}}}, jpegOut(nil)), []string{"edits.xmp.source"}},
		{"inline image", "/v2/create-composite", obj{"image": obj{"source": obj{"content": "abc"}}, "outputs": arr{jpegOut(nil)}}, []string{"image"}},
		{"bad resize unit", "/v2/create-composite", obj{"image": src(in), "edits": obj{"document": obj{"resize": obj{"width": obj{"unit": "inch", "value": 2}}}},
			"outputs": arr{jpegOut(nil)}}, []string{"edits.document.resize.width.unit"}},
		{"bad aspect ratio", "/v1/auto-crop", autoCrop(obj{"aspectRatio": "5:3"}), []string{"aspectRatio"}},
		{"bad mode", "/v1/auto-crop", obj{"image": obj{"source": obj{"url": in}}, "mode": "crop"}, []string{"mode", "Accepted values are: smartCrop"}},

		// Unknown fields.
		{"misspelt output field", "/v2/create-composite", composite(jpegOut(obj{"mediatype": "image/png"})),
			[]string{"outputs[0].mediatype: Unknown field 'mediatype'"}},
		{"unknown edit", "/v2/edit", edit(obj{"autoTones": true}, jpegOut(nil)), []string{"edits.autoTones: Unknown field"}},
		{"unknown top field", "/v2/generate-manifest", obj{"image": src(in), "thumbnails": true,
			"outputs": arr{obj{"destination": obj{"embedded": "json"}, "mediaType": "application/json"}}}, []string{"thumbnails: Unknown field"}},
		{"unknown destination field", "/v2/edit", edit(nil, obj{"destination": obj{"url": put, "expires": 3}, "mediaType": "image/png"}),
			[]string{"outputs[0].destination.expires: Unknown field"}},
		{"unknown resize field", "/v2/create-composite", obj{"image": src(in), "edits": obj{"document": obj{"resize": obj{"widht": obj{"unit": "pixels_unit", "value": 2}}}},
			"outputs": arr{jpegOut(nil)}}, []string{"edits.document.resize.widht: Unknown field"}},
		{"unknown auto-crop field", "/v1/auto-crop", autoCrop(obj{"ratio": "1:1"}), []string{"ratio: Unknown field"}},

		// The rules the spec states in prose.
		{"neither actions nor uxp", "/v2/execute-actions", obj{"image": src(in), "options": obj{}, "outputs": arr{jpegOut(nil)}},
			[]string{"options: At least one of actions or uxp is required."}},
		{"empty actions", "/v2/execute-actions", obj{"image": src(in), "options": obj{"actions": arr{}}, "outputs": arr{jpegOut(nil)}},
			[]string{"At least one of actions or uxp is required."}},
		{"scriptOutputPattern with a URL", "/v2/execute-actions", obj{"image": src(in), "options": obj{"actions": arr{src(in)}},
			"outputs": arr{jpegOut(obj{"scriptOutputPattern": "*.jpg"})}}, []string{"outputs[0].scriptOutputPattern", "only hosted or embedded"}},
		{"scriptOutputPattern outside execute-actions", "/v2/create-composite", composite(obj{"destination": obj{}, "mediaType": "image/png", "scriptOutputPattern": "*.png"}),
			[]string{"scriptOutputPattern is only applicable for /v2/execute-actions"}},
		{"quality on PNG", "/v2/create-composite", composite(obj{"destination": obj{"url": put}, "mediaType": "image/png", "quality": "high"}),
			[]string{"outputs[0].quality: 'quality' parameter is not supported for PNG format"}},
		{"quality on PNG (edit)", "/v2/edit", edit(nil, obj{"destination": obj{"url": put}, "mediaType": "image/png", "quality": "high"}),
			[]string{"'quality' parameter is not supported for PNG format"}},
		{"compression on JPEG", "/v2/create-composite", composite(jpegOut(obj{"compression": "high"})),
			[]string{"outputs[0].compression: 'compression' parameter is not supported for JPEG format"}},
		{"inline content too large", "/v2/execute-actions", obj{"image": src(in), "options": obj{"actions": arr{inline("["+strings.Repeat(" ", 51200)+"]", "application/json")}},
			"outputs": arr{jpegOut(nil)}}, []string{"options.actions[0].source.content"}},
		{"inline wrong content type", "/v2/execute-actions", obj{"image": src(in), "options": obj{"actions": arr{inline("[]", "text/plain")}}, "outputs": arr{jpegOut(nil)}},
			[]string{"options.actions[0].source.contentType", "Invalid contentType for inline action"}},
		{"inline not an array", "/v2/execute-actions", obj{"image": src(in), "options": obj{"actions": arr{inline(`{"_obj":"x"}`, "application/json")}}, "outputs": arr{jpegOut(nil)}},
			[]string{"options.actions[0].source.content", "JSON-stringified array"}},
		{"layer_bounds without a layer", "/v2/create-composite", composite(jpegOut(obj{"cropMode": "layer_bounds"})),
			[]string{"outputs[0].cropMode", "single-layer"}},
		{"layer_bounds with two layers", "/v2/create-composite", composite(jpegOut(obj{"cropMode": "layer_bounds", "layers": arr{obj{"id": 1}, obj{"id": 2}}})),
			[]string{"outputs[0].cropMode"}},
		{"layer with id and name", "/v2/create-composite", composite(jpegOut(obj{"layers": arr{obj{"id": 1, "name": "x"}}})),
			[]string{"outputs[0].layers[0]: Each layer reference must contain exactly one of id or name (not both)."}},
		{"ICC on PSDC", "/v2/create-composite", composite(obj{"destination": obj{}, "mediaType": "document/vnd.adobe.cpsd+dcx",
			"iccProfile": obj{"type": "standard", "name": "sRGB IEC61966-2.1"}}), []string{"outputs[0].iccProfile"}},
		{"malformed image URL", "/v2/create-composite", obj{"image": src("https://bucket/in put.png"), "outputs": arr{jpegOut(nil)}},
			[]string{"image.source.url: The url is malformed or blocked"}},
		{"relative destination URL", "/v2/edit", edit(nil, obj{"destination": obj{"url": "/out.png"}, "mediaType": "image/png"}),
			[]string{"outputs[0].destination.url: The url is malformed or blocked"}},
		{"azure without storageType", "/v2/create-composite", composite(obj{"destination": obj{"url": "https://acct.blob.core.windows.net/c/o.png?sig=1"}, "mediaType": "image/png"}),
			[]string{"Azure Blob Storage URL requires 'storageType': 'azure'"}},
		{"auto-crop ratio for full scene", "/v1/auto-crop", obj{"image": obj{"source": obj{"url": in}}, "mode": "fullSceneDetection", "aspectRatio": "1:1"},
			[]string{"aspectRatio is allowed only for 'smartCrop' and 'subjectCrop'"}},
		{"auto-crop focus for smartCrop", "/v1/auto-crop", autoCrop(obj{"focus": arr{"shoe"}}), []string{"focus must be empty"}},
		{"auto-crop subjectCrop without focus", "/v1/auto-crop", obj{"image": obj{"source": obj{"url": in}}, "mode": "subjectCrop"},
			[]string{"focus is required"}},
		{"auto-crop zoom without ratio", "/v1/auto-crop", autoCrop(obj{"zoom": 0.5}), []string{"zoom must not be sent without aspectRatio"}},
		{"auto-crop zooms mismatch", "/v1/auto-crop", autoCrop(obj{"aspectRatio": arr{"1:1", "4:5"}, "zoom": arr{0.5}}), []string{"zoom", "must match aspectRatio"}},
		{"auto-crop 21 ratios", "/v1/auto-crop", autoCrop(obj{"aspectRatio": many(21, "1:1")}), []string{"Array size must be between 1 and 20 at path 'aspectRatio'"}},
		{"auto-crop zoom 1.5", "/v1/auto-crop", autoCrop(obj{"aspectRatio": "1:1", "zoom": 1.5}), []string{"zoom", "(0, 1]"}},
		{"remove background color without alpha", "/v2/remove-background", rbBody(in, map[string]any{"backgroundColor": map[string]any{"red": 1, "green": 2, "blue": 3}}),
			[]string{"backgroundColor.alpha: Required field 'alpha' is missing at path 'backgroundColor'"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			f.refuse(tc.path, tc.body, tc.mentions...)
		})
	}
	f.t = t
	if st := f.s.Stats(); st.Jobs != 0 {
		t.Errorf("%d jobs accepted, want none", st.Jobs)
	}
	// The same examples, minus their defect, are accepted: the table
	// tests the rule, not a broken request.
	f.submitTo("/v2/create-composite", composite(jpegOut(obj{"cropMode": "layer_bounds", "layers": arr{obj{"name": "Background"}}})))
	f.submitTo("/v1/auto-crop", autoCrop(obj{"aspectRatio": arr{"1:1", "4:5"}, "zoom": arr{0.5, 1}}))
	f.submitTo("/v2/execute-actions", obj{"image": src(in), "options": obj{"uxp": obj{"source": obj{"content": "app.activeDocument", "contentType": "application/javascript"}}},
		"outputs": arr{obj{"destination": obj{"embedded": "base64"}, "mediaType": "image/png", "scriptOutputPattern": "*.png"}}})
	f.submitTo("/v2/edit", edit(obj{"presets": many(10, obj{"url": in})}, obj{"destination": obj{}, "mediaType": "image/png"}))
}

// TestValidationAnswer: the 400 is Adobe's ErrorResponse, lists every
// problem and comes before any job.
func TestValidationAnswer(t *testing.T) {
	f := start(t, Config{})
	resp, b := f.call(http.MethodPost, "/v2/create-composite", obj{"image": obj{"source": obj{"url": "ftp://x"}},
		"outputs": arr{obj{"destination": obj{"validityPeriod": 1}, "mediaType": "image/png", "qualty": "high"}}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("%s %s", resp.Status, b)
	}
	checkSchema(t, "ErrorResponse", b)
	s := string(b)
	for _, want := range []string{`"error_code":"validation_error"`, `"message":"Validation failed"`, "validityPeriod must be between", "outputs[0].qualty: Unknown field"} {
		if !strings.Contains(s, want) {
			t.Errorf("answer %s lacks %s", s, want)
		}
	}
	if resp, b := f.callAs(http.MethodPost, "/v2/edit", `{"image":`, "Bearer "+f.token, f.key, "application/json"); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(string(b), "invalid_json") {
		t.Errorf("broken JSON: %s %s", resp.Status, b)
	}
	if resp, b := f.callAs(http.MethodPost, "/v2/edit", `{}`, "Bearer "+f.token, f.key, "text/plain"); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(string(b), "invalid_content_type") {
		t.Errorf("text body: %s %s", resp.Status, b)
	}
}

// TestSpecs: both embedded specs load, stay valid OpenAPI documents after
// the emulator's adjustments, and have a request schema for every
// operation the emulator serves.
func TestSpecs(t *testing.T) {
	sp, err := loadSpecs()
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]*openapi3.T{"current": sp.current, "remove-background": sp.removeBackground} {
		if err := doc.Validate(context.Background()); err != nil {
			t.Errorf("%s spec: %v", name, err)
		}
	}
	for path, op := range operations {
		if s := op.schema(); s == nil || len(s.Required) == 0 {
			t.Errorf("%s: no request schema", path)
		}
	}
	// The adjustments: mappings on the output unions, the optional
	// validityPeriod, outputs an array.
	edit := requestSchema(sp.current, "/v2/edit")
	if d := edit.Properties["outputs"].Value.Items.Value.Discriminator; d == nil || d.Mapping[mediaXMP].Ref != "#/components/schemas/XmpOutput" {
		t.Errorf("edit outputs discriminator %+v", d)
	}
	if h := componentSchema(sp.current, "HostedDestination"); len(h.Required) != 0 || h.Not == nil {
		t.Errorf("HostedDestination %+v", h)
	}
	if o := componentSchema(sp.current, "Result").Properties["outputs"].Value; !o.Type.Is("array") {
		t.Errorf("Result.outputs %+v", o.Type)
	}
}
