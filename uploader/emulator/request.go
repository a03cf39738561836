package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Remove-background modes and output media types of the v2 contract.
const (
	modeCutout = "cutout"
	modeMask   = "mask"
	modePSD    = "psd"

	mediaJPEG = "image/jpeg"
	mediaPNG  = "image/png"
	mediaWebP = "image/webp"
	mediaPSD  = "image/vnd.adobe.photoshop"
)

// maxRequestBody bounds a submission's JSON body; real ones are < 2 KiB.
const maxRequestBody = 1 << 20

// rbRequest is the body of POST /v2/remove-background. Pointers tell a
// missing field from a zero one.
type rbRequest struct {
	Image *struct {
		Source *struct {
			URL *string `json:"url"`
		} `json:"source"`
	} `json:"image"`
	Mode   *string `json:"mode"`
	Output *struct {
		MediaType *string `json:"mediaType"`
	} `json:"output"`
	Trim            *bool `json:"trim"`
	BackgroundColor *struct {
		Red   *float64 `json:"red"`
		Green *float64 `json:"green"`
		Blue  *float64 `json:"blue"`
		Alpha *float64 `json:"alpha"`
	} `json:"backgroundColor"`
	ColorDecontamination *float64 `json:"colorDecontamination"`
}

// jobSpec is a validated submission.
type jobSpec struct {
	source     string
	mode       string
	mediaType  string // "" = the input's format
	trim       bool
	background *color.NRGBA
}

// knownFields lists the fields the v2 contract defines for the object at
// path ("" is the top level; nil: not an object). The emulator refuses
// other fields, so a misspelt one ("mediatype") fails loudly in tests
// instead of being silently ignored.
func knownFields(path string) []string {
	switch path {
	case "":
		return []string{"image", "mode", "output", "trim", "backgroundColor", "colorDecontamination"}
	case "image":
		return []string{"source"}
	case "image.source":
		return []string{"url"}
	case "output":
		return []string{"mediaType"}
	case "backgroundColor":
		return []string{"red", "green", "blue", "alpha"}
	}
	return nil
}

// parseRemoveBackground reads and validates a submission, answering 400
// itself when it is not acceptable.
func parseRemoveBackground(w http.ResponseWriter, r *http.Request) (jobSpec, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeAPIError(w, http.StatusBadRequest, "invalid_content_type",
			"Content-Type must be application/json, got "+quoteOrNone(r.Header.Get("Content-Type")))
		return jobSpec{}, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_json", "the request body could not be read")
		return jobSpec{}, false
	}
	if len(body) > maxRequestBody {
		writeAPIError(w, http.StatusBadRequest, "invalid_json", "the request body is larger than 1 MiB")
		return jobSpec{}, false
	}
	var req rbRequest
	if err := json.Unmarshal(body, &req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			writeAPIError(w, http.StatusBadRequest, "validation_error", "the request is not valid",
				fieldError{"invalid_type", fmt.Sprintf("%s must be a %s, not a %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)})
			return jobSpec{}, false
		}
		writeAPIError(w, http.StatusBadRequest, "invalid_json", "the request body is not valid JSON: "+err.Error())
		return jobSpec{}, false
	}
	var errs []fieldError
	errs = append(errs, unknownFields(body, "")...)
	spec := jobSpec{mode: modeCutout}

	if req.Image == nil || req.Image.Source == nil || req.Image.Source.URL == nil || *req.Image.Source.URL == "" {
		errs = append(errs, fieldError{"missing_field", "image.source.url is required"})
	} else {
		spec.source = *req.Image.Source.URL
		u, err := url.Parse(spec.source)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fieldError{"invalid_value", "image.source.url must be an http or https URL"})
		}
	}
	if req.Mode != nil {
		spec.mode = *req.Mode
		if !slices.Contains([]string{modeCutout, modeMask, modePSD}, spec.mode) {
			errs = append(errs, fieldError{"invalid_value", fmt.Sprintf("mode must be cutout, mask or psd, not %q", spec.mode)})
		}
	}
	if req.Output != nil && req.Output.MediaType != nil {
		spec.mediaType = *req.Output.MediaType
		if !slices.Contains([]string{mediaJPEG, mediaPNG, mediaWebP, mediaPSD}, spec.mediaType) {
			errs = append(errs, fieldError{"invalid_value", fmt.Sprintf(
				"output.mediaType must be image/jpeg, image/png, image/webp or image/vnd.adobe.photoshop, not %q", spec.mediaType)})
		}
	}
	if req.Trim != nil {
		spec.trim = *req.Trim
	}
	if bc := req.BackgroundColor; bc != nil {
		var c [3]uint8
		for i, f := range []struct {
			name string
			v    *float64
		}{{"red", bc.Red}, {"green", bc.Green}, {"blue", bc.Blue}} {
			switch {
			case f.v == nil:
				errs = append(errs, fieldError{"missing_field", "backgroundColor." + f.name + " is required"})
			case *f.v < 0 || *f.v > 255 || *f.v != math.Trunc(*f.v):
				errs = append(errs, fieldError{"invalid_value", fmt.Sprintf("backgroundColor.%s must be a whole number from 0 to 255, not %v", f.name, *f.v)})
			default:
				c[i] = uint8(*f.v)
			}
		}
		var a uint8
		switch {
		case bc.Alpha == nil:
			errs = append(errs, fieldError{"missing_field", "backgroundColor.alpha is required"})
		case *bc.Alpha < 0 || *bc.Alpha > 1:
			errs = append(errs, fieldError{"invalid_value", fmt.Sprintf("backgroundColor.alpha must be from 0 to 1, not %v", *bc.Alpha)})
		default:
			a = uint8(math.Round(*bc.Alpha * 255))
		}
		spec.background = &color.NRGBA{c[0], c[1], c[2], a}
	}
	if cd := req.ColorDecontamination; cd != nil && (*cd < 0 || *cd > 1) {
		errs = append(errs, fieldError{"invalid_value", fmt.Sprintf("colorDecontamination must be from 0 to 1, not %v", *cd)})
	}
	if len(errs) > 0 {
		writeAPIError(w, http.StatusBadRequest, "validation_error", "the request is not valid", errs...)
		return jobSpec{}, false
	}
	return spec, true
}

// unknownFields reports fields of the object at path (and below) that the
// contract does not define. body has already been parsed successfully.
func unknownFields(body []byte, path string) []fieldError {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return nil // not an object: the typed decode reported it already
	}
	var errs []fieldError
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		full := k
		if path != "" {
			full = path + "." + k
		}
		if !slices.Contains(knownFields(path), k) {
			errs = append(errs, fieldError{"unknown_field", full + " is not a field of the remove-background request"})
			continue
		}
		if knownFields(full) != nil && !bytes.Equal(bytes.TrimSpace(obj[k]), []byte("null")) {
			errs = append(errs, unknownFields(obj[k], full)...)
		}
	}
	return errs
}

func jsonKind(goKind string) string {
	switch goKind {
	case "float64", "int":
		return "number"
	case "bool":
		return "boolean"
	case "struct", "map":
		return "object"
	}
	return goKind
}

func quoteOrNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "none"
	}
	return fmt.Sprintf("%q", s)
}
