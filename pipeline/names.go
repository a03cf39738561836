package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"hotfolder/uploader"
	"hotfolder/watcher"
)

// defaultNameMax is the longest file name most file systems take (NAME_MAX).
const defaultNameMax = 255

// fitName returns name, a file name ending in "."+ext, shortened to at
// most max bytes when it is longer: its stem is cut (at a character
// boundary) and followed by "~" and 8 hex digits of the SHA-256 of the
// whole name, so that the result is the same on every run and two long
// names that differ only past the cut stay different.
func fitName(name, ext string, max int) string {
	if len(name) <= max {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	tail := "~" + hex.EncodeToString(sum[:4]) + "." + ext
	stem := strings.TrimSuffix(name, "."+ext)
	n := max - len(tail)
	if n < 1 {
		return tail[1:] // an absurdly small max: the hash alone
	}
	if n < len(stem) {
		for n > 0 && utf8.ValidString(stem) && !utf8.RuneStart(stem[n]) {
			n--
		}
		stem = stem[:n]
	}
	return stem + tail
}

// errOutputPath marks an output whose place in the output folder cannot be
// written: the person fixes the folder, not the input, so the failure is
// not permanent (the input is taken again when it is seen again).
var errOutputPath = errors.New("the output cannot be written there")

// checkPath makes sure output rel can be written inside the output folder
// before any quota is spent on it: every folder on its way is a real
// folder (a symbolic link is never written through: it could lead outside
// -out), and the name itself is not a folder.
func (o *outputs) checkPath(rel string) error {
	elems := strings.Split(rel, "/")
	for i := range elems {
		sub := path.Join(elems[:i+1]...)
		fi, err := o.lstat(sub)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil // created when the output is written
		case err != nil:
			return &hintedError{err: fmt.Errorf("%w: %s: %w", errOutputPath, o.abs(sub), err),
				hint: "check that -out can be read and written"}
		case fi.Mode()&fs.ModeSymlink != 0:
			return &hintedError{
				err: fmt.Errorf("%w: %s is a symbolic link, and hotfolder writes only into real folders inside -out",
					errOutputPath, o.abs(sub)),
				hint: "replace the link with a real folder (or move what it points to into -out), then drop the file in again",
			}
		case i < len(elems)-1 && !fi.IsDir():
			return &hintedError{err: fmt.Errorf("%w: %s is a file where the output's folder should be", errOutputPath, o.abs(sub)),
				hint: "move that file out of the way, then drop the input in again"}
		case i == len(elems)-1 && fi.IsDir():
			return &hintedError{err: fmt.Errorf("%w: %s is a folder where the output should be", errOutputPath, o.abs(sub)),
				hint: "move that folder out of the way, then drop the input in again"}
		}
	}
	return nil
}

// DisplayName is rel as people are shown it: as it is when it is printable
// UTF-8, else quoted with Go's escapes (a name's bytes need not be UTF-8,
// and may hold a newline), so that two names never look the same.
func DisplayName(rel string) string {
	if utf8.ValidString(rel) && strings.IndexFunc(rel, func(r rune) bool { return !strconv.IsPrint(r) && r != ' ' }) < 0 {
		return rel
	}
	return strconv.Quote(rel)
}

// osRel is slash-separated rel in the OS's form.
func osRel(rel string) string { return filepath.FromSlash(rel) }

// movedAside reports whether the journal at path is missing while the
// claims file knows of outputs: the journal was moved aside (as its
// damage message says to) or lost, and the outputs written under it are
// there to be adopted rather than paid for again.
func movedAside(path string, outs *outputs) bool {
	_, err := os.Lstat(path)
	return errors.Is(err, fs.ErrNotExist) && outs.claimed() > 0
}

// claimed is the number of output names claimed so far.
func (o *outputs) claimed() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.byOutput)
}

// allAdoptable reports whether every output in outs is newer than input f
// and fit to be taken as done without a journal record (see adoptable).
func (o *outputs) allAdoptable(outs []string, f watcher.File) bool {
	for _, out := range outs {
		if !o.upToDate(out, f) || !o.adoptable(out) {
			return false
		}
	}
	return len(outs) > 0
}

