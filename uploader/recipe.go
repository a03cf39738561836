package uploader

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Recipe is what every input goes through: its steps in order, each job's
// input the previous one's result. The last step's Outputs are the input's
// outputs. Read one with [ParseRecipe] or build a one-step recipe with
// [StepFromFlags], then call [Recipe.Normalize].
type Recipe struct {
	Steps []Step `json:"steps"`
}

// ParseRecipe reads a recipe file: JSON, or YAML when name ends in .yaml or
// .yml (both give the same recipe). The format is in the package
// documentation. Unknown keys, a key given twice and values of the wrong
// kind are errors naming the field; ranges, enumerations and files are
// checked by [Recipe.Normalize]. name is used for the format and in errors.
func ParseRecipe(data []byte, name string) (Recipe, error) {
	r, err := parseRecipe(data, name)
	if err != nil {
		return Recipe{}, fmt.Errorf("recipe %s: %w", name, err)
	}
	return r, nil
}

func parseRecipe(data []byte, name string) (Recipe, error) {
	var tree any
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		var y any
		if err := yaml.Unmarshal(data, &y); err != nil {
			return Recipe{}, err
		}
		v, err := fromYAML(y, "")
		if err != nil {
			return Recipe{}, err
		}
		tree = v
	default:
		v, err := parseJSON(data)
		if err != nil {
			return Recipe{}, err
		}
		tree = v
	}
	obj, ok := tree.(map[string]any)
	if !ok {
		return Recipe{}, fmt.Errorf("want an object with steps (and outputs), got %s", describe(tree))
	}
	var file struct {
		Steps   []Step      `json:"steps"`
		Outputs []Rendition `json:"outputs"`
	}
	if err := decodeObject(obj, reflect.ValueOf(&file).Elem(), "", nil); err != nil {
		return Recipe{}, err
	}
	if len(file.Steps) == 0 {
		return Recipe{}, errors.New("steps: a recipe needs at least one step")
	}
	if len(file.Outputs) > 0 {
		n := len(file.Steps) - 1
		if len(file.Steps[n].Outputs) > 0 {
			return Recipe{}, fmt.Errorf("outputs: the last step (steps[%d]) has outputs of its own: give them in one place", n)
		}
		file.Steps[n].Outputs = file.Outputs
	}
	return Recipe{Steps: file.Steps}, nil
}

// fromYAML turns what the YAML decoder made into the values parseJSON
// makes, so that YAML and JSON recipes are decoded alike.
func fromYAML(v any, p path) (any, error) {
	switch v := v.(type) {
	case nil, string, bool:
		return v, nil
	case int:
		return json.Number(strconv.Itoa(v)), nil
	case int64:
		return json.Number(strconv.FormatInt(v, 10)), nil
	case uint64:
		return json.Number(strconv.FormatUint(v, 10)), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, p.errorf("%v is not a number a recipe can use", v)
		}
		return json.Number(strconv.FormatFloat(v, 'g', -1, 64)), nil
	case time.Time:
		return nil, p.errorf("%s reads as a date: quote it", v.Format(time.RFC3339))
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			y, err := fromYAML(x, p.index(i))
			if err != nil {
				return nil, err
			}
			out[i] = y
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			y, err := fromYAML(x, p.field(k))
			if err != nil {
				return nil, err
			}
			out[k] = y
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			ks := fmt.Sprint(k)
			y, err := fromYAML(x, p.field(ks))
			if err != nil {
				return nil, err
			}
			out[ks] = y
		}
		return out, nil
	}
	return nil, p.errorf("a recipe cannot use a %T", v)
}

