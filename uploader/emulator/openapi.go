package emulator

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// Adobe's OpenAPI specs, unchanged (see spec/README.md).
var (
	//go:embed spec/photoshopv2-api.json
	specCurrentJSON []byte
	//go:embed spec/photoshopv2-api-with-remove-background.json
	specRemoveBackgroundJSON []byte
)

// apiSpecs are the two specs the emulator validates with: the current one
// (photoshop-api endpoints and /v1/auto-crop) and the last revision that
// had /v2/remove-background.
type apiSpecs struct {
	current, removeBackground *openapi3.T
}

// loadSpecs parses and adapts the embedded specs once per process; the
// documents are only read afterwards, so servers share them.
var loadSpecs = sync.OnceValues(func() (*apiSpecs, error) {
	cur, err := loadSpec(specCurrentJSON)
	if err != nil {
		return nil, fmt.Errorf("emulator: spec photoshopv2-api.json: %w", err)
	}
	rb, err := loadSpec(specRemoveBackgroundJSON)
	if err != nil {
		return nil, fmt.Errorf("emulator: spec photoshopv2-api-with-remove-background.json: %w", err)
	}
	return &apiSpecs{current: cur, removeBackground: rb}, nil
})

// specs returns the loaded specs; they are embedded and tested, so a
// failure is a build defect.
func specs() *apiSpecs {
	s, err := loadSpecs()
	if err != nil {
		panic(err)
	}
	return s
}

// requestSchema returns the JSON request body schema of POST path in doc.
func requestSchema(doc *openapi3.T, path string) *openapi3.Schema {
	item := doc.Paths.Value(path)
	if item == nil || item.Post == nil || item.Post.RequestBody == nil {
		panic("emulator: the spec has no POST " + path)
	}
	mt := item.Post.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		panic("emulator: the spec has no JSON body for POST " + path)
	}
	return mt.Schema.Value
}

func loadSpec(raw []byte) (*openapi3.T, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if err := adaptSpec(m); err != nil {
		return nil, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		return nil, err
	}
	return doc, nil
}

const schemaRef = "#/components/schemas/"

// discriminated names, for the schemas that are branches of a oneOf, the
// property and values that select them: Adobe's base schemas declare the
// discriminator property but no mapping, so every branch accepts every
// value and the oneOf fails for any request.
var discriminated = map[string]struct {
	prop   string
	values []string
}{
	"LrJpegOutput":       {"mediaType", []string{mediaJPEG}},
	"LrPngOutput":        {"mediaType", []string{mediaPNG}},
	"LrDngOutput":        {"mediaType", []string{mediaDNG}},
	"XmpOutput":          {"mediaType", []string{mediaXMP}},
	"JpegOutput":         {"mediaType", []string{mediaJPEG}},
	"PngOutput":          {"mediaType", []string{mediaPNG}},
	"TiffOutput":         {"mediaType", []string{mediaTIFF}},
	"PsdOutput":          {"mediaType", []string{mediaPSD}},
	"PsdcOutput":         {"mediaType", []string{mediaPSDCUCF, mediaPSDC}},
	"JsonOutput":         {"mediaType", []string{mediaJSON}},
	"ManifestJsonOutput": {"mediaType", []string{mediaJSON}},
	"JpegExportOptions":  {"mediaType", []string{mediaJPEG}},
	"PngExportOptions":   {"mediaType", []string{mediaPNG}},
	"StandardIccProfile": {"type", []string{"standard"}},
	"CustomIccProfile":   {"type", []string{"custom"}},
	"AddOperation":       {"type", []string{"add"}},
	"EditOperation":      {"type", []string{"edit"}},
	"DeleteOperation":    {"type", []string{"delete"}},
	"MoveOperation":      {"type", []string{"move"}},
}

// layerKinds maps the middle of the layer operation schemas' names
// (Add<kind>Layer, Edit<kind>Layer) to the layer type they handle.
var layerKinds = map[string]string{
	"":            "layer",
	"Adjustment":  "adjustment_layer",
	"Background":  "background_layer",
	"Group":       "group_layer",
	"SmartObject": "smart_object_layer",
	"SolidColor":  "solid_color_layer",
	"Text":        "text_layer",
}

