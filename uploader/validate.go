package uploader

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// MaxFileSize is the largest input Adobe accepts: 5 GB (photoshop-v2-ops.md
// §2.9 and §9 #13: the GA notes say 5 GB, another page 4 GB).
const MaxFileSize = 5 << 30

// Image is what [ValidateStep] learned about an input.
type Image struct {
	Format        string // jpeg, png, webp, tiff, psd, dng or raw (other camera raw)
	ContentType   string // e.g. image/jpeg
	Width, Height int    // pixels; 0 for camera raw, whose header is not read
	Size          int64  // bytes
}

// formatNames are the formats (Image.Format) as people write them.
var formatNames = map[string]string{"jpeg": "JPEG", "png": "PNG", "webp": "WebP", "tiff": "TIFF", "psd": "PSD",
	"dng": "DNG", "raw": "camera raw"}

// rawExts are the extensions of camera raw files, which only edit reads:
// recognised by name, as most are TIFF inside or of no common signature.
var rawExts = []string{".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2",
	".rwl", ".pef", ".srw", ".x3f", ".3fr", ".fff", ".iiq", ".mos", ".mef", ".mrw", ".erf", ".kdc", ".dcr", ".gpr"}

// Check checks the input at path locally for step's operation, sending no
// request, so that inputs Adobe would refuse cost no quota: the formats the operation reads (edit: JPEG, PNG, DNG and other
// camera raw by content or extension, WebP, TIFF, PSD; remove background:
// JPEG, PNG, WebP, TIFF of at most 6000×6000 px; actions, product-crop,
// composite, manifest: JPEG, PNG, TIFF, PSD, WebP; auto-crop: JPEG, PNG,
// WebP) by content whatever the name, at most 5 GB ([MaxFileSize]), a
// readable header, and complete: the structural scan of integrity.go where
// the format has one. Beyond the header the file is read at most once,
// front to back, and no pixel is decoded. A refusal is a
// [*RejectedError], never fatal.
func (c *Client) Check(ctx context.Context, step Step, path string) error {
	return CheckInput(ctx, step, path)
}

// CheckInput is [Client.Check] without a client: it needs no account, as
// for a dry run.
func CheckInput(ctx context.Context, step Step, path string) error {
	_, err := ValidateStep(ctx, step, path)
	return err
}

// ValidateStep is [Client.Check] without a client (for a dry run), which
// also returns what it learned.
func ValidateStep(ctx context.Context, step Step, path string) (Image, error) {
	if err := step.checkOp(""); err != nil {
		return Image{}, fmt.Errorf("validate: %w", err)
	}
	return validate(ctx, step.Op, path)
}

func validate(ctx context.Context, op, path string) (Image, error) {
	if err := ctx.Err(); err != nil {
		return Image{}, fmt.Errorf("validate: %w", err)
	}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrPermission):
		return Image{}, &RejectedError{Path: path, Err: err, Reason: "hotfolder is not allowed to read the file (permission denied)",
			Suggestion: fmt.Sprintf("let the user hotfolder runs as (uid %d) read it, e.g. chmod a+r on the file, then drop it in again", os.Geteuid())}
	case errors.Is(err, fs.ErrNotExist):
		return Image{}, &RejectedError{Path: path, Err: err, Reason: "the file was removed or renamed before it could be processed",
			Suggestion: "nothing to do if that was meant; otherwise put it back"}
	case err != nil:
		return Image{}, &RejectedError{Path: path, Err: err, Reason: fmt.Sprintf("cannot open the file: %v", err),
			Suggestion: "check that the file still exists and that hotfolder may read it"}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Image{}, &RejectedError{Path: path, Err: err, Reason: fmt.Sprintf("cannot read the file: %v", err),
			Suggestion: "check that hotfolder may read the file"}
	}
	if !st.Mode().IsRegular() {
		return Image{}, &RejectedError{Path: path, Reason: "not a regular file", Suggestion: "put image files in the hot folder"}
	}
	img, rej := inspectFor(op, filepath.Base(path), f, st.Size())
	if rej != nil {
		rej.Path = path
		return Image{}, rej
	}
	return img, nil
}

// inspect is inspectFor remove background.
func inspect(r io.ReaderAt, size int64) (Image, *RejectedError) {
	return inspectFor(OpRemoveBackground, "", r, size)
}

// opName names op in messages.
func opName(op string) string {
	if op == OpRemoveBackground || op == "" {
		return "remove background"
	}
	return op
}

