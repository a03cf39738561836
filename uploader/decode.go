package uploader

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Recipes are read in two steps: the text (JSON, or YAML turned into the
// same values) becomes a tree of map[string]any, []any, string,
// json.Number, bool and nil; decodeValue then fills the recipe's structs
// from it strictly, every error naming the field it is about, e.g.
// "steps[1].light: unknown key "expsure"".

// path names a field of a recipe in errors: "steps[1].light.exposure".
type path string

func (p path) field(k string) path {
	if p == "" {
		return path(k)
	}
	return p + "." + path(k)
}

func (p path) index(i int) path { return path(fmt.Sprintf("%s[%d]", p, i)) }

// errorf returns an error about the field p: "p: message".
func (p path) errorf(format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	if p == "" {
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %s", p, msg)
}

// recipeDecoder is a type that reads itself from a recipe value, for the
// short forms a recipe allows (a string for an object, a number for a
// length).
type recipeDecoder interface {
	decodeRecipe(v any, p path) error
}

// parseJSON reads JSON text into the tree decodeValue takes. A key given
// twice in one object is an error (encoding/json would keep the last).
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseJSONValue(dec, "")
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			err = errors.New("more data after the top-level value")
		}
	}
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := lineCol(data, se.Offset)
			return nil, fmt.Errorf("line %d, column %d: %v", line, col, se)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errors.New("the JSON ends too soon")
		}
		return nil, err
	}
	return v, nil
}

func parseJSONValue(dec *json.Decoder, p path) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	switch d {
	case '{':
		m := map[string]any{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			if _, dup := m[k]; dup {
				return nil, p.field(k).errorf("given twice")
			}
			v, err := parseJSONValue(dec, p.field(k))
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		_, err := dec.Token() // '}'
		return m, err
	case '[':
		a := []any{}
		for i := 0; dec.More(); i++ {
			v, err := parseJSONValue(dec, p.index(i))
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token() // ']'
		return a, err
	}
	return nil, fmt.Errorf("unexpected %v", d)
}

// lineCol turns a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, max(col, 1)
}

// describe names a recipe value's kind and value for errors.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing (null)"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return strconv.Quote(v)
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return v.String()
	}
	return fmt.Sprint(v)
}

// decodeValue fills rv from the recipe value v. Structs take objects whose
// keys are their fields' json names, every other key being an error; a
// list field also takes a single value, as a list of one (so -set
// focus=person works); null leaves the field at its zero value.
func decodeValue(v any, rv reflect.Value, p path) error {
	if rv.CanAddr() {
		if d, ok := rv.Addr().Interface().(recipeDecoder); ok {
			if v == nil {
				rv.SetZero()
				return nil
			}
			return d.decodeRecipe(v, p)
		}
	}
	if v == nil {
		rv.SetZero()
		return nil
	}
	switch rv.Kind() {
	case reflect.Pointer:
		n := reflect.New(rv.Type().Elem())
		if err := decodeValue(v, n.Elem(), p); err != nil {
			return err
		}
		rv.Set(n)
		return nil
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return p.errorf("want an object (keys %s), got %s", strings.Join(jsonKeys(rv.Type()), ", "), describe(v))
		}
		return decodeObject(obj, rv, p, nil)
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			e := reflect.New(rv.Type().Elem()).Elem()
			if err := decodeValue(v, e, p); err != nil {
				return err
			}
			rv.Set(reflect.Append(reflect.MakeSlice(rv.Type(), 0, 1), e))
			return nil
		}
		s := reflect.MakeSlice(rv.Type(), len(list), len(list))
		for i, item := range list {
			if err := decodeValue(item, s.Index(i), p.index(i)); err != nil {
				return err
			}
		}
		rv.Set(s)
		return nil
	case reflect.String:
		switch v := v.(type) {
		case string:
			rv.SetString(v)
			return nil
		case json.Number: // an action or a label named by a number
			rv.SetString(v.String())
			return nil
		}
		return p.errorf("want a string, got %s", describe(v))
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return p.errorf("want true or false, got %s", describe(v))
		}
		rv.SetBool(b)
		return nil
	case reflect.Int:
		n, ok := v.(json.Number)
		if !ok {
			return p.errorf("want a whole number, got %s", describe(v))
		}
		f, err := n.Float64()
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<31 {
			return p.errorf("want a whole number, got %s", n)
		}
		rv.SetInt(int64(f))
		return nil
	case reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			return p.errorf("want a number, got %s", describe(v))
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) {
			return p.errorf("want a number, got %s", n)
		}
		rv.SetFloat(f)
		return nil
	}
	return p.errorf("cannot read a %s", rv.Type())
}

// decodeObject fills the struct rv from obj. aliases maps other accepted
// key names to a field's json name.
func decodeObject(obj map[string]any, rv reflect.Value, p path, aliases map[string]string) error {
	fields := map[string]int{}
	t := rv.Type()
	for i := range t.NumField() {
		if name := jsonName(t.Field(i)); name != "" {
			fields[name] = i
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic: the first error is always the same
	for _, k := range keys {
		name := k
		if a, ok := aliases[k]; ok {
			name = a
		}
		i, ok := fields[name]
		if !ok {
			return p.errorf("unknown key %q (known: %s)", k, strings.Join(jsonKeys(t), ", "))
		}
		if err := decodeValue(obj[k], rv.Field(i), p.field(k)); err != nil {
			return err
		}
	}
	return nil
}

// jsonName is the recipe key of a struct field: its json name, or "" when
// it has none.
func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" || name == "" {
		return ""
	}
	return name
}

// jsonKeys lists a struct's recipe keys, for errors.
func jsonKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if name := jsonName(t.Field(i)); name != "" {
			keys = append(keys, name)
		}
	}
	return keys
}