// adaptSpec makes the parsed spec usable for validation, as
// spec/README.md explains: discriminator mappings, exclusive layer
// operations, an optional validityPeriod, both preset shapes and an array
// of status outputs.
func adaptSpec(doc map[string]any) error {
	components, _ := doc["components"].(map[string]any)
	schemas, _ := components["schemas"].(map[string]any)
	if schemas == nil {
		return errors.New("no components.schemas")
	}
	obj := func(name string) map[string]any {
		s, _ := schemas[name].(map[string]any)
		return s
	}

	// Discriminator mappings on every oneOf whose branches are all listed.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if one, ok := v["oneOf"].([]any); ok {
				addDiscriminator(v, one)
			}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				walk(v[k])
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)

	// Exclusive layer operations.
	for kind, layerType := range layerKinds {
		for op, name := range map[string]string{"add": "Add" + kind + "Layer", "edit": "Edit" + kind + "Layer"} {
			constrain(obj(name), map[string]any{
				"type":     "object",
				"required": []any{"type"},
				"properties": map[string]any{
					"type":      map[string]any{"type": "string", "enum": []any{layerType}},
					"operation": opConstraint(op),
				},
			})
		}
	}
	constrain(obj("DeleteLayer"), map[string]any{"type": "object", "properties": map[string]any{"operation": opConstraint("delete")}})
	constrain(obj("MoveLayer"), map[string]any{"type": "object", "properties": map[string]any{"operation": opConstraint("move")}})

	// A hosted destination may omit validityPeriod (default 3600), and is
	// then told from the others by their keys.
	if h := obj("HostedDestination"); h != nil {
		delete(h, "required")
		h["not"] = map[string]any{"anyOf": []any{
			map[string]any{"required": []any{"url"}},
			map[string]any{"required": []any{"embedded"}},
			map[string]any{"required": []any{"creativeCloudPath"}},
		}}
	}

	// Presets as the spec has them ({"url"}) or as the guides do
	// ({"source": {"url"}}).
	if lr := obj("LightroomEdits"); lr != nil {
		if props, ok := lr["properties"].(map[string]any); ok {
			if p, ok := props["presets"].(map[string]any); ok {
				file := map[string]any{"$ref": schemaRef + "FileResourceInput"}
				p["items"] = map[string]any{"oneOf": []any{
					file,
					map[string]any{"type": "object", "required": []any{"source"}, "properties": map[string]any{"source": file}},
				}}
			}
		}
	}

	// Status outputs are an array.
	if r := obj("Result"); r != nil {
		if props, ok := r["properties"].(map[string]any); ok {
			props["outputs"] = map[string]any{"type": "array", "items": map[string]any{"type": "object"}}
		}
	}
	return nil
}

// addDiscriminator gives the oneOf of schema s a discriminator mapping when
// every branch is a reference to a schema listed in discriminated.
func addDiscriminator(s map[string]any, branches []any) {
	prop := ""
	mapping := make(map[string]any)
	for _, b := range branches {
		bm, _ := b.(map[string]any)
		ref, _ := bm["$ref"].(string)
		d, ok := discriminated[strings.TrimPrefix(ref, schemaRef)]
		if !ok || (prop != "" && d.prop != prop) {
			return
		}
		prop = d.prop
		for _, v := range d.values {
			mapping[v] = ref
		}
	}
	if prop != "" {
		s["discriminator"] = map[string]any{"propertyName": prop, "mapping": mapping}
	}
}

func opConstraint(op string) map[string]any {
	return map[string]any{"type": "object", "properties": map[string]any{
		"type": map[string]any{"type": "string", "enum": []any{op}},
	}}
}

// constrain adds c to schema s's allOf.
func constrain(s map[string]any, c map[string]any) {
	if s == nil {
		return
	}
	all, _ := s["allOf"].([]any)
	s["allOf"] = append(all, c)
}

// fieldError codes in an ErrorResponse's errors[].
const (
	errMissing = "missing_field"
	errInvalid = "invalid_value"
	errType    = "invalid_type"
	errUnknown = "unknown_field"
)

