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

	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// Image is what [Client.Validate] learned about an input.
type Image struct {
	Format        string // jpeg, png, webp or tiff
	ContentType   string // e.g. image/jpeg
	Width, Height int    // pixels
	Size          int64  // bytes
}

// acceptedFormats is how the accepted formats are named to people.
const acceptedFormats = "JPEG, PNG, WebP and TIFF"

// formatNames are the formats (Image.Format) as people write them.
var formatNames = map[string]string{"jpeg": "JPEG", "png": "PNG", "webp": "WebP", "tiff": "TIFF"}

// Validate checks the file at path locally, sending no request, so that
// inputs Adobe would refuse cost no quota: it must be non-empty, a JPEG,
// PNG, WebP or TIFF by content (whatever its name), with a readable header
// of at most 6000×6000 px, and complete: not cut short or damaged in its
// structure (see integrity.go). Beyond the header the file is read at most
// once, front to back, and no pixel is decoded. A refusal is a
// [*RejectedError], never fatal.
func (c *Client) Validate(ctx context.Context, path string) (Image, error) {
	return Validate(ctx, path)
}

// Validate is [Client.Validate] without a client: it needs no account, as
// for a dry run.
func Validate(ctx context.Context, path string) (Image, error) {
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
	img, rej := inspect(f, st.Size())
	if rej != nil {
		rej.Path = path
		return Image{}, rej
	}
	return img, nil
}

// Check is [Client.Validate] for callers that need only the verdict.
func (c *Client) Check(ctx context.Context, path string) error {
	_, err := c.Validate(ctx, path)
	return err
}

// inspect reads the header of an image of size bytes from r, then scans
// its structure for a file cut short or damaged.
func inspect(r io.ReaderAt, size int64) (Image, *RejectedError) {
	if size == 0 {
		return Image{}, &RejectedError{Reason: "the file is empty",
			Suggestion: "an empty file is usually a failed export or a copy that never finished: export or copy it again"}
	}
	head := make([]byte, 512)
	n, err := r.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return Image{}, &RejectedError{Err: err, Reason: fmt.Sprintf("cannot read the file: %v", err),
			Suggestion: "check that hotfolder may read the file"}
	}
	contentType := sniff(head[:n])
	format := formatOf(contentType)
	if format == "" {
		looks := contentType
		if contentType == "application/octet-stream" {
			looks = "binary data of no known type (application/octet-stream)"
		}
		return Image{}, &RejectedError{
			Reason:     fmt.Sprintf("not an image remove background accepts: the content looks like %s", looks),
			Suggestion: "remove background accepts " + acceptedFormats + " files, recognised by their content whatever their name; convert the file to one of them",
		}
	}
	cfg, err := decodeConfig(format, r, size)
	name := formatNames[format]
	if err != nil {
		// A file cut short often fails here already: then say so, and
		// where, rather than how the decoder failed.
		var f *flaw
		if errors.As(checkComplete(format, r, size), &f) && f.short {
			return Image{}, rejectFlaw(name, f)
		}
		return Image{}, &RejectedError{
			Reason:     fmt.Sprintf("cannot read the %s header: %v", name, err),
			Suggestion: "the file is damaged or incomplete: export or copy it again",
		}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Image{}, &RejectedError{Reason: fmt.Sprintf("the %s header gives no size (%d×%d px)", name, cfg.Width, cfg.Height),
			Suggestion: "the file is damaged: export it again"}
	}
	if cfg.Width > MaxSide || cfg.Height > MaxSide {
		return Image{}, &RejectedError{
			Reason:     fmt.Sprintf("%d×%d px is larger than remove background accepts (at most %d×%d px)", cfg.Width, cfg.Height, MaxSide, MaxSide),
			Suggestion: fmt.Sprintf("scale the image down to at most %d px on each side", MaxSide),
		}
	}
	// Only now, so that a file refused for its size is not read through.
	if err := checkComplete(format, r, size); err != nil {
		return Image{}, rejectFlaw(name, err)
	}
	return Image{Format: format, ContentType: contentType, Width: cfg.Width, Height: cfg.Height, Size: size}, nil
}

// formatOf is the format of an image of the given content type that
// remove background accepts (jpeg, png, webp or tiff), or "".
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