// decodeRecipe reads a step: {op, outputs?, ...the op's options}.
func (s *Step) decodeRecipe(v any, p path) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return p.errorf("want a step {op: …, options…}, got %s", describe(v))
	}
	opv, ok := obj["op"]
	if !ok {
		return p.errorf("no op (want one of %s)", strings.Join(Ops(), ", "))
	}
	op, ok := opv.(string)
	if !ok {
		return p.field("op").errorf("want an operation's name, got %s", describe(opv))
	}
	*s = Step{Op: op}
	if err := s.checkOp(p); err != nil {
		return err
	}
	if o, ok := obj["outputs"]; ok {
		if err := decodeValue(o, reflect.ValueOf(&s.Outputs).Elem(), p.field("outputs")); err != nil {
			return err
		}
	}
	opts := reflect.ValueOf(s.options(true)).Elem()
	known := append([]string{"op", "outputs"}, jsonKeys(opts.Type())...)
	rest := map[string]any{}
	for k, x := range obj {
		if k == "op" || k == "outputs" {
			continue
		}
		rest[k] = x
	}
	for _, k := range slices.Sorted(maps.Keys(rest)) {
		if !slices.Contains(known, k) {
			return p.errorf("unknown key %q for %s (known: %s)", k, s.Op, strings.Join(known, ", "))
		}
	}
	return decodeObject(rest, opts, p, nil)
}

// MarshalJSON writes s as a recipe holds it: {op, outputs, ...options}.
func (s Step) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	if opts := s.options(false); opts != nil {
		b, err := json.Marshal(opts)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, err
		}
	}
	m["op"] = s.Op
	if len(s.Outputs) > 0 {
		m["outputs"] = s.Outputs
	}
	return json.Marshal(m)
}

// StepFromFlags builds the step of a one-step recipe from -op, -set and
// -output flags. Each set is KEY=VALUE: KEY a dotted path of the recipe's
// step fields (autoTone, light.exposure, actions…), VALUE read as JSON if
// it is JSON (true, 0.5, ["1:1","4:5"]) and as a string otherwise
// (house.atn, ffffff). outputs are rendition specs ([ParseRendition]).
// Remove background's flags map to it too: -set mode=mask
// -set backgroundColor=ffffff -output jpeg. Call [Recipe.Normalize] on
// Recipe{Steps: []Step{step}} next.
func StepFromFlags(op string, sets []string, outputs []string) (Step, error) {
	obj := map[string]any{"op": op}
	for _, kv := range sets {
		k, raw, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return Step{}, fmt.Errorf("-set %q: want KEY=VALUE", kv)
		}
		if k == "op" || k == "outputs" {
			return Step{}, fmt.Errorf("-set %s: give it with -%s", k, strings.TrimSuffix(k, "s"))
		}
		var val any = raw
		if v, err := parseJSON([]byte(raw)); err == nil && strings.TrimSpace(raw) != "" {
			val = v
		}
		parts := strings.Split(k, ".")
		m := obj
		for i, part := range parts {
			if part == "" {
				return Step{}, fmt.Errorf("-set %q: empty key in %q", kv, k)
			}
			if i == len(parts)-1 {
				if _, dup := m[part]; dup {
					return Step{}, fmt.Errorf("-set %s: given twice", k)
				}
				m[part] = val
				break
			}
			next, exists := m[part]
			if !exists {
				sub := map[string]any{}
				m[part] = sub
				m = sub
				continue
			}
			sub, ok := next.(map[string]any)
			if !ok {
				return Step{}, fmt.Errorf("-set %s: %s is already set to a value", k, strings.Join(parts[:i+1], "."))
			}
			m = sub
		}
	}
	var s Step
	if err := s.decodeRecipe(obj, ""); err != nil {
		if op == "" || s.checkOp("") != nil {
			return Step{}, fmt.Errorf("-%w", err)
		}
		return Step{}, fmt.Errorf("-set: %w", err)
	}
	for _, spec := range outputs {
		r, err := ParseRendition(spec)
		if err != nil {
			return Step{}, fmt.Errorf("-%w", err)
		}
		s.Outputs = append(s.Outputs, r)
	}
	return s, nil
}

// auxRef is one local file a step refers to.
type auxRef struct {
	p    path
	file *string
	kind string // action, preset, xmp, mask, content, brush, pattern, font, watermark, icc
}

