package uploader

import (
	"strings"
	"testing"
)

func TestJobFailedHint(t *testing.T) {
	const end = "the job was not resubmitted (that would spend quota again)"
	tests := []struct {
		code string
		want []string // key words of the hint
	}{
		// Adobe's documented errorCode values.
		{"400400", []string{"invalid JSON", "bug in hotfolder"}},
		{"400401", []string{"not valid", "input file", "6000×6000", "-format"}},
		{"400410", []string{"required fields", "bug in hotfolder"}},
		{"400420", []string{"required fields", "bug in hotfolder"}},
		{"400411", []string{"content filters", "leave it out"}},
		{"403401", []string{"not authorized", "Photoshop API"}},
		{"403421", []string{"quota", "renews"}},
		{"404", []string{"job not found", "put the file in the hot folder again"}},
		{"422404", []string{"output", "-format"}},
		{"500600", []string{"internal error", "later"}},
		// The emulator's codes.
		{"input_fetch_failed", []string{"storage URL", "reachable from the internet", "allow-lists"}},
		{"input_unreadable", []string{"could not be decoded", "damaged", "export it again"}},
		{"INPUT_UNREADABLE", []string{"could not be decoded"}}, // codes match whatever their case
		{"input_too_large", []string{"6000×6000", "scale it down"}},
		{"unsupported_input", []string{"not a JPEG, PNG, WebP or TIFF", "convert"}},
		{"unsupported_option", []string{"emulator", "PNG and JPEG only", "-format png", "-format jpeg"}},
		{"runtime_error", []string{"internal error", "later"}},
		// Unknown codes, including ones that merely contain a known word.
		{"no_output", []string{"check the image"}},
		{"bad_input", []string{"check the image"}},
		{"4004011", []string{"check the image"}},
		{"", []string{"check the image"}},
	}
	for _, tc := range tests {
		h := (&JobFailedError{JobID: "j", Code: tc.code}).Hint()
		for _, w := range tc.want {
			if !strings.Contains(h, w) {
				t.Errorf("code %q: hint %q does not say %q", tc.code, h, w)
			}
		}
		// Where the reason comes last, the hint ends with it; else it starts so.
		if !strings.HasSuffix(h, "; "+end) && !strings.HasPrefix(h, end+": ") {
			t.Errorf("code %q: hint %q does not say the job was not resubmitted", tc.code, h)
		}
		// Only a failed download of the input is about storage.
		lower := strings.ToLower(h)
		mentions := strings.Contains(lower, "storage") || strings.Contains(lower, "url") || strings.Contains(lower, "allow-list")
		if fetch := strings.EqualFold(tc.code, "input_fetch_failed"); mentions != fetch {
			t.Errorf("code %q: hint %q mentions storage, URLs or allow-lists: %v, want %v", tc.code, h, mentions, fetch)
		}
	}
}
