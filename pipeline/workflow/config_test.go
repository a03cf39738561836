package workflow

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"hotfolder/pipeline"
)

// studio makes the folders and files the test configs refer to, relative
// to the returned folder, where the config file lives.
func studio(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"hot/cutout", "hot/web", "hot/retouch", "hot/rush"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"web.yaml":    "steps:\n  - op: edit\n    autoTone: true\noutputs:\n  - jpeg\n",
		"house.atn":   "not really an action file, but the name is what is checked",
		"broken.yaml": "steps:\n  - op: edit\n    exposur: 1\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func parseIn(t *testing.T, dir, text string) (*Config, error) {
	t.Helper()
	path := filepath.Join(dir, "hotfolder.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(path)
}

const goodConfig = `# a small studio
limits: soft
limit: [post=20/1s]
state: state
workflows:
  - name: cutout-white
    in: hot/cutout
    out: done/cutout
    priority: 5
    on-success: move
    recipe:
      steps:
        - op: remove-background
          mode: cutout
          backgroundColor: {red: 255, green: 255, blue: 255, alpha: 1}
      outputs: [jpeg]
  - name: web-2048
    in: hot/web
    out: done/web
    recipe: web.yaml
  - name: rush
    in: hot/rush
    out: done/rush
    priority: 1
    recipe:
      steps:
        - op: remove-background
`

func TestParseGood(t *testing.T) {
	dir := studio(t)
	c, err := parseIn(t, dir, goodConfig)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Workflows) != 3 {
		t.Fatalf("got %d workflows, want 3", len(c.Workflows))
	}
	cut, web, rush := c.Workflows[0], c.Workflows[1], c.Workflows[2]
	if cut.In != filepath.Join(dir, "hot/cutout") || cut.Out != filepath.Join(dir, "done/cutout") {
		t.Errorf("cutout folders = %s, %s: want them relative to the config file", cut.In, cut.Out)
	}
	if cut.State != pipeline.StateDir(cut.Out) || c.State != filepath.Join(dir, "state") {
		t.Errorf("states: workflow %s, global %s", cut.State, c.State)
	}
	if cut.Line != 6 || web.Line != 17 || rush.Line != 21 {
		t.Errorf("lines = %d, %d, %d; want 6, 17, 21", cut.Line, web.Line, rush.Line)
	}
	if cut.OnSuccess != pipeline.Move || web.OnSuccess != pipeline.Keep || web.OnFailure != pipeline.Keep {
		t.Errorf("actions: %q %q %q", cut.OnSuccess, web.OnSuccess, web.OnFailure)
	}
	if cut.Priority != 5 || web.Priority != DefaultPriority || rush.Priority != 1 {
		t.Errorf("priorities %d %d %d", cut.Priority, web.Priority, rush.Priority)
	}
	if web.RecipeSource != filepath.Join(dir, "web.yaml") || web.Recipe.Steps[0].Op != "edit" ||
		web.Recipe.Steps[0].Outputs[0].Format != "jpeg" {
		t.Errorf("web recipe from %s: %+v", web.RecipeSource, web.Recipe)
	}
	if cut.Recipe.Steps[0].Outputs[0].Format != "jpeg" || cut.Fingerprint == rush.Fingerprint || cut.Fingerprint == "" {
		t.Errorf("inline recipes: %+v, fingerprints %q %q", cut.Recipe, cut.Fingerprint, rush.Fingerprint)
	}
	if c.API != "auto" || c.LimitMargin != 0.02 || c.Settle.String() != "2s" {
		t.Errorf("defaults not filled in: %+v", c.File)
	}
}