// auxRefs lists the files s refers to, in the order of its fields.
func (s *Step) auxRefs(p path) []auxRef {
	var refs []auxRef
	add := func(p path, f *string, kind string) { refs = append(refs, auxRef{p, f, kind}) }
	list := func(p path, fs []string, kind string) {
		for i := range fs {
			add(p.index(i), &fs[i], kind)
		}
	}
	switch s.Op {
	case OpEdit:
		if e := s.Edit; e != nil {
			list(p.field("presets"), e.Presets, "preset")
			if x := e.XMP; x != nil {
				add(p.field("xmp").field("file"), &x.File, "xmp")
				for i := range x.Masks {
					add(p.field("xmp").field("masks").index(i).field("file"), &x.Masks[i].File, "mask")
				}
			}
		}
	case OpActions:
		if a := s.Actions; a != nil {
			for i := range a.Actions {
				add(p.field("actions").index(i).field("file"), &a.Actions[i].File, "action")
			}
			list(p.field("additionalContents"), a.AdditionalContents, "content")
			list(p.field("brushes"), a.Brushes, "brush")
			list(p.field("patterns"), a.Patterns, "pattern")
			if f := a.FontOptions; f != nil {
				list(p.field("fontOptions").field("additionalFonts"), f.AdditionalFonts, "font")
			}
		}
	case OpComposite:
		if c := s.Composite; c != nil {
			if c.Watermark != "" {
				add(p.field("watermark"), &c.Watermark, "watermark")
			}
			if c.ICC != nil && c.ICC.File != "" {
				add(p.field("icc").field("file"), &c.ICC.File, "icc")
			}
		}
	}
	return refs
}

// AuxFiles lists every local file the recipe refers to (action files,
// presets, XMP and mask files, additional contents, brushes, patterns,
// fonts, watermarks, ICC profiles), each once, in the order of the
// recipe. After [Recipe.Normalize] the paths are absolute.
func (r Recipe) AuxFiles() []string {
	var files []string
	for i := range r.Steps {
		for _, ref := range r.Steps[i].auxRefs("") {
			if *ref.file != "" && !slices.Contains(files, *ref.file) {
				files = append(files, *ref.file)
			}
		}
	}
	return files
}

// fingerprintVersion is hashed first: change it when what is sent for a
// recipe changes (the request bodies, the product-crop ActionJSON).
const fingerprintVersion = "hotfolder recipe 1\n"

// Fingerprint returns a hex SHA-256 of everything in the recipe that
// changes its results: every step and option, and the content of every
// file it refers to, not the file's path (an action file's extension
// counts, as it says how the file is sent). A changed fingerprint means
// new work. Call it after [Recipe.Normalize].
func (r Recipe) Fingerprint() (string, error) {
	c, err := r.clone()
	if err != nil {
		return "", fmt.Errorf("fingerprint: %w", err)
	}
	for i := range c.Steps {
		for _, ref := range c.Steps[i].auxRefs(path("steps").index(i)) {
			sum, err := FileSHA256(*ref.file)
			if err != nil {
				return "", fmt.Errorf("fingerprint: %s: %w", ref.p, err)
			}
			v := "sha256:" + sum
			if ref.kind == "action" {
				v += strings.ToLower(filepath.Ext(*ref.file))
			}
			*ref.file = v
		}
	}
	data, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("fingerprint: %w", err)
	}
	h := sha256.New()
	io.WriteString(h, fingerprintVersion)
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// clone returns a deep copy of r, through its recipe form.
func (r Recipe) clone() (Recipe, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return Recipe{}, err
	}
	tree, err := parseJSON(data)
	if err != nil {
		return Recipe{}, err
	}
	var c Recipe
	if err := decodeValue(tree, reflect.ValueOf(&c).Elem(), ""); err != nil {
		return Recipe{}, err
	}
	return c, nil
}

// FileSHA256 returns the hex SHA-256 of the file at name: the content
// hash the journal keeps of an input, and a recipe's fingerprint of its
// files.
func FileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