// dedupe drops repeated entries (kin-openapi reports some twice).
func dedupe(errs []fieldError) []fieldError {
	seen := make(map[fieldError]bool)
	out := errs[:0]
	for _, e := range errs {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

// schemaFieldErrors converts kin-openapi's errors into ErrorResponse
// entries, in Adobe's wording where the guides quote it.
func schemaFieldErrors(err error) []fieldError {
	var out []fieldError
	for _, se := range flattenSchemaErrors(err) {
		out = append(out, convertSchemaError(se)...)
	}
	if len(out) == 0 {
		out = append(out, fieldError{errInvalid, "body: " + err.Error()})
	}
	return out
}

// flattenSchemaErrors lists the schema errors of err, a MultiError (of
// MultiErrors…) or one error; not those inside a combinator's branches.
func flattenSchemaErrors(err error) []*openapi3.SchemaError {
	if me, ok := err.(openapi3.MultiError); ok {
		var out []*openapi3.SchemaError
		for _, e := range me {
			out = append(out, flattenSchemaErrors(e)...)
		}
		return out
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		return []*openapi3.SchemaError{se}
	}
	return nil
}

func convertSchemaError(e *openapi3.SchemaError) []fieldError {
	ptr := e.JSONPointer()
	path := fieldPath(ptr)
	switch e.SchemaField {
	case "oneOf", "anyOf", "allOf":
		return combinedError(e, path)
	case "discriminator":
		return discriminatorError(e, ptr, path)
	case "required":
		return requiredError(e, ptr, path)
	case "enum":
		var accepted []string
		if e.Schema != nil {
			for _, v := range e.Schema.Enum {
				accepted = append(accepted, showValue(v))
			}
		}
		return []fieldError{{errInvalid, fmt.Sprintf("%s: Invalid value '%s' at path '%s'. Accepted values are: %s",
			path, showValue(e.Value), path, strings.Join(accepted, ", "))}}
	case "type":
		want := ""
		if e.Schema != nil && e.Schema.Type != nil {
			want = strings.Join(e.Schema.Type.Slice(), " or ")
		}
		return []fieldError{{errType, fmt.Sprintf("%s: must be %s, not %s", path, withArticle(want), jsonKindOf(e.Value))}}
	case "minItems", "maxItems":
		return []fieldError{{errInvalid, itemsText(e.Schema, path)}}
	case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
		if len(ptr) > 0 && ptr[len(ptr)-1] == "validityPeriod" {
			return []fieldError{{errInvalid, path + ": validityPeriod must be between 60 and 86400 seconds"}}
		}
		return []fieldError{{errInvalid, fmt.Sprintf("%s: Invalid value '%s' at path '%s'. %s", path, showValue(e.Value), path, rangeText(e.Schema))}}
	case "maxLength", "minLength":
		return []fieldError{{errInvalid, fmt.Sprintf("%s: %s", path, e.Reason)}}
	case "pattern":
		pat := ""
		if e.Schema != nil {
			pat = e.Schema.Pattern
		}
		return []fieldError{{errInvalid, fmt.Sprintf("%s: Invalid value '%s' at path '%s'. It must match %s", path, showValue(e.Value), path, pat)}}
	case "not":
		return []fieldError{{errInvalid, path + ": the value matches none of the shapes the field allows"}}
	}
	reason := e.Reason
	if reason == "" {
		reason = "does not match the schema's " + strconv.Quote(e.SchemaField)
	}
	return []fieldError{{errInvalid, path + ": " + reason}}
}

// combinedError words a failed oneOf, anyOf or allOf: the errors of the
// branch the request most likely meant, or of every allOf member.
func combinedError(e *openapi3.SchemaError, path string) []fieldError {
	if e.SchemaField == "allOf" {
		var members openapi3.MultiError
		if e.Origin != nil && errors.As(e.Origin, &members) {
			if out := schemaFieldErrors(members); len(out) > 0 {
				return out
			}
		}
		return []fieldError{{errInvalid, path + ": " + e.Reason}}
	}
	if strings.Contains(e.Reason, "more than one") {
		return []fieldError{{errInvalid, path + ": the value matches more than one of the shapes the field allows"}}
	}
	var branches openapi3.MultiError
	if e.Origin != nil && errors.As(e.Origin, &branches) {
		if best := deepestBranch(branches); best != nil {
			return schemaFieldErrors(best)
		}
	}
	return []fieldError{{errInvalid, path + ": the value matches none of the shapes the field allows"}}
}

// discriminatorError words a missing or unknown discriminator value.
func discriminatorError(e *openapi3.SchemaError, ptr []string, path string) []fieldError {
	prop := "type"
	if e.Schema != nil && e.Schema.Discriminator != nil {
		prop = e.Schema.Discriminator.PropertyName
	}
	full := fieldPath(append(slices.Clone(ptr), prop))
	if strings.Contains(e.Reason, "does not contain") {
		return []fieldError{{errMissing, fmt.Sprintf("%s: Required field '%s' is missing at path '%s'", full, prop, path)}}
	}
	var accepted []string
	if e.Schema != nil && e.Schema.Discriminator != nil {
		accepted = slices.Sorted(maps.Keys(e.Schema.Discriminator.Mapping))
	}
	return []fieldError{{errInvalid, fmt.Sprintf("%s: Invalid value '%s' at path '%s'. Accepted values are: %s",
		full, showValue(e.Value), full, strings.Join(accepted, ", "))}}
}

// requiredError words a missing required field, in Adobe's words.
func requiredError(e *openapi3.SchemaError, ptr []string, path string) []fieldError {
	parent := fieldPath(ptr[:max(0, len(ptr)-1)])
	name := ""
	if len(ptr) > 0 {
		name = ptr[len(ptr)-1]
	}
	full := path
	if e.Schema != nil {
		if p := propertySchema(e.Schema, name); p != nil {
			full = fieldPath(append(slices.Clone(ptr), requiredChain(p)...))
		}
	}
	if parent == "body" {
		return []fieldError{{errMissing, fmt.Sprintf("%s: Required field '%s' is missing", full, name)}}
	}
	return []fieldError{{errMissing, fmt.Sprintf("%s: Required field '%s' is missing at path '%s'", full, name, parent)}}
}

// itemsText words an array of the wrong size, in Adobe's words.
func itemsText(schema *openapi3.Schema, path string) string {
	lo, hi := uint64(0), uint64(0)
	if schema != nil {
		lo = schema.MinItems
		if schema.MaxItems != nil {
			hi = *schema.MaxItems
		}
	}
	if hi == 0 {
		return fmt.Sprintf("%s: Array size must be at least %d at path '%s'", path, lo, path)
	}
	return fmt.Sprintf("%s: Array size must be between %d and %d at path '%s'", path, lo, hi, path)
}

// deepestBranch picks, among the errors of a oneOf's branches, the branch
// the request most likely meant: one whose constants (a layer's type, a
// discriminator) the value has, and that failed deepest in the value (a
// branch failing on a missing distinguishing key fails at the top).
func deepestBranch(branches openapi3.MultiError) error {
	var best error
	bestScore := math.MinInt
	for _, b := range branches {
		depth, mismatches := errorDepth(b)
		if score := depth - 1000*mismatches; score > bestScore {
			best, bestScore = b, score
		}
	}
	return best
}

// errorDepth is how deep in the value the deepest of err's errors lies,
// looking into the branches of allOf, oneOf and anyOf, and how many of
// them are a constant the value does not have.
func errorDepth(err error) (depth, mismatches int) {
	for _, se := range flattenSchemaErrors(err) {
		d := len(se.JSONPointer())
		switch se.SchemaField {
		case "required":
			d-- // the missing key's name is in the pointer, not in the value
		case "discriminator":
			mismatches++
		case "enum":
			if se.Schema != nil && len(se.Schema.Enum) == 1 {
				mismatches++
				d = 0
			}
		case "allOf", "oneOf", "anyOf":
			var inner openapi3.MultiError
			if se.Origin != nil && errors.As(se.Origin, &inner) {
				id, im := errorDepth(inner)
				d = max(d, id)
				mismatches += im
			}
		}
		depth = max(depth, d)
	}
	return depth, mismatches
}

func rangeText(s *openapi3.Schema) string {
	if s == nil {
		return "It is out of range."
	}
	switch {
	case s.Min != nil && s.Max != nil:
		return fmt.Sprintf("It must be between %s and %s.", num(*s.Min), num(*s.Max))
	case s.Min != nil:
		return fmt.Sprintf("It must be at least %s.", num(*s.Min))
	case s.Max != nil:
		return fmt.Sprintf("It must be at most %s.", num(*s.Max))
	}
	return "It is out of range."
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// showValue renders a JSON value for a message: strings bare, others as JSON.
func showValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func withArticle(kind string) string {
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

func jsonKindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64, json.Number, int, int64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// fieldPath renders a JSON pointer the way Adobe's messages do:
// outputs[0].destination.url. The root is "body".
func fieldPath(ptr []string) string {
	var b strings.Builder
	for _, p := range ptr {
		if _, err := strconv.Atoi(p); err == nil {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	if b.Len() == 0 {
		return "body"
	}
	return b.String()
}

// propertySchema finds property name of s, through allOf.
func propertySchema(s *openapi3.Schema, name string) *openapi3.Schema {
	if p := s.Properties[name]; p != nil && p.Value != nil {
		return p.Value
	}
	for _, a := range s.AllOf {
		if a.Value != nil {
			if p := propertySchema(a.Value, name); p != nil {
				return p
			}
		}
	}
	return nil
}

// requiredChain follows a schema that requires exactly one property (and
// has no alternatives) down to the field a request must set: image →
// source → url.
func requiredChain(s *openapi3.Schema) []string {
	var chain []string
	for range 8 {
		if len(s.OneOf) > 0 || len(s.AnyOf) > 0 {
			return chain
		}
		req := requiredOf(s)
		if len(req) != 1 {
			return chain
		}
		p := propertySchema(s, req[0])
		if p == nil {
			return chain
		}
		chain = append(chain, req[0])
		s = p
	}
	return chain
}

func requiredOf(s *openapi3.Schema) []string {
	req := slices.Clone(s.Required)
	for _, a := range s.AllOf {
		if a.Value != nil {
			req = append(req, requiredOf(a.Value)...)
		}
	}
	slices.Sort(req)
	return slices.Compact(req)
}

// unknownFields reports the keys of v that schema does not define, at
// every depth: through allOf, and through the oneOf/anyOf branch v
// matches (its discriminator's, or the only one that validates). A value
// that matches no branch is skipped, kin-openapi has reported it; an
// object schema that defines no properties at all is free-form.
func unknownFields(s *openapi3.Schema, v any, ptr []string, out *[]fieldError) {
	switch v := v.(type) {
	case map[string]any:
		props, ok := collectProperties(s, v)
		if !ok || len(props) == 0 {
			return
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			p := props[k]
			child := append(slices.Clone(ptr), k)
			if p == nil {
				*out = append(*out, fieldError{errUnknown, fmt.Sprintf("%s: Unknown field '%s' at path '%s'", fieldPath(child), k, fieldPath(ptr))})
				continue
			}
			unknownFields(p, v[k], child, out)
		}
	case []any:
		items := arrayItems(s, v)
		if items == nil {
			return
		}
		for i, e := range v {
			unknownFields(items, e, append(slices.Clone(ptr), strconv.Itoa(i)), out)
		}
	}
}

// collectProperties gathers the property schemas s defines for the object
// v; ok is false when a oneOf/anyOf of s matches no branch.
func collectProperties(s *openapi3.Schema, v map[string]any) (map[string]*openapi3.Schema, bool) {
	props := make(map[string]*openapi3.Schema)
	var add func(s *openapi3.Schema) bool
	add = func(s *openapi3.Schema) bool {
		if s.AdditionalProperties.Has != nil && *s.AdditionalProperties.Has || s.AdditionalProperties.Schema != nil {
			return false // free-form by declaration
		}
		for k, p := range s.Properties {
			if p.Value != nil && props[k] == nil {
				props[k] = p.Value
			}
		}
		for _, a := range s.AllOf {
			if a.Value != nil && !add(a.Value) {
				return false
			}
		}
		for _, alts := range []openapi3.SchemaRefs{s.OneOf, s.AnyOf} {
			if len(alts) == 0 {
				continue
			}
			b := matchingBranch(s, alts, v)
			if b == nil || !add(b) {
				return false
			}
		}
		return true
	}
	if !add(s) {
		return nil, false
	}
	return props, true
}

// matchingBranch returns the branch of alts that v belongs to: its
// discriminator's, else the only one it validates against.
func matchingBranch(s *openapi3.Schema, alts openapi3.SchemaRefs, v any) *openapi3.Schema {
	if d := s.Discriminator; d != nil && len(d.Mapping) > 0 {
		if m, ok := v.(map[string]any); ok {
			if val, ok := m[d.PropertyName].(string); ok {
				if ref, ok := d.Mapping[val]; ok {
					for _, a := range alts {
						if a.Ref == ref.Ref && a.Value != nil {
							return a.Value
						}
					}
				}
			}
		}
		return nil
	}
	var found *openapi3.Schema
	for _, a := range alts {
		if a.Value == nil || a.Value.VisitJSON(v) != nil {
			continue
		}
		if found != nil {
			return nil
		}
		found = a.Value
	}
	return found
}

// arrayItems returns the item schema of an array schema s (through allOf
// and the matching branch of a oneOf), or nil.
func arrayItems(s *openapi3.Schema, v []any) *openapi3.Schema {
	if s.Items != nil && s.Items.Value != nil {
		return s.Items.Value
	}
	for _, a := range s.AllOf {
		if a.Value != nil {
			if it := arrayItems(a.Value, v); it != nil {
				return it
			}
		}
	}
	if len(s.OneOf) > 0 {
		if b := matchingBranch(s, s.OneOf, v); b != nil {
			return arrayItems(b, v)
		}
	}
	return nil
}
