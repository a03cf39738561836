package uploader

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"hotfolder/ratelimit"
)

// Operations, as a [Step] names them (-op). Each is one Photoshop API v2
// endpoint (see photoshop-v2-ops.md).
const (
	OpEdit        = "edit"         // POST {PhotoshopAPIURL}/v2/edit: Lightroom-style edits
	OpActions     = "actions"      // POST {PhotoshopAPIURL}/v2/execute-actions: .atn and ActionJSON files
	OpProductCrop = "product-crop" // POST {PhotoshopAPIURL}/v2/execute-actions with Adobe's product-crop ActionJSON
	OpComposite   = "composite"    // POST {PhotoshopAPIURL}/v2/create-composite: resize, trim, watermark, ICC
	OpManifest    = "manifest"     // POST {PhotoshopAPIURL}/v2/generate-manifest: the document's JSON manifest
	OpAutoCrop    = "auto-crop"    // POST {ImageAPIURL}/v1/auto-crop: smart crops, one per aspect ratio
)

// Ops lists every operation, in a stable order.
func Ops() []string {
	return []string{OpRemoveBackground, OpEdit, OpActions, OpProductCrop, OpComposite, OpManifest, OpAutoCrop}
}

// Step is one job on one input image: an operation, its options (exactly
// the field of Op is set; Normalize sets it when it is nil) and the
// renditions it writes.
type Step struct {
	Op               string
	RemoveBackground *RemoveBackground
	Edit             *Edit
	Actions          *Actions
	ProductCrop      *ProductCrop
	Composite        *Composite
	Manifest         *Manifest
	AutoCrop         *AutoCrop
	// Outputs are the renditions the job writes: 1–25 for the last step
	// of a recipe (remove background: exactly 1; auto-crop: none, it
	// writes one result per aspect ratio), exactly 1 for an earlier step,
	// whose result is the next step's input.
	Outputs []Rendition
}

// Buckets returns the quota buckets a step's POST and its status GETs are
// charged to: remove background has its own, every other operation is
// Adobe's general service (auto-crop's is undocumented and budgeted as
// general, per photoshop-v2-ops.md §2.8).
func (s Step) Buckets() (post, get ratelimit.Bucket) { return buckets(s.Op) }

// Posts counts the POSTs an input going through steps costs, by the
// bucket each is charged to: one per step.
func Posts(steps []Step) map[ratelimit.Bucket]int {
	posts := map[ratelimit.Bucket]int{}
	for _, s := range steps {
		post, _ := s.Buckets()
		posts[post]++
	}
	return posts
}

// buckets returns the quotas op's submit and status requests are charged to
// ("" is remove background: jobs journaled before Job.Op was recorded).
func buckets(op string) (post, get ratelimit.Bucket) {
	if op == OpRemoveBackground || op == "" {
		return ratelimit.RemoveBackgroundPost, ratelimit.RemoveBackgroundGet
	}
	return ratelimit.Post, ratelimit.Get
}

// AcceptsAnyURL reports whether the step's endpoint fetches its input from
// any presigned URL (the photoshop-api.adobe.io endpoints) or only from
// Adobe's allow-listed storage domains (remove background and auto-crop on
// image.adobe.io). For a step that does not, a previous step's hosted
// result must be downloaded and uploaded again (to Config.Storage) before
// it is submitted.
func (s Step) AcceptsAnyURL() bool {
	return s.Op != OpRemoveBackground && s.Op != OpAutoCrop && s.Op != ""
}

// onImageHost reports whether op's endpoint and status are on ImageAPIURL.
func onImageHost(op string) bool {
	return op == OpRemoveBackground || op == OpAutoCrop || op == ""
}

// endpoint is the path of op's POST.
func endpoint(op string) string {
	switch op {
	case OpEdit:
		return "/v2/edit"
	case OpActions, OpProductCrop:
		return "/v2/execute-actions"
	case OpComposite:
		return "/v2/create-composite"
	case OpManifest:
		return "/v2/generate-manifest"
	case OpAutoCrop:
		return "/v1/auto-crop"
	}
	return "/v2/remove-background"
}

// Rendition is one output of a job, as -output reads it:
// "jpeg:quality=maximum,maxWidth=2048", "png:compression=high", "tiff",
// "psd", "dng", "xmp", "webp", "json". Which formats and options an
// operation takes is checked by [Recipe.Normalize].
type Rendition struct {
	Format      string // jpeg, png, tiff, psd, webp, dng, xmp, json
	Quality     string // jpeg: very_poor, poor, low, medium, high, maximum, photoshop_max
	Compression string // png: none, very_low, low, medium_low, medium, medium_high, default, high, very_high, maximum
	Width       int    // pixels; 0: the document's
	MaxWidth    int    // pixels; 0: none
	Resample    string // nearest_neighbor, bilinear, bicubic, bicubic_smoother, bicubic_sharper
}

// Enumerations of Adobe's spec (photoshopv2-api.json).
var (
	renditionFormats = []string{"jpeg", "png", "tiff", "psd", "webp", "dng", "xmp", "json"}
	jpegQualities    = []string{"very_poor", "poor", "low", "medium", "high", "maximum", "photoshop_max"}
	pngCompressions  = []string{"none", "very_low", "low", "medium_low", "medium", "medium_high", "default", "high", "very_high", "maximum"}
	resamples        = []string{"nearest_neighbor", "bilinear", "bicubic", "bicubic_smoother", "bicubic_sharper"}
)

// formatAliases are other names ParseRendition takes for a format.
var formatAliases = map[string]string{"jpg": "jpeg", "tif": "tiff", "photoshop": "psd"}

