package main

// End-to-end tests of issue 13: every Photoshop API v2 operation, recipes
// of several steps and renditions, on the built binary and the emulator.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/image/tiff"
)

// fastAll lifts the limits of both services, so tests do not wait on them.
func fastAll() []string {
	return append(fast(), "-limit", "post=50/1s", "-limit", "get=500/1s")
}

// decodeSize decodes the image at path and returns its size.
func decodeSize(t *testing.T, path string) (w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var img image.Image
	if strings.HasSuffix(path, ".tif") {
		img, err = tiff.Decode(f)
	} else {
		img, _, err = image.Decode(f)
	}
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img.Bounds().Dx(), img.Bounds().Dy()
}

// oneProduct is a hot folder with one product shot, dated long ago.
func oneProduct(t *testing.T) string {
	t.Helper()
	in := t.TempDir()
	p := filepath.Join(in, "avocado.jpg")
	copyFile(t, "sample-inputs/products/avocado.jpg", p)
	old := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	return in
}

// Every operation, from the command line, on the built-in emulator: each
// writes its outputs, named by the rule, in the formats and sizes asked.
func TestEveryOperation(t *testing.T) {
	aux := t.TempDir()
	write(t, filepath.Join(aux, "house.atn"), []byte("8BAM action set of the house (a stand-in)"))
	copyFile(t, "sample-inputs/products/cherries.jpg", filepath.Join(aux, "logo.jpg"))
	w0, _ := decodeSize(t, "sample-inputs/products/avocado.jpg")
	tests := []struct {
		op    string
		flags []string
		check func(t *testing.T, out string)
	}{
		{"edit", []string{"-set", "autoTone=true", "-set", "light.exposure=0.5", "-output", "jpeg:quality=high", "-output", "xmp"},
			func(t *testing.T, out string) {
				if w, _ := decodeSize(t, filepath.Join(out, "avocado.jpg")); w != w0 {
					t.Errorf("edited width %d, want %d", w, w0)
				}
				if x, _ := os.ReadFile(filepath.Join(out, "avocado.xmp")); !bytes.Contains(x, []byte("x:xmpmeta")) {
					t.Errorf("avocado.xmp is not an XMP packet: %.80q", x)
				}
			}},
		{"actions", []string{"-set", "actions=" + filepath.Join(aux, "house.atn"), "-output", "png"},
			func(t *testing.T, out string) { decodeSize(t, filepath.Join(out, "avocado.png")) }},
		{"product-crop", []string{"-set", "padding=40px"},
			func(t *testing.T, out string) {
				if w, _ := decodeSize(t, filepath.Join(out, "avocado.png")); w >= w0 {
					t.Errorf("the product crop is %d wide, no narrower than the shot (%d)", w, w0)
				}
			}},
		{"composite", []string{"-set", "resize.width=400", "-set", "watermark=" + filepath.Join(aux, "logo.jpg"),
			"-output", "jpeg", "-output", "jpeg:maxWidth=200", "-output", "tiff", "-output", "psd"},
			func(t *testing.T, out string) {
				for name, want := range map[string]int{"avocado.jpg": 400, "avocado-200.jpg": 200, "avocado.tif": 400} {
					if w, _ := decodeSize(t, filepath.Join(out, name)); w != want {
						t.Errorf("%s is %d wide, want %d", name, w, want)
					}
				}
				if psd, _ := os.ReadFile(filepath.Join(out, "avocado.psd")); !bytes.HasPrefix(psd, []byte("8BPS")) {
					t.Error("avocado.psd is not a Photoshop document")
				}
			}},
		{"manifest", nil, func(t *testing.T, out string) {
			var m map[string]any
			data, _ := os.ReadFile(filepath.Join(out, "avocado.json"))
			if err := json.Unmarshal(data, &m); err != nil || !strings.Contains(string(data), fmt.Sprint(w0)) {
				t.Errorf("avocado.json: %v, or without the width %d: %.200s", err, w0, data)
			}
		}},
		{"auto-crop", []string{"-set", `aspectRatio=["1:1","4:5"]`},
			func(t *testing.T, out string) {
				if w, h := decodeSize(t, filepath.Join(out, "avocado-1x1.jpg")); w != h {
					t.Errorf("the 1:1 crop is %d×%d", w, h)
				}
				if w, h := decodeSize(t, filepath.Join(out, "avocado-4x5.jpg")); abs(5*w-4*h) > 5 {
					t.Errorf("the 4:5 crop is %d×%d", w, h)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.op, func(t *testing.T) {
			in, out := oneProduct(t), filepath.Join(t.TempDir(), "out")
			r := hotfolder(t, cleanEnv(), append(append(fastAll(), "-in", in, "-out", out, "-once", "-op", tc.op), tc.flags...)...)
			if r.code != exitOK {
				t.Fatalf("exit %d", r.code)
			}
			tc.check(t, out)
		})
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// threeSteps is a recipe of three steps and four renditions.
const threeSteps = `steps:
  - op: remove-background
  - op: product-crop
    padding: 40px
  - op: composite
    resize: {width: 600}
outputs:
  - jpeg:quality=maximum
  - jpeg:maxWidth=300
  - png:compression=high
  - tiff
`

// A recipe of three steps and four renditions: every input ends with its
// four outputs, named by the rule, sized as asked.
func TestRecipeThreeStepsFourRenditions(t *testing.T) {
	in, out := namedInputs(t, "p", 3), filepath.Join(t.TempDir(), "out")
	recipe := filepath.Join(t.TempDir(), "studio.yaml")
	write(t, recipe, []byte(threeSteps))
	r := hotfolder(t, cleanEnv(), append(fastAll(), "-in", in, "-out", out, "-once", "-recipe", recipe)...)
	if r.code != exitOK || !strings.Contains(r.stderr, "3 done") {
		t.Fatalf("exit %d, want 0 and 3 done", r.code)
	}
	for i := range 3 {
		stem := filepath.Join(out, fmt.Sprintf("p%02d", i))
		for name, want := range map[string]int{".jpg": 600, "-300.jpg": 300, ".png": 600, ".tif": 600} {
			if w, _ := decodeSize(t, stem+name); w != want {
				t.Errorf("%s%s is %d wide, want %d", stem, name, w, want)
			}
		}
	}
	if n := countFiles(out, "*"); n != 12+1 { // and .hotfolder
		t.Errorf("%d entries in the output folder, want 12 outputs and the state folder", n)
	}
}

// A run killed between steps goes on where it was: no finished step is
// paid for again.
func TestRecipeResumesBetweenSteps(t *testing.T) {
	emu := startEmulator(t, append(fastAll(), "-latency", "1500ms")...)
	const n = 4
	in, out := namedInputs(t, "p", n), filepath.Join(t.TempDir(), "out")
	recipe := filepath.Join(t.TempDir(), "two.yaml")
	write(t, recipe, []byte("steps:\n  - op: remove-background\n  - op: composite\n    resize: {width: 300}\noutputs: [jpeg]\n"))
	args := append(emu.args(), append(fastAll(), "-in", in, "-out", out, "-once", "-storage", emu.url+"/storage", "-recipe", recipe)...)
	cmd, _ := startHotfolderEnv(t, emu.env(), args...)
	// Every first step done, some second steps in flight.
	waitUntil(t, "the second steps", func() bool { return emu.stats(t).PostsByBucket["post"] >= 2 })
	cmd.Process.Signal(syscall.SIGKILL)
	exitCode(t, cmd)
	before := emu.stats(t)
	r := hotfolder(t, emu.env(), args...)
	if r.code != exitOK {
		t.Fatalf("rerun: exit %d", r.code)
	}
	st := emu.stats(t)
	rb, general := st.PostsByBucket["remove-background.post"], st.PostsByBucket["post"]
	t.Logf("before the kill: %d + %d POSTs; in all %d + %d for %d inputs", before.PostsByBucket["remove-background.post"],
		before.PostsByBucket["post"], rb, general, n)
	// A kill between a POST's answer and its journal write costs one.
	if rb > n+1 || general > n+1 || rb+general > 2*n+1 {
		t.Errorf("%d remove background and %d composite POSTs for %d inputs: a finished step was paid for again", rb, general, n)
	}
	for i := range n {
		if w, _ := decodeSize(t, filepath.Join(out, fmt.Sprintf("p%02d.jpg", i))); w != 300 {
			t.Errorf("p%02d.jpg is %d wide, want 300", i, w)
		}
	}
}

// A recipe that spends both services' buckets at once keeps to both: the
// emulator, enforcing them as exact windows, answers no 429.
func TestMixedBucketsKeepToBoth(t *testing.T) {
	limits := []string{"-limit", "remove-background.post=12/3s", "-limit", "post=15/3s",
		"-limit", "remove-background.get=500/1s", "-limit", "get=300/3s"}
	emu := startEmulator(t, append(limits, "-latency", "200ms-600ms")...)
	const n = 24
	in, out := namedInputs(t, "m", n), filepath.Join(t.TempDir(), "out")
	recipe := filepath.Join(t.TempDir(), "two.yaml")
	write(t, recipe, []byte("steps:\n  - op: remove-background\n  - op: composite\n    resize: {width: 200}\noutputs: [png]\n"))
	r := hotfolder(t, emu.env(), append(emu.args(), append(limits, "-in", in, "-out", out, "-once",
		"-storage", emu.url+"/storage", "-recipe", recipe)...)...)
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	st := emu.stats(t)
	if st.TooMany != 0 || st.LimitRefusals != 0 {
		t.Errorf("the emulator answered %d 429s (%d over a limit), want none", st.TooMany, st.LimitRefusals)
	}
	if st.PostsByBucket["remove-background.post"] != n || st.PostsByBucket["post"] != n {
		t.Errorf("POSTs %v, want %d on each service", st.PostsByBucket, n)
	}
	if got := countFiles(out, "*.png"); got != n {
		t.Errorf("%d outputs, want %d", got, n)
	}
}
