package pipeline

// This file decides where each input's result goes and whether it is already
// there: output naming, the claims file and the skip rule. It is kept apart
// so that a full crash-safe journal can replace it.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"hotfolder/watcher"
)

// claimsFile is the claims file's name inside the state folder.
const claimsFile = "outputs.jsonl"

// claimLine is one line of the claims file.
type claimLine struct {
	Output string `json:"output"` // slash-separated, relative to the output root
	Input  string `json:"input"`  // slash-separated, relative to the input root
	// As is which of the input's outputs this is: its suffix and
	// extension, e.g. "-2048.jpg" (see outSpec). Lines written before an
	// input could have several outputs have none: they are the plain one
	// of their output's extension.
	As string `json:"as,omitempty"`

	// File names are bytes, and JSON turns bytes that are not UTF-8 into
	// U+FFFD: a name that is not valid UTF-8 is kept exactly here
	// (base64), and Output or Input holds it only for people to read.
	OutputBytes rawName `json:"output_bytes,omitempty"`
	InputBytes  rawName `json:"input_bytes,omitempty"`
}

// rawName is a name kept byte for byte in JSON, as base64.
type rawName string

func (n rawName) MarshalText() ([]byte, error) {
	return base64.StdEncoding.AppendEncode(nil, []byte(n)), nil
}

func (n *rawName) UnmarshalText(b []byte) error {
	d, err := base64.StdEncoding.AppendDecode(nil, b)
	*n = rawName(d)
	return err
}

// lossless returns c ready to be written: names that JSON would change
// are kept in the Bytes fields too.
func (c claimLine) lossless() claimLine {
	if !utf8.ValidString(c.Output) {
		c.OutputBytes, c.Output = rawName(c.Output), strings.ToValidUTF8(c.Output, "\uFFFD")
	}
	if !utf8.ValidString(c.Input) {
		c.InputBytes, c.Input = rawName(c.Input), strings.ToValidUTF8(c.Input, "\uFFFD")
	}
	return c
}

// exact returns c as read, with the exact names.
func (c claimLine) exact() claimLine {
	if c.OutputBytes != "" {
		c.Output, c.OutputBytes = string(c.OutputBytes), ""
	}
	if c.InputBytes != "" {
		c.Input, c.InputBytes = string(c.InputBytes), ""
	}
	return c
}

// outputs assigns output names to inputs and keeps the assignments (claims)
// durable in an append-only JSON Lines file. It is safe for concurrent use;
// claims are made one at a time, so the order of calls decides who wins a
// name.
type outputs struct {
	root     string   // output root
	dir      *os.Root // the output root, opened: outputs are written and read through it; nil in a dry run
	reserved string   // folded path of the state folder relative to root; "" when it is outside
	nameMax  int      // the longest file name, in bytes, the output folder's file system takes
	log      *slog.Logger

	mu       sync.Mutex
	f        *os.File          // the claims file, opened for appending; nil when dry
	dry      bool              // a dry run: claims are made in memory only
	byInput  map[string]string // claimKey(input, spec) → the output claimed for it
	byOutput map[string]string // fold(output) → input, for every claim
}

// fold is the key under which output names are compared: two names that
// differ only in case are the same name on macOS and Windows disks.
func fold(rel string) string { return strings.ToLower(rel) }

// openOutputs opens (creating it if needed) the claims file in state, locks
// it against a second hotfolder using the same state folder, and loads it.
// A last line cut short by a crash is dropped with a warning; other
// malformed lines are skipped with a warning.
func openOutputs(root, state string, log *slog.Logger) (*outputs, error) {
	o := &outputs{
		root:     root,
		log:      log,
		nameMax:  nameMax(root),
		byInput:  make(map[string]string),
		byOutput: make(map[string]string),
	}
	if rel, err := filepath.Rel(root, state); err == nil && filepath.IsLocal(rel) {
		o.reserved = fold(filepath.ToSlash(rel))
	}
	dir, err := os.OpenRoot(root)
	if err != nil {
		return nil, &fatalError{err: fmt.Errorf("open output folder: %w", err), hint: outHint}
	}
	name := filepath.Join(state, claimsFile)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o666)
	if err != nil {
		dir.Close()
		return nil, stateError(fmt.Errorf("open claims file: %w", err))
	}
	if err := lockFile(f); err != nil {
		dir.Close()
		f.Close()
		return nil, err
	}
	o.dir, o.f = dir, f
	if err := o.load(); err != nil {
		o.close()
		return nil, err
	}
	return o, nil
}

