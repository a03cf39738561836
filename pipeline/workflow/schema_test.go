package workflow

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

const schemaFile = "hotfolder.schema.json"

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaFile, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// validateYAML checks a YAML config against the schema, as an editor would.
func validateYAML(t *testing.T, sch *jsonschema.Schema, text string) error {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(doc)
}

// TestSchemaKeys: the schema names exactly the keys the parser knows, so
// that the two cannot drift apart.
func TestSchemaKeys(t *testing.T) {
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]any `json:"properties"`
		Defs       struct {
			Workflow struct {
				Properties map[string]any `json:"properties"`
			} `json:"workflow"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what   string
		schema map[string]any
		parser []string
	}{{"top level", s.Properties, fileKeys}, {"workflow", s.Defs.Workflow.Properties, entryKeys}} {
		var keys []string
		for k := range c.schema {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := slices.Sorted(slices.Values(c.parser))
		if !slices.Equal(keys, want) {
			t.Errorf("%s: the schema has keys %v, the parser %v", c.what, keys, want)
		}
	}
}

// TestSchemaValidates: the configs the tests and the README use are valid
// by the schema, and the schema refuses what the parser refuses for their
// form: unknown keys, bad enumerations, a priority out of range.
func TestSchemaValidates(t *testing.T) {
	sch := compileSchema(t)
	studioYAML, err := os.ReadFile("testdata/studio.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, good := range []string{goodConfig, string(studioYAML)} {
		if err := validateYAML(t, sch, good); err != nil {
			t.Errorf("a good config is invalid by the schema: %v", err)
		}
	}
	for _, bad := range []string{
		"limts: soft\nworkflows: [{name: a, in: x, out: y, recipe: r.yaml}]\n",
		"api: adobee\nworkflows: [{name: a, in: x, out: y, recipe: r.yaml}]\n",
		"workflows: [{name: a, in: x, out: y, recipe: r.yaml, priority: 10}]\n",
		"workflows: [{name: a, in: x, out: y, recipe: r.yaml, on-failure: delete}]\n",
		"workflows: [{name: a, in: x, out: y}]\n",
		"settle: soon\nworkflows: [{name: a, in: x, out: y, recipe: r.yaml}]\n",
	} {
		if err := validateYAML(t, sch, bad); err == nil {
			t.Errorf("the schema accepts a broken config:\n%s", bad)
		}
	}
}

// TestReadmeExample: the README's worked config is testdata/studio.yaml,
// which the tests parse and validate against the schema.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("testdata/studio.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, append([]byte("```yaml\n"), example...)) {
		t.Error("the README's worked config is not testdata/studio.yaml: make them the same")
	}
}