// ParseRendition reads an -output spec: a format, then optionally a colon
// and comma-separated KEY=VALUE options (quality, compression, width,
// maxWidth, resample). Formats jpg and tif are taken for jpeg and tiff.
// Whether the operation can write it is checked by [Recipe.Normalize].
func ParseRendition(spec string) (Rendition, error) {
	format, opts, _ := strings.Cut(strings.TrimSpace(spec), ":")
	format = strings.ToLower(strings.TrimSpace(format))
	if a, ok := formatAliases[format]; ok {
		format = a
	}
	r := Rendition{Format: format}
	if !slices.Contains(renditionFormats, format) {
		return Rendition{}, fmt.Errorf("output %q: unknown format %q (want one of %s)", spec, format, strings.Join(renditionFormats, ", "))
	}
	if strings.TrimSpace(opts) == "" {
		return r, nil
	}
	seen := map[string]bool{}
	for kv := range strings.SplitSeq(opts, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return Rendition{}, fmt.Errorf("output %q: %q is not KEY=VALUE", spec, kv)
		}
		if seen[k] {
			return Rendition{}, fmt.Errorf("output %q: %s given twice", spec, k)
		}
		seen[k] = true
		switch k {
		case "quality":
			r.Quality = v
		case "compression":
			r.Compression = v
		case "resample":
			r.Resample = v
		case "width", "maxWidth":
			n, err := strconv.Atoi(strings.TrimSuffix(v, "px"))
			if err != nil || n <= 0 {
				return Rendition{}, fmt.Errorf("output %q: %s %q is not a positive number of pixels", spec, k, v)
			}
			if k == "width" {
				r.Width = n
			} else {
				r.MaxWidth = n
			}
		default:
			return Rendition{}, fmt.Errorf("output %q: unknown option %q (want quality, compression, width, maxWidth or resample)", spec, k)
		}
	}
	if err := r.check(); err != nil {
		return Rendition{}, fmt.Errorf("output %q: %w", spec, err)
	}
	return r, nil
}

// check checks the options' values and that each suits the format; which
// operation may write it is checked by Normalize.
func (r Rendition) check() error {
	switch {
	case !slices.Contains(renditionFormats, r.Format):
		return fmt.Errorf("unknown format %q (want one of %s)", r.Format, strings.Join(renditionFormats, ", "))
	case r.Quality != "" && r.Format != "jpeg":
		return fmt.Errorf("quality is for jpeg only, not %s", r.Format)
	case r.Quality != "" && !slices.Contains(jpegQualities, r.Quality):
		return fmt.Errorf("quality %q: want one of %s", r.Quality, strings.Join(jpegQualities, ", "))
	case r.Compression != "" && r.Format != "png":
		return fmt.Errorf("compression is for png only, not %s", r.Format)
	case r.Compression != "" && !slices.Contains(pngCompressions, r.Compression):
		return fmt.Errorf("compression %q: want one of %s", r.Compression, strings.Join(pngCompressions, ", "))
	case r.Resample != "" && !slices.Contains(resamples, r.Resample):
		return fmt.Errorf("resample %q: want one of %s", r.Resample, strings.Join(resamples, ", "))
	case r.Width < 0 || r.MaxWidth < 0:
		return fmt.Errorf("width and maxWidth cannot be negative")
	case r.Width > 32000 || r.MaxWidth > 32000:
		return fmt.Errorf("width and maxWidth are at most 32000 px")
	}
	return nil
}

// String returns the spec of r again, canonical: the format, then the
// options given in the order quality, compression, width, maxWidth,
// resample.
func (r Rendition) String() string {
	var opts []string
	add := func(k, v string) {
		if v != "" && v != "0" {
			opts = append(opts, k+"="+v)
		}
	}
	add("quality", r.Quality)
	add("compression", r.Compression)
	add("width", strconv.Itoa(r.Width))
	add("maxWidth", strconv.Itoa(r.MaxWidth))
	add("resample", r.Resample)
	if len(opts) == 0 {
		return r.Format
	}
	return r.Format + ":" + strings.Join(opts, ",")
}

// MediaType returns the media type Adobe names r's format by: image/jpeg,
// image/png, image/tiff, image/vnd.adobe.photoshop, image/webp,
// image/x-adobe-dng, application/rdf+xml (XMP) or application/json.
func (r Rendition) MediaType() string {
	switch r.Format {
	case "jpeg":
		return "image/jpeg"
	case "png":
		return "image/png"
	case "tiff":
		return "image/tiff"
	case "psd":
		return "image/vnd.adobe.photoshop"
	case "webp":
		return "image/webp"
	case "dng":
		return "image/x-adobe-dng"
	case "xmp":
		return "application/rdf+xml"
	case "json":
		return "application/json"
	}
	return ""
}

// Ext returns the file name extension of r's format, without the dot: jpg,
// png, tif, psd, webp, dng, xmp or json.
func (r Rendition) Ext() string {
	switch r.Format {
	case "jpeg":
		return "jpg"
	case "tiff":
		return "tif"
	}
	return r.Format
}

// MarshalJSON writes r as its spec, as a recipe holds it.
func (r Rendition) MarshalJSON() ([]byte, error) { return strconv.AppendQuote(nil, r.String()), nil }

// decodeRecipe reads a rendition spec from a recipe.
func (r *Rendition) decodeRecipe(v any, p path) error {
	s, ok := v.(string)
	if !ok {
		return p.errorf("want a rendition such as \"jpeg:quality=maximum\", got %s", describe(v))
	}
	got, err := ParseRendition(s)
	if err != nil {
		return p.errorf("%v", err)
	}
	*r = got
	return nil
}
