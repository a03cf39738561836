package emulator

import "image/color"

// Remove-background modes of the v2 contract.
const (
	modeCutout = "cutout"
	modeMask   = "mask"
	modePSD    = "psd"
)

// jobSpec is a validated remove-background submission.
type jobSpec struct {
	source     string
	mode       string
	mediaType  string // "" = the input's format
	trim       bool
	background *color.NRGBA
}
