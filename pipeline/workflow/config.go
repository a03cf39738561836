// Package workflow runs many hot folders, each with its own recipe, in one
// process from one config file (hotfolder -config FILE): it reads and
// checks the file as a whole, reporting every mistake with its line, and a
// [Runner] starts, stops and reloads one pipeline per workflow, all of them
// sharing one quota.
package workflow

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"hotfolder/pipeline"
	"hotfolder/uploader"
)

// Priorities run from 1 (most urgent) to 9; a workflow without one gets
// DefaultPriority.
const (
	MinPriority     = 1
	MaxPriority     = 9
	DefaultPriority = 5
)

// File is a config file as written: its keys are the command line's flag
// names. Zero values mean the flags' defaults (see [Defaults]).
type File struct {
	API             string   `yaml:"api,omitempty"`
	IMSURL          string   `yaml:"ims-url,omitempty"`
	ImageAPIURL     string   `yaml:"image-api-url,omitempty"`
	PhotoshopAPIURL string   `yaml:"photoshop-api-url,omitempty"`
	Storage         string   `yaml:"storage,omitempty"`
	S3Endpoint      string   `yaml:"s3-endpoint,omitempty"`
	S3PathStyle     bool     `yaml:"s3-path-style,omitempty"`
	Limits          string   `yaml:"limits,omitempty"`
	Limit           []string `yaml:"limit,omitempty"`
	LimitMargin     float64  `yaml:"limit-margin,omitempty"`
	MaxPosts        int64    `yaml:"max-posts,omitempty"`
	DailyPosts      int64    `yaml:"daily-posts,omitempty"`
	Redis           string   `yaml:"redis,omitempty"`
	QuotaGroup      string   `yaml:"quota-group,omitempty"`
	MetricsAddr     string   `yaml:"metrics-addr,omitempty"`
	State           string   `yaml:"state,omitempty"`
	JobTimeout      Duration `yaml:"job-timeout,omitempty"`
	Settle          Duration `yaml:"settle,omitempty"`
	Poll            Duration `yaml:"poll,omitempty"`
	KeepUploads     bool     `yaml:"keep-uploads,omitempty"`
	Dedupe          *bool    `yaml:"dedupe,omitempty"` // nil: on, as -dedupe
	Workflows       []Entry  `yaml:"workflows"`
}

// Entry is one workflow as written.
type Entry struct {
	Name        string `yaml:"name"`
	In          string `yaml:"in"`
	Out         string `yaml:"out"`
	State       string `yaml:"state,omitempty"`
	Priority    *int   `yaml:"priority,omitempty"` // nil: DefaultPriority
	Workers     int    `yaml:"workers,omitempty"`
	RetryFailed bool   `yaml:"retry-failed,omitempty"`
	OnSuccess   string `yaml:"on-success,omitempty"`
	OnFailure   string `yaml:"on-failure,omitempty"`
	Processed   string `yaml:"processed,omitempty"`
	Failed      string `yaml:"failed,omitempty"`
	// Recipe is the path of a recipe file (JSON or YAML, as for -recipe),
	// relative to the config file's folder, or the recipe itself: the same
	// mapping a recipe file holds.
	Recipe yaml.Node `yaml:"recipe"`
}

// Duration is a time.Duration written as "2s" or "10m".
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d as time.Duration prints it.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// UnmarshalYAML reads "2s", "10m", "1h30m".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v < 0 {
		// A TypeError, so that the decoder goes on and keeps the line.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration such as 2s, 10m or 1h30m", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// Config is a checked config file: absolute folders, parsed recipes.
type Config struct {
	Path string // the file it was read from
	File        // as written, with the defaults filled in
	// Workflows are File.Workflows checked (it hides that field: reach
	// the entries as written through c.File.Workflows).
	Workflows []Workflow
}

// Workflow is one hot folder with its own recipe, checked.
type Workflow struct {
	Name                 string
	Line                 int // where it is declared in the config file
	Priority             int // 1 (most urgent) … 9
	In, Out, State       string
	Processed, Failed    string
	Recipe               uploader.Recipe // normalized
	Fingerprint          string          // the recipe's
	RecipeSource         string          // the recipe file, or "" when inline
	OnSuccess, OnFailure pipeline.Action
	Workers              int // 0: sized from the limits
	RetryFailed          bool
}

// Same reports whether w and o would process files alike, so that a
// reload leaves the running workflow alone.
func (w Workflow) Same(o Workflow) bool {
	return w.key() == o.key()
}

// key is w without its line and parsed recipe (the fingerprint stands for
// it), comparable.
type key struct {
	name, in, out, state, processed, failed, fingerprint string
	priority, workers                                    int
	onSuccess, onFailure                                 pipeline.Action
	retryFailed                                          bool
}

func (w Workflow) key() key {
	return key{w.Name, w.In, w.Out, w.State, w.Processed, w.Failed, w.Fingerprint,
		w.Priority, w.Workers, w.OnSuccess, w.OnFailure, w.RetryFailed}
}

// Error is one mistake in a config file.
type Error struct {
	Line int // 0 when it is about the file as a whole
	Msg  string
}

// Errors are every mistake found in a config file, in the order of their
// lines. Its Error() has one line per mistake: "FILE:LINE: message".
type Errors struct {
	Path string
	List []Error
}

