package workflow

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"hotfolder/pipeline"
	"hotfolder/ratelimit"
	"hotfolder/uploader"
	"hotfolder/watcher"
)

// The keys a config file may have, from the yaml tags of File and Entry,
// so that the parser and its documentation (the JSON Schema, checked
// against these by a test) cannot drift apart.
var (
	fileKeys  = Keys(reflect.TypeFor[File]())
	entryKeys = Keys(reflect.TypeFor[Entry]())
)

// Keys are the yaml keys of struct type t, in declaration order.
func Keys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

// Defaults are the flags' defaults, which a config file's zero values
// stand for.
func Defaults() File {
	return File{
		API: "auto", IMSURL: "https://ims-na1.adobelogin.com/ims/token/v3",
		ImageAPIURL: "https://image.adobe.io", PhotoshopAPIURL: "https://photoshop-api.adobe.io",
		Limits: "soft", LimitMargin: 0.02,
		JobTimeout: Duration(10 * time.Minute), Settle: Duration(2 * time.Second),
	}
}

func (f File) withDefaults() File {
	d := Defaults()
	for _, p := range []struct{ v, def *string }{
		{&f.API, &d.API}, {&f.IMSURL, &d.IMSURL}, {&f.ImageAPIURL, &d.ImageAPIURL},
		{&f.PhotoshopAPIURL, &d.PhotoshopAPIURL}, {&f.Limits, &d.Limits},
	} {
		if *p.v == "" {
			*p.v = *p.def
		}
	}
	if f.LimitMargin == 0 {
		f.LimitMargin = d.LimitMargin
	}
	if f.JobTimeout == 0 {
		f.JobTimeout = d.JobTimeout
	}
	if f.Settle == 0 {
		f.Settle = d.Settle
	}
	return f
}

// checkKeys reports the keys of mapping n that are not in known, and
// records the line of every key, by its path ("workflows[1].in"), in lines.
func checkKeys(n *yaml.Node, prefix string, known []string, lines map[string]int, errs *Errors) {
	if n.Kind != yaml.MappingNode {
		errs.add(n.Line, "%s: want a mapping of keys (%s)", strings.TrimSuffix(prefix, "."), strings.Join(known, ", "))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(known, k.Value) {
			errs.add(k.Line, "unknown key %q (known: %s)", prefix+k.Value, strings.Join(known, ", "))
			continue
		}
		lines[prefix+k.Value] = k.Line
		if prefix == "" && k.Value == "workflows" {
			if v.Kind != yaml.SequenceNode {
				errs.add(v.Line, "workflows: want a list of workflows")
				continue
			}
			for j, w := range v.Content {
				p := fmt.Sprintf("workflows[%d]", j)
				lines[p] = w.Line
				checkKeys(w, p+".", entryKeys, lines, errs)
			}
		}
	}
}

// checkGlobal checks the settings shared by every workflow.
func (c *Config) checkGlobal(lines map[string]int, base string, errs *Errors) {
	f := &c.File
	switch f.API {
	case "auto", "adobe", "emulator":
	default:
		errs.add(lines["api"], "api %q: want auto, adobe or emulator", f.API)
	}
	if _, err := ratelimit.ProfileWith(f.Limits, f.Limit); err != nil {
		line := lines["limits"]
		if len(f.Limit) > 0 && strings.Contains(err.Error(), "limit") && !strings.Contains(err.Error(), "profile") {
			line = lines["limit"]
		}
		errs.add(line, "%v", err)
	}
	if f.LimitMargin <= 0 || f.LimitMargin > 1 {
		errs.add(lines["limit-margin"], "limit-margin %v: want a fraction of the window, more than 0 and at most 1 (e.g. 0.02)", f.LimitMargin)
	}
	if f.MaxPosts < 0 {
		errs.add(lines["max-posts"], "max-posts cannot be negative")
	}
	if f.DailyPosts < 0 {
		errs.add(lines["daily-posts"], "daily-posts cannot be negative")
	}
	if f.Redis != "" && !hasPrefix(f.Redis, "redis://", "rediss://", "unix://") {
		errs.add(lines["redis"], "redis: want redis://HOST:PORT[/DB], rediss://HOST:PORT (TLS) or unix:///PATH")
	}
	if f.QuotaGroup != "" && f.Redis == "" {
		errs.add(lines["quota-group"], "quota-group names the quota shared through Redis: give redis too")
	}
	if f.Storage != "" && !hasPrefix(f.Storage, "s3://", "http://", "https://") {
		errs.add(lines["storage"], "storage %q: want s3://BUCKET[/PREFIX]", f.Storage)
	}
	if f.State == "" {
		f.State = ".hotfolder"
	}
	f.State = abs(base, f.State)
}

func hasPrefix(s string, prefixes ...string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(s, p) })
}