// TestParseBroken: every mistake of a config is reported, each on its
// line, in one error.
func TestParseBroken(t *testing.T) {
	dir := studio(t)
	wf := func(name, in, out string, extra ...string) string {
		s := "  - name: " + name + "\n    in: " + in + "\n    out: " + out + "\n"
		for _, e := range extra {
			s += "    " + e + "\n"
		}
		return s
	}
	const recipe = "recipe: {steps: [{op: remove-background}]}"
	for _, tc := range []struct {
		name string
		text string
		want []string // "LINE: substring", in order
	}{
		{"unknown global key", "limts: soft\nworkflows:\n" + wf("a", "hot/web", "out", recipe),
			[]string{`1: unknown key "limts"`}},
		{"unknown workflow key", "workflows:\n" + wf("a", "hot/web", "out", recipe, "prio: 1"),
			[]string{`6: unknown key "workflows[0].prio"`}},
		{"bad enums", "api: adobee\nlimits: medium\nworkflows:\n" + wf("a", "hot/web", "out", recipe, "on-success: archive", "on-failure: delete"),
			[]string{`1: api "adobee"`, `2: `, `8: on-success "archive": want keep, move or delete`, `9: on-failure "delete": want keep or move`}},
		{"wrong kinds", "max-posts: many\nsettle: soon\nworkflows:\n" + wf("a", "hot/web", "out", recipe, "priority: high"),
			[]string{"1: cannot unmarshal", `2: "soon" is not a duration`, "8: cannot unmarshal"}},
		{"priority out of range", "workflows:\n" + wf("a", "hot/web", "out", recipe, "priority: 10"),
			[]string{"6: priority 10: want 1 (most urgent) to 9"}},
		{"priority 0", "workflows:\n" + wf("a", "hot/web", "out", recipe, "priority: 0"),
			[]string{"6: priority 0: want 1 (most urgent) to 9"}},
		{"overlapping inputs", "workflows:\n" + wf("a", "hot", "out/a", recipe) + wf("b", "hot/web", "out/b", recipe),
			[]string{`7: hot/web overlaps the hot folder of workflow "a" (line 3)`}},
		{"same input twice", "workflows:\n" + wf("a", "hot/web", "out/a", recipe) + wf("b", "hot/web/", "out/b", recipe),
			[]string{`7: hot/web overlaps`}},
		{"output inside another's input", "workflows:\n" + wf("a", "hot/web", "hot/cutout/results", recipe) + wf("b", "hot/cutout", "out/b", recipe),
			[]string{`4: hot/cutout/results is inside the hot folder of workflow "b" (line 7)`}},
		{"one output for two", "workflows:\n" + wf("a", "hot/web", "out", recipe) + wf("b", "hot/cutout", "out", recipe),
			[]string{`8: out is also the output folder of workflow "a" (line 4)`}},
		{"processed into another's input", "workflows:\n" + wf("a", "hot/web", "out/a", recipe, "on-success: move", "processed: hot/cutout/done") + wf("b", "hot/cutout", "out/b", recipe),
			[]string{`7: processed folder`}},
		{"missing input folder", "workflows:\n" + wf("a", "hot/nope", "out", recipe),
			[]string{"3: in hot/nope is not a folder"}},
		{"duplicate and bad names", "workflows:\n" + wf("a", "hot/web", "out/a", recipe) + wf("a", "hot/cutout", "out/b", recipe) + wf("no spaces", "hot/rush", "out/c", recipe),
			[]string{`6: workflow name "a" is taken by the workflow on line 2`, `10: workflow name "no spaces"`}},
		{"missing recipe", "workflows:\n" + wf("a", "hot/web", "out"),
			[]string{"2: recipe: the workflow's recipe is required"}},
		{"missing action file", "workflows:\n" + wf("a", "hot/web", "out", "recipe:", "  steps:", "    - op: actions", "      actions: [missing.atn]"),
			[]string{"8: recipe: steps[0].actions[0]"}},
		{"missing recipe file", "workflows:\n" + wf("a", "hot/web", "out", "recipe: nope.yaml"),
			[]string{"5: recipe: open"}},
		{"broken recipe file", "workflows:\n" + wf("a", "hot/web", "out", "recipe: broken.yaml"),
			[]string{`5: recipe broken.yaml: steps[0]: unknown key "exposur"`}},
		{"bad inline option", "workflows:\n" + wf("a", "hot/web", "out", "recipe:", "  steps:", "    - op: edit", "      light: {exposure: 9}"),
			[]string{"8: recipe: steps[0].light.exposure"}},
		{"quota group without redis", "quota-group: studio\nworkflows:\n" + wf("a", "hot/web", "out", recipe),
			[]string{"1: quota-group names the quota shared through Redis"}},
		{"no workflows", "limits: soft\nworkflows: []\n", []string{"2: workflows: declare at least one"}},
		{"not YAML", "workflows:\n  - name: a\n   in: x\n", []string{"1: did not find expected"}},
		{"many at once", "redis: localhost\nquota-group: g\nworkflows:\n" + wf("a", "hot/web", "out/a", recipe, "workers: -1") + wf("b", "hot/nope", "out/b", recipe, "colour: red"),
			[]string{"1: redis: want redis://", "8: workers must be 1 or more", "10: in hot/nope", `13: unknown key "workflows[1].colour"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseIn(t, dir, tc.text)
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want *Errors", err)
			}
			if len(errs.List) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs.List), len(tc.want), err)
			}
			for i, want := range tc.want {
				line, sub, _ := strings.Cut(want, ": ")
				got := errs.List[i]
				if gotLine := strconv.Itoa(got.Line); gotLine != line || !strings.Contains(got.Msg, sub) {
					t.Errorf("error %d = line %d: %s\nwant line %s: …%s…", i, got.Line, got.Msg, line, sub)
				}
			}
			if first := strings.SplitN(err.Error(), "\n", 2)[0]; !strings.HasPrefix(first, filepath.Join(dir, "hotfolder.yaml")+":") {
				t.Errorf("Error() lines start %q: want FILE:LINE:", first)
			}
		})
	}
}

// TestStudioExample: the README's worked config parses, once its folders
// exist (here under a temporary folder).
func TestStudioExample(t *testing.T) {
	data, err := os.ReadFile("testdata/studio.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	text := strings.ReplaceAll(string(data), "/srv/", dir+"/srv/")
	text = strings.ReplaceAll(text, "/etc/hotfolder/", dir+"/etc/")
	text = strings.ReplaceAll(text, "/var/lib/hotfolder", dir+"/state")
	for _, d := range []string{"srv/hot/rush", "srv/hot/cutout-white", "srv/hot/web-2048", "srv/hot/retouch", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"etc/retouch.yaml": "steps:\n  - op: actions\n    actions: [house.atn]\noutputs: [tiff]\n",
		"etc/house.atn":    "an action set",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := parseIn(t, filepath.Join(dir, "etc"), text)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, w := range c.Workflows {
		names = append(names, fmt.Sprintf("%s/%d", w.Name, w.Priority))
	}
	if got := strings.Join(names, " "); got != "rush/1 cutout-white/5 web-2048/5 retouch/7" {
		t.Errorf("workflows %s", got)
	}
	if a := c.Workflows[3].Recipe.Steps[0].Actions.Actions[0].File; a != filepath.Join(dir, "etc", "house.atn") {
		t.Errorf("retouch's action file %s: want it beside its recipe", a)
	}
}

// TestMoveFolders: each workflow moves its inputs into a folder of its
// own by default; two that share one by choice are refused.
func TestMoveFolders(t *testing.T) {
	dir := studio(t)
	const recipe = "    recipe: {steps: [{op: remove-background}]}\n"
	c, err := parseIn(t, dir, "workflows:\n  - name: a\n    in: hot/web\n    out: out/a\n    on-success: move\n"+recipe+
		"  - name: b\n    in: hot/cutout\n    out: out/b\n    on-success: move\n"+recipe)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := c.Workflows[0], c.Workflows[1]; a.Processed != filepath.Join(dir, "hot/processed/a") || b.Processed != filepath.Join(dir, "hot/processed/b") ||
		a.Failed != filepath.Join(dir, "hot/failed/a") {
		t.Errorf("move folders %s, %s, %s", a.Processed, b.Processed, a.Failed)
	}
	_, err = parseIn(t, dir, "workflows:\n  - name: a\n    in: hot/web\n    out: out/a\n    on-success: move\n    processed: done\n"+recipe+
		"  - name: b\n    in: hot/cutout\n    out: out/b\n    on-success: move\n    processed: done\n"+recipe)
	if err == nil || !strings.Contains(err.Error(), `:12: processed folder `+filepath.Join(dir, "done")+` is also workflow "a"'s`) {
		t.Errorf("two workflows moving into one folder: %v", err)
	}
}

func TestNameFor(t *testing.T) {
	for in, want := range map[string]string{
		"/srv/hot/cutout-white": "cutout-white", "/srv/Hot Folder": "Hot-Folder", "/srv/.hidden": "hidden",
		"/srv/café": "caf-", "/": "hotfolder", "/srv/" + strings.Repeat("a", 70): strings.Repeat("a", 64),
	} {
		if got := NameFor(in); got != want || !namePattern.MatchString(got) {
			t.Errorf("NameFor(%q) = %q, want %q (a valid name)", in, got, want)
		}
	}
}