func (e *Errors) Error() string {
	var b strings.Builder
	for i, x := range e.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		if x.Line > 0 {
			fmt.Fprintf(&b, "%s:%d: %s", e.Path, x.Line, x.Msg)
		} else {
			fmt.Fprintf(&b, "%s: %s", e.Path, x.Msg)
		}
	}
	return b.String()
}

func (e *Errors) add(line int, format string, a ...any) {
	e.List = append(e.List, Error{Line: line, Msg: fmt.Sprintf(format, a...)})
}

// Load reads and checks the config file at path: see [Parse].
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse checks a config file as a whole before anything starts: unknown
// keys, values of the wrong kind, bad enumerations, recipes (as -recipe
// checks them, files included), names, and folders that overlap. Every
// mistake is reported, each with its line, in one *Errors. Relative paths
// are resolved against path's folder.
func Parse(data []byte, path string) (*Config, error) {
	errs := &Errors{Path: path}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		errs.add(yamlLine(err), "%s", stripLine(err.Error()))
		return nil, errs
	}
	if len(doc.Content) == 0 {
		errs.add(0, "the file is empty: it needs workflows")
		return nil, errs
	}
	root := doc.Content[0]
	lines := map[string]int{}
	checkKeys(root, "", fileKeys, lines, errs)
	var f File
	// Go on after keys and values of the wrong kind: the other checks
	// find the rest of the mistakes, and the file is fixed in one go.
	decode(root, &f, errs)
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	c := &Config{Path: path, File: f.withDefaults()}
	c.checkGlobal(lines, base, errs)
	c.Workflows = checkWorkflows(f.Workflows, lines, base, errs)
	if len(errs.List) > 0 {
		return nil, errs.sorted()
	}
	return c, nil
}

// on reports whether a mistake was found on line already (a value of the
// wrong kind is not reported again as out of range).
func (e *Errors) on(line int) bool {
	return slices.ContainsFunc(e.List, func(x Error) bool { return x.Line == line })
}

func (e *Errors) sorted() *Errors {
	slices.SortStableFunc(e.List, func(a, b Error) int { return a.Line - b.Line })
	return e
}

// decode fills v from n, reporting values of the wrong kind with their
// lines (unknown keys are checkKeys's).
func decode(n *yaml.Node, v any, errs *Errors) {
	err := n.Decode(v)
	var te *yaml.TypeError
	switch {
	case errors.As(err, &te):
		for _, msg := range te.Errors {
			errs.add(yamlLine(errors.New(msg)), "%s", stripLine(msg))
		}
	case err != nil:
		errs.add(yamlLine(err), "%s", stripLine(err.Error()))
	}
}

// yamlLine finds "line N" in a YAML error; 0 if there is none.
func yamlLine(err error) int {
	msg := err.Error()
	i := strings.Index(msg, "line ")
	if i < 0 {
		return 0
	}
	var n int
	fmt.Sscanf(msg[i+len("line "):], "%d", &n)
	return n
}

// stripLine drops the "yaml: line N: " or "line N: " the decoder puts
// first, since Errors prints the line itself.
func stripLine(msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if _, after, ok := strings.Cut(rest, ": "); ok {
			return after
		}
	}
	return msg
}

// Marshal writes c's file as YAML, for -print-config.
func Marshal(f File) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// InlineRecipe is r as an Entry's recipe holds it inline: the mapping a
// recipe file holds, in block style.
func InlineRecipe(r uploader.Recipe) (yaml.Node, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return yaml.Node{}, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return yaml.Node{}, err
	}
	block(&doc)
	return *doc.Content[0], nil
}

// block makes n and what it holds block style, as a person writes YAML.
// A step's op comes first.
func block(n *yaml.Node) {
	n.Style = 0
	for i := 2; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "op" {
			op := slices.Clone(n.Content[i : i+2])
			copy(n.Content[2:i+2], n.Content[:i])
			copy(n.Content[:2], op)
		}
	}
	for _, c := range n.Content {
		block(c)
	}
}

// NameFor names the workflow of hot folder in (-print-config): its base
// name, with what a name may not hold turned into '-'.
func NameFor(in string) string {
	name := strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (r == '.' || r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '-'
	}, filepath.Base(in))
	name = strings.TrimLeft(name, ".-_")
	if len(name) > 64 {
		name = name[:64]
	}
	return cmp.Or(name, "hotfolder")
}

// RecipeFile is a recipe given as a file's path in an Entry.
func RecipeFile(path string) yaml.Node {
	return yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: path}
}

// WithoutDefaults is f with the global settings equal to d's left out, so
// that a printed config shows only what was chosen.
func WithoutDefaults(f, d File) File {
	for _, p := range []struct{ v, def *string }{
		{&f.API, &d.API}, {&f.IMSURL, &d.IMSURL}, {&f.ImageAPIURL, &d.ImageAPIURL},
		{&f.PhotoshopAPIURL, &d.PhotoshopAPIURL}, {&f.Limits, &d.Limits},
	} {
		if *p.v == *p.def {
			*p.v = ""
		}
	}
	if f.LimitMargin == d.LimitMargin {
		f.LimitMargin = 0
	}
	if f.JobTimeout == d.JobTimeout {
		f.JobTimeout = 0
	}
	if f.Settle == d.Settle {
		f.Settle = 0
	}
	for i, e := range f.Workflows {
		if e.OnSuccess == "keep" {
			f.Workflows[i].OnSuccess = ""
		}
		if e.OnFailure == "keep" {
			f.Workflows[i].OnFailure = ""
		}
	}
	return f
}