// abs is p made absolute against base, the config file's folder.
func abs(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(base, p)
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// checkWorkflows checks each workflow, then how their folders sit
// together.
func checkWorkflows(entries []Entry, lines map[string]int, base string, errs *Errors) []Workflow {
	if len(entries) == 0 {
		errs.add(lines["workflows"], "workflows: declare at least one workflow")
	}
	var ws []Workflow
	seen := map[string]int{}
	for i, e := range entries {
		at := func(key string) int {
			if l := lines[fmt.Sprintf("workflows[%d].%s", i, key)]; l > 0 {
				return l
			}
			return lines[fmt.Sprintf("workflows[%d]", i)]
		}
		w := checkEntry(e, at, base, errs)
		w.Line = lines[fmt.Sprintf("workflows[%d]", i)]
		if first, dup := seen[w.Name]; dup && w.Name != "" {
			errs.add(at("name"), "workflow name %q is taken by the workflow on line %d", w.Name, first)
		} else {
			seen[w.Name] = at("name")
		}
		ws = append(ws, w)
	}
	checkOverlaps(ws, func(i int, key string) int {
		if l := lines[fmt.Sprintf("workflows[%d].%s", i, key)]; l > 0 {
			return l
		}
		return lines[fmt.Sprintf("workflows[%d]", i)]
	}, errs)
	return ws
}

// checkEntry checks one workflow on its own; at gives a key's line.
func checkEntry(e Entry, at func(string) int, base string, errs *Errors) Workflow {
	w := Workflow{Name: e.Name, Priority: DefaultPriority, Workers: e.Workers, RetryFailed: e.RetryFailed}
	if !namePattern.MatchString(e.Name) {
		errs.add(at("name"), "workflow name %q: want 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit", e.Name)
	}
	if e.Priority != nil {
		w.Priority = *e.Priority
	}
	if (w.Priority < MinPriority || w.Priority > MaxPriority) && !errs.on(at("priority")) {
		errs.add(at("priority"), "priority %d: want %d (most urgent) to %d", w.Priority, MinPriority, MaxPriority)
	}
	if e.Workers < 0 {
		errs.add(at("workers"), "workers must be 1 or more (or left out)")
	}
	var err error
	if w.OnSuccess, err = pipeline.ParseAction(orKeep(e.OnSuccess), true); err != nil {
		errs.add(at("on-success"), "on-success %v", err)
	}
	if w.OnFailure, err = pipeline.ParseAction(orKeep(e.OnFailure), false); err != nil {
		errs.add(at("on-failure"), "on-failure %v", err)
	}
	checkFolders(&w, e, at, base, errs)
	checkRecipe(&w, &e.Recipe, at("recipe"), base, errs)
	return w
}

func orKeep(s string) string {
	if s == "" {
		return string(pipeline.Keep)
	}
	return s
}

// checkFolders makes w's folders absolute and checks in and out.
func checkFolders(w *Workflow, e Entry, at func(string) int, base string, errs *Errors) {
	w.In, w.Out = abs(base, e.In), abs(base, e.Out)
	switch st, err := os.Stat(w.In); {
	case e.In == "":
		errs.add(at("in"), "in: the workflow's hot folder is required")
	case err != nil || !st.IsDir():
		errs.add(at("in"), "in %s is not a folder hotfolder can read", e.In)
	}
	switch rin, rout := watcher.ResolvePath(w.In), watcher.ResolvePath(w.Out); {
	case e.Out == "":
		errs.add(at("out"), "out: the workflow's output folder is required")
	case e.In == "":
	case rin == rout:
		errs.add(at("out"), "out %s is the hot folder (in) itself: every result would be taken for a new input and paid for again", e.Out)
	case within(rin, rout):
		errs.add(at("in"), "in %s is inside out %s: results could land in the hot folder and be taken for new inputs", e.In, e.Out)
	}
	w.State = pipeline.StateDir(w.Out)
	if e.State != "" {
		w.State = abs(base, e.State)
	}
	// Beside the hot folder, as with -in, but one folder per workflow:
	// sibling hot folders would otherwise move their inputs into one.
	w.Processed = filepath.Join(filepath.Dir(w.In), "processed", e.Name)
	w.Failed = filepath.Join(filepath.Dir(w.In), "failed", e.Name)
	if e.Processed != "" {
		w.Processed = abs(base, e.Processed)
	}
	if e.Failed != "" {
		w.Failed = abs(base, e.Failed)
	}
}

// checkOverlaps refuses folders that two workflows would fight over: one
// hot folder inside another (a file would be taken twice, paid twice), an
// output, state or move folder inside another workflow's hot folder
// (results taken for inputs), and one output or state folder for two.
func checkOverlaps(ws []Workflow, at func(int, string) int, errs *Errors) {
	for i, a := range ws {
		for j, b := range ws {
			if i == j || a.In == "" || b.In == "" || a.Out == "" || b.Out == "" {
				continue
			}
			ain, bin := watcher.ResolvePath(a.In), watcher.ResolvePath(b.In)
			if i < j && (ain == bin || within(ain, bin) || within(bin, ain)) {
				errs.add(at(j, "in"), "in %s overlaps the hot folder of workflow %q (line %d): a file would be taken by both", b.In, a.Name, at(i, "in"))
			}
			if within(watcher.ResolvePath(a.Out), bin) || watcher.ResolvePath(a.Out) == bin {
				errs.add(at(i, "out"), "out %s is inside the hot folder of workflow %q (line %d): its results would be taken for new inputs", a.Out, b.Name, at(j, "in"))
			}
			if i < j && watcher.ResolvePath(a.Out) == watcher.ResolvePath(b.Out) {
				errs.add(at(j, "out"), "out %s is also the output folder of workflow %q (line %d): give each workflow its own", b.Out, a.Name, at(i, "out"))
			}
			if i < j && a.OnSuccess == pipeline.Move && b.OnSuccess == pipeline.Move && watcher.ResolvePath(a.Processed) == watcher.ResolvePath(b.Processed) {
				errs.add(at(j, "processed"), "processed folder %s is also workflow %q's: give each workflow its own", b.Processed, a.Name)
			}
			if i < j && a.OnFailure == pipeline.Move && b.OnFailure == pipeline.Move && watcher.ResolvePath(a.Failed) == watcher.ResolvePath(b.Failed) {
				errs.add(at(j, "failed"), "failed folder %s is also workflow %q's: give each workflow its own", b.Failed, a.Name)
			}
			if i < j && a.State == b.State && watcher.ResolvePath(a.Out) != watcher.ResolvePath(b.Out) {
				errs.add(at(j, "state"), "state %s is also the state folder of workflow %q: give each workflow its own", b.State, a.Name)
			}
			for _, m := range []struct {
				key, dir string
				used     bool
			}{{"processed", a.Processed, a.OnSuccess == pipeline.Move}, {"failed", a.Failed, a.OnFailure == pipeline.Move}, {"state", a.State, !within(a.State, a.Out)}} {
				if m.used && within(watcher.ResolvePath(m.dir), bin) {
					errs.add(at(i, m.key), "%s folder %s is inside the hot folder of workflow %q (line %d): what lands there would be taken for new inputs", m.key, m.dir, b.Name, at(j, "in"))
				}
			}
		}
	}
}

// within reports whether p lies strictly inside dir.
func within(p, dir string) bool {
	return strings.HasPrefix(p, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

// checkRecipe reads the workflow's recipe, from its file or inline, and
// checks it as -recipe does (files included): the errors are the same,
// with a line. An inline recipe's error points at the field it names.
func checkRecipe(w *Workflow, n *yaml.Node, line int, base string, errs *Errors) {
	var (
		r   uploader.Recipe
		err error
		dir = base
	)
	switch n.Kind {
	case 0:
		errs.add(line, "recipe: the workflow's recipe is required: a recipe file, or the recipe's steps")
		return
	case yaml.ScalarNode:
		w.RecipeSource = abs(base, n.Value)
		data, rerr := os.ReadFile(w.RecipeSource)
		if rerr != nil {
			errs.add(n.Line, "recipe: %v", rerr)
			return
		}
		if r, err = uploader.ParseRecipe(data, w.RecipeSource); err == nil {
			dir = filepath.Dir(w.RecipeSource)
			err = r.Normalize(dir)
		}
		if err != nil {
			errs.add(n.Line, "recipe %s: %s", n.Value, strings.TrimPrefix(err.Error(), "recipe "+w.RecipeSource+": "))
			return
		}
	case yaml.MappingNode:
		data, merr := yaml.Marshal(n)
		if merr != nil {
			errs.add(n.Line, "recipe: %v", merr)
			return
		}
		if r, err = uploader.ParseRecipe(data, "inline.yaml"); err == nil {
			err = r.Normalize(dir)
		}
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), "recipe inline.yaml: ")
			errs.add(fieldLine(n, msg), "recipe: %s", msg)
			return
		}
	default:
		errs.add(n.Line, "recipe: want a recipe file's path, or a mapping with the recipe's steps")
		return
	}
	w.Recipe = r
	if w.Fingerprint, err = r.Fingerprint(); err != nil {
		errs.add(n.Line, "recipe: %v", err)
	}
}

// fieldLine is the line of the field an uploader error names first
// ("steps[1].light.exposure: …"), as deep as the recipe n has it.
func fieldLine(n *yaml.Node, msg string) int {
	field, _, ok := strings.Cut(msg, ": ")
	if !ok || strings.ContainsAny(field, " \"") {
		return n.Line
	}
	cur := n
	for _, part := range strings.Split(field, ".") {
		name, idx, _ := strings.Cut(part, "[")
		next := child(cur, name)
		for next != nil && idx != "" {
			var i string
			i, idx, _ = strings.Cut(idx, "]")
			idx = strings.TrimPrefix(idx, "[")
			k, err := strconv.Atoi(i)
			if err != nil || next.Kind != yaml.SequenceNode || k >= len(next.Content) {
				break
			}
			next = next.Content[k]
		}
		if next == nil {
			break
		}
		cur = next
	}
	return cur.Line
}

// child is the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
