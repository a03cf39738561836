package uploader

import (
	"os"
	"path/filepath"
	"testing"
)

// Complete names an image's format by its content and refuses anything
// that is not a whole image.
func TestComplete(t *testing.T) {
	full := blankPNG(300, 200)
	psd := append([]byte("8BPS\x00\x01"), make([]byte, 40)...)
	for _, tc := range []struct {
		name string
		data []byte
		want string // "" : refused
	}{
		{"png", full, "png"},
		{"png cut short", full[:len(full)-1], ""},
		{"text", []byte("not an image\n"), ""},
		{"psd", psd, "psd"},
		{"empty", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out")
			if err := os.WriteFile(path, tc.data, 0o666); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := Complete(f)
			if got != tc.want || (err == nil) != (tc.want != "") {
				t.Errorf("Complete = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	jpg, err := os.Open("../sample-inputs/products/apricot.jpg")
	if err != nil {
		t.Fatal(err)
	}
	defer jpg.Close()
	if got, err := Complete(jpg); got != "jpeg" || err != nil {
		t.Errorf("Complete(apricot.jpg) = %q, %v", got, err)
	}
}