// allExist reports whether every output in outs exists as a regular file.
func (o *outputs) allExist(outs []string) bool {
	for _, out := range outs {
		if !o.exists(out) {
			return false
		}
	}
	return len(outs) > 0
}

// adoptable reports whether output rel is a complete file of its format,
// fit to be taken as done without its journal record: its content (not its
// name) says it is of the format, and its structure is whole.
func (o *outputs) adoptable(rel string) bool {
	var f *os.File
	var err error
	if o.dir != nil {
		f, err = o.dir.Open(osRel(rel))
	} else {
		f, err = os.Open(o.abs(rel))
	}
	if err != nil {
		return false
	}
	defer f.Close()
	return completeFile(f, strings.TrimPrefix(path.Ext(rel), ".")) == nil
}

// formatOfExt is the format Complete names for an output extension.
func formatOfExt(ext string) string {
	switch ext {
	case "jpg":
		return "jpeg"
	case "tif", "dng": // a DNG is a TIFF
		return "tiff"
	}
	return ext // png, webp, psd
}

// completeFile checks that f is a whole file of the output format ext: an
// image by its structure, a JSON manifest or XMP packet by its syntax.
func completeFile(f *os.File, ext string) error {
	switch ext {
	case "json":
		if !json.Valid(readHead(f, maxSidecar)) {
			return fmt.Errorf("%s is not a JSON document", f.Name())
		}
		return nil
	case "xmp":
		if !bytes.Contains(readHead(f, maxSidecar), []byte("<x:xmpmeta")) {
			return fmt.Errorf("%s is not an XMP packet", f.Name())
		}
		return nil
	}
	format, err := uploader.Complete(f)
	if err != nil {
		return err
	}
	if format != formatOfExt(ext) {
		return fmt.Errorf("%s holds %s, not %s", f.Name(), format, ext)
	}
	return nil
}

// maxSidecar bounds what is read of a JSON or XMP output to check it.
const maxSidecar = 16 << 20

// readHead reads at most n bytes of f from its start.
func readHead(f *os.File, n int64) []byte {
	b, _ := io.ReadAll(io.LimitReader(f, n))
	return b
}

// outSpec is one of the outputs an input's recipe writes: the suffix its
// name takes after the input's stem, and its extension.
type outSpec struct{ suffix, ext string }

// as is how the claims file tells the input's outputs apart.
func (s outSpec) as() string { return s.suffix + "." + s.ext }

// outputSpecs names the outputs the recipe's last step writes for an input
// called name, one per rendition in order (the README's naming rule): the
// first rendition of each extension has no suffix, a later one is named
// after its size (-2048 for maxWidth or width 2048) or else its number
// among that extension's renditions (-2, -3…); auto-crop writes one crop
// per aspect ratio (-1x1, -4x5), in the input's own format.
func outputSpecs(last uploader.Step, name string) []outSpec {
	if last.Op == uploader.OpAutoCrop {
		var specs []outSpec
		for _, r := range last.AutoCrop.Ratios() {
			specs = append(specs, outSpec{suffix: "-" + strings.ReplaceAll(r, ":", "x"), ext: cropExt(name)})
		}
		return specs
	}
	var specs []outSpec
	seen := map[string]int{}
	taken := map[string]bool{}
	for _, r := range last.Outputs {
		ext := r.Ext()
		seen[ext]++
		suffix := ""
		if seen[ext] > 1 {
			label := strconv.Itoa(seen[ext])
			switch {
			case r.MaxWidth > 0:
				label = strconv.Itoa(r.MaxWidth)
			case r.Width > 0:
				label = strconv.Itoa(r.Width)
			}
			suffix = "-" + label
		}
		for k, s := 2, suffix; taken[suffix+"."+ext]; k++ {
			suffix = s + "-" + strconv.Itoa(k)
		}
		taken[suffix+"."+ext] = true
		specs = append(specs, outSpec{suffix: suffix, ext: ext})
	}
	return specs
}

// cropExt is the extension of auto-crop's crops of the input called name:
// Adobe answers them in the input's format.
func cropExt(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".png":
		return "png"
	case ".webp":
		return "webp"
	}
	return "jpg"
}