// acceptedNames lists the formats op reads, for people: "JPEG, PNG, WebP
// and TIFF".
func acceptedNames(op string) string {
	var names []string
	for _, f := range inputFormats(op) {
		names = append(names, formatNames[f])
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// inspectFor reads the header of an image of size bytes named name from r
// and checks that op reads its format, then scans its structure for a
// file cut short or damaged.
func inspectFor(op, name string, r io.ReaderAt, size int64) (Image, *RejectedError) {
	if size == 0 {
		return Image{}, &RejectedError{Reason: "the file is empty",
			Suggestion: "an empty file is usually a failed export or a copy that never finished: export or copy it again"}
	}
	if size > MaxFileSize {
		return Image{}, &RejectedError{Reason: fmt.Sprintf("the file has %d bytes (%.1f GB), more than Adobe accepts (5 GB)", size, float64(size)/(1<<30)),
			Suggestion: "make the file smaller (scale it down, flatten or compress it), then put it in again"}
	}
	head := make([]byte, 512)
	n, err := r.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return Image{}, &RejectedError{Err: err, Reason: fmt.Sprintf("cannot read the file: %v", err),
			Suggestion: "check that hotfolder may read the file"}
	}
	contentType := sniff(head[:n])
	format := formatOf(contentType)
	accepted := inputFormats(op)
	if slices.Contains(accepted, "raw") {
		ext := strings.ToLower(filepath.Ext(name))
		switch {
		case format == "tiff" && (ext == ".dng" || tiffIsDNG(r, size)):
			format, contentType = "dng", "image/x-adobe-dng"
		case ext == ".dng" && format == "":
			format, contentType = "dng", "image/x-adobe-dng"
		case slices.Contains(rawExts, ext) && (format == "tiff" || format == ""):
			format = "raw"
		}
	}
	if !slices.Contains(accepted, format) {
		looks := contentType
		switch {
		case format != "":
			looks = "a " + formatNames[format]
		case contentType == "application/octet-stream":
			looks = "binary data of no known type (application/octet-stream)"
		}
		return Image{}, &RejectedError{
			Reason: fmt.Sprintf("not an image %s accepts: the content looks like %s", opName(op), looks),
			Suggestion: fmt.Sprintf("%s accepts %s files, recognised by their content whatever their name; convert the file to one of them",
				opName(op), acceptedNames(op)),
		}
	}
	img := Image{Format: format, ContentType: contentType, Size: size}
	if format == "dng" || format == "raw" {
		return img, nil // camera raw: no header read, no scan
	}
	cfg, err := decodeConfig(format, r, size)
	fname := formatNames[format]
	if err != nil {
		// A file cut short often fails here already: then say so, and
		// where, rather than how the decoder failed.
		var f *flaw
		if errors.As(checkComplete(format, r, size), &f) && f.short {
			return Image{}, rejectFlaw(fname, f)
		}
		return Image{}, &RejectedError{
			Reason:     fmt.Sprintf("cannot read the %s header: %v", fname, err),
			Suggestion: "the file is damaged or incomplete: export or copy it again",
		}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Image{}, &RejectedError{Reason: fmt.Sprintf("the %s header gives no size (%d×%d px)", fname, cfg.Width, cfg.Height),
			Suggestion: "the file is damaged: export it again"}
	}
	if (op == OpRemoveBackground || op == "") && (cfg.Width > MaxSide || cfg.Height > MaxSide) {
		return Image{}, &RejectedError{
			Reason:     fmt.Sprintf("%d×%d px is larger than remove background accepts (at most %d×%d px)", cfg.Width, cfg.Height, MaxSide, MaxSide),
			Suggestion: fmt.Sprintf("scale the image down to at most %d px on each side", MaxSide),
		}
	}
	// Only now, so that a file refused for its size is not read through.
	if err := checkComplete(format, r, size); err != nil {
		return Image{}, rejectFlaw(fname, err)
	}
	img.Width, img.Height = cfg.Width, cfg.Height
	return img, nil
}

// formatOf is the format of an image of the given content type, or "".
func formatOf(contentType string) string {
	switch contentType {
	case "image/jpeg":
		return "jpeg"
	case "image/png":
		return "png"
	case "image/webp":
		return "webp"
	case "image/tiff":
		return "tiff"
	case "image/vnd.adobe.photoshop":
		return "psd"
	}
	return ""
}

// decodeConfig reads the header of an image of format (see formatOf) and
// size bytes from r.
func decodeConfig(format string, r io.ReaderAt, size int64) (image.Config, error) {
	sr := io.NewSectionReader(r, 0, size)
	switch format {
	case "jpeg":
		return jpeg.DecodeConfig(bufio.NewReaderSize(sr, 4096))
	case "png":
		return png.DecodeConfig(bufio.NewReaderSize(sr, 4096))
	case "webp":
		return webp.DecodeConfig(bufio.NewReaderSize(sr, 4096))
	case "tiff":
		// Given an io.ReaderAt, the TIFF decoder reads only the
		// directory; given a plain reader it would read the whole file.
		return tiff.DecodeConfig(sr)
	case "psd":
		return psdConfig(r)
	}
	return image.Config{}, fmt.Errorf("unknown format %q", format)
}

// rejectFlaw words what the structural scan of a name (JPEG, PNG…) file
// found: a *flaw, or a failure to read the file.
func rejectFlaw(name string, err error) *RejectedError {
	var f *flaw
	switch {
	case !errors.As(err, &f):
		return &RejectedError{Err: err, Reason: fmt.Sprintf("cannot read the file: %v", err),
			Suggestion: "check that hotfolder may read the file"}
	case f.short:
		return &RejectedError{Reason: fmt.Sprintf("the %s is cut short: %s", name, f.what),
			Suggestion: "the file is incomplete, usually a copy or export that did not finish: copy or export it again"}
	}
	return &RejectedError{Reason: fmt.Sprintf("the %s is damaged: %s", name, f.what),
		Suggestion: "the file is damaged: export it again from the original, or copy it again from a sound copy"}
}