// readOutputs loads the claims file, if there is one, for a dry run: no
// file is created, locked or repaired, and new claims stay in memory.
func readOutputs(root, state string, log *slog.Logger) (*outputs, error) {
	o := &outputs{root: root, log: log, dry: true, nameMax: nameMax(root),
		byInput: make(map[string]string), byOutput: make(map[string]string)}
	if rel, err := filepath.Rel(root, state); err == nil && filepath.IsLocal(rel) {
		o.reserved = fold(filepath.ToSlash(rel))
	}
	f, err := os.Open(filepath.Join(state, claimsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return o, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open claims file: %w", err)
	}
	defer f.Close()
	o.f = f
	err = o.load()
	o.f = nil
	return o, err
}

// load reads the claims file into memory.
func (o *outputs) load() error {
	data, err := io.ReadAll(o.f)
	if err != nil {
		return stateError(fmt.Errorf("read claims file: %w", err))
	}
	end := bytes.LastIndexByte(data, '\n') + 1
	for i, line := range bytes.Split(data[:end], []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		c, err := o.parse(line)
		if err != nil {
			o.log.Warn("claims file: skipping bad line", "file", o.f.Name(), "line", i+1, "error", err)
			continue
		}
		o.add(c)
	}
	tail := data[end:]
	if len(tail) == 0 || o.dry {
		return nil
	}
	// A crash while appending leaves a line without its newline. Appending
	// after it would glue the next claim onto it, so complete or remove it.
	if c, err := o.parse(tail); err == nil {
		o.add(c)
		_, err = o.f.Write([]byte{'\n'})
		if err == nil {
			err = o.f.Sync()
		}
		return stateError(err)
	}
	o.log.Warn("claims file: ignoring truncated last line", "file", o.f.Name(), "bytes", len(tail))
	if err := o.f.Truncate(int64(end)); err != nil {
		return stateError(fmt.Errorf("repair claims file: %w", err))
	}
	return stateError(o.f.Sync())
}

// parse decodes and checks one claims line.
func (o *outputs) parse(line []byte) (claimLine, error) {
	var c claimLine
	if err := json.Unmarshal(line, &c); err != nil {
		return c, err
	}
	c = c.exact()
	if !validRel(c.Input) || !validRel(c.Output) {
		return c, fmt.Errorf("not a relative path: %q → %q", c.Input, c.Output)
	}
	if o.isReserved(c.Output) {
		return c, fmt.Errorf("output %q is inside the state folder", c.Output)
	}
	return c, nil
}

// add records a claim in memory. The first claim on an output name wins;
// an input keeps the first name it claimed with this run's extension
// (changing -format gives it a new name of the new type).
func (o *outputs) add(c claimLine) {
	key := fold(c.Output)
	if prev, ok := o.byOutput[key]; ok {
		if prev != c.Input {
			o.log.Warn("claims file: output claimed twice, keeping the first", "output", c.Output, "input", prev, "ignored", c.Input)
		}
		return
	}
	o.byOutput[key] = c.Input
	as := c.As
	if as == "" {
		as = strings.ToLower(path.Ext(c.Output))
	}
	if k := claimKey(c.Input, as); o.byInput[k] == "" {
		o.byInput[k] = c.Output
	}
}

// claimKey is the byInput key of input in's output as (suffix and
// extension): an input keeps the first name it claimed for each of its
// outputs, and changing -format or the renditions claims new ones.
func claimKey(in, as string) string { return in + "\x00" + strings.ToLower(as) }

// validRel reports whether rel is a clean, slash-separated path inside its
// root.
func validRel(rel string) bool {
	return rel != "" && path.Clean(rel) == rel && filepath.IsLocal(filepath.FromSlash(rel)) &&
		!strings.Contains(rel, `\`)
}

// isReserved reports whether rel (relative to the output root) is the state
// folder or inside it.
func (o *outputs) isReserved(rel string) bool {
	if o.reserved == "" {
		return false
	}
	k := fold(rel)
	return k == o.reserved || strings.HasPrefix(k, o.reserved+"/")
}

// claim returns the names of input in's outputs, one per spec (all
// slash-separated and relative to their roots), claiming those the input
// has none for yet: for the spec (suffix, ext), the first of
// <stem><suffix>.<ext>, <name><suffix>.<ext>, <name><suffix>-2.<ext>, …
// that no other input has claimed, compared without regard to case. New
// claims are appended to the claims file and synced, together, before
// claim returns.
func (o *outputs) claim(in string, specs []outSpec) ([]string, error) {
	if !validRel(in) {
		return nil, fmt.Errorf("input path %q is not relative to the input folder", in)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	dir, base := path.Split(in)
	if dir != "" && o.isReserved(strings.TrimSuffix(dir, "/")) {
		return nil, errors.New("its output would be inside the state folder")
	}
	outs := make([]string, len(specs))
	var (
		fresh []claimLine
		keys  []string // their byInput keys
	)
	for i, sp := range specs {
		if out := o.byInput[claimKey(in, sp.as())]; out != "" {
			outs[i] = out
			continue
		}
		out := o.freeName(dir, base, sp)
		o.byOutput[fold(out)] = in
		o.byInput[claimKey(in, sp.as())] = out
		keys = append(keys, claimKey(in, sp.as()))
		outs[i] = out
		c := claimLine{Output: out, Input: in}
		if sp.suffix != "" { // the plain output of an extension says so by its name
			c.As = sp.as()
		}
		fresh = append(fresh, c)
	}
	if err := o.append(fresh); err != nil {
		for i, c := range fresh { // not on disk: not claimed
			delete(o.byOutput, fold(c.Output))
			delete(o.byInput, keys[i])
		}
		return nil, err
	}
	return outs, nil
}

// freeName is the first name of the spec's output of input base (in folder
// dir) that no input has claimed (see claim). Called with o.mu held.
func (o *outputs) freeName(dir, base string, sp outSpec) string {
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	for i := 0; ; i++ {
		var name string
		switch {
		case i == 0 && (stem == "" || ext == ""):
			continue // <stem>… would be <name>… or a hidden name: go on to that
		case i == 0:
			name = stem + sp.suffix + "." + sp.ext
		case i == 1:
			name = base + sp.suffix + "." + sp.ext
		default:
			name = base + sp.suffix + "-" + strconv.Itoa(i) + "." + sp.ext
		}
		out := dir + fitName(name, sp.ext, o.nameMax)
		if _, taken := o.byOutput[fold(out)]; !taken && !o.isReserved(out) {
			return out
		}
	}
}

// append writes claims to the claims file and syncs it, so the claims are
// on disk before any output is written under their names. Called with o.mu
// held.
func (o *outputs) append(cs []claimLine) error {
	if o.dry || len(cs) == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // Encode adds the newline
	enc.SetEscapeHTML(false)
	for _, c := range cs {
		if err := enc.Encode(c.lossless()); err != nil {
			return err
		}
	}
	if _, err := o.f.Write(buf.Bytes()); err != nil {
		return stateError(fmt.Errorf("write claims file: %w", err))
	}
	if err := o.f.Sync(); err != nil {
		return stateError(fmt.Errorf("sync claims file: %w", err))
	}
	return nil
}

// upToDate is the skip rule: output out exists as a regular file modified
// after input f.
func (o *outputs) upToDate(out string, f watcher.File) bool {
	fi, err := o.lstat(out)
	return err == nil && fi.Mode().IsRegular() && fi.ModTime().After(f.ModTime)
}

// exists reports whether output out exists as a regular file.
func (o *outputs) exists(out string) bool {
	fi, err := o.lstat(out)
	return err == nil && fi.Mode().IsRegular()
}

// lstat is os.Lstat of output rel, inside the output folder.
func (o *outputs) lstat(rel string) (fs.FileInfo, error) {
	if o.dir == nil {
		return os.Lstat(o.abs(rel))
	}
	return o.dir.Lstat(filepath.FromSlash(rel))
}

// abs is the file path of output rel.
func (o *outputs) abs(rel string) string { return filepath.Join(o.root, filepath.FromSlash(rel)) }

// close releases the claims file, its lock and the output folder.
func (o *outputs) close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	if o.dir != nil {
		errs = append(errs, o.dir.Close())
		o.dir = nil
	}
	if o.f != nil {
		errs = append(errs, o.f.Close())
		o.f = nil
	}
	return errors.Join(errs...)
}
