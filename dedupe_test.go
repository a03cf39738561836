package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// colourPNG is a small PNG of one colour, distinct for each i.
func colourPNG(i int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	c := color.RGBA{uint8(i * 37), uint8(i * 91 >> 1), uint8(255 - i*13), 255}
	for y := range 30 {
		for x := range 40 {
			img.SetRGBA(x, y, c)
		}
	}
	// A subject in the middle, for the cut-out to find.
	for y := 10; y < 20; y++ {
		for x := 15; x < 25; x++ {
			img.SetRGBA(x, y, color.RGBA{255 - c.R, 255 - c.G, 255 - c.B, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// dedupeRun runs hotfolder -once on in against emu and returns its stderr.
func dedupeRun(t *testing.T, emu emulatorProc, in, out string, extra ...string) string {
	t.Helper()
	args := append(emu.args(), append(fast(), "-in", in, "-out", out, "-once", "-storage", emu.url+"/storage")...)
	r := hotfolder(t, emu.env(), append(args, extra...)...)
	if r.code != exitOK {
		t.Fatalf("exit status %d, want 0:\n%s", r.code, r.stderr)
	}
	return r.stderr
}

// 60 images, 20 of them byte-identical copies of others in other folders
// under other names: one POST per distinct content, every output there and
// identical to its original's, and a rerun spends nothing.
func TestDedupeOnePostPerContent(t *testing.T) {
	emu := startEmulator(t, append(fast(), "-latency", "50ms-200ms")...)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	old := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	originals := map[string]string{} // copy → original, as input names
	for i := range 40 {
		name := fmt.Sprintf("shoot/img-%02d.png", i)
		write(t, filepath.Join(in, name), colourPNG(i))
		if i%2 == 0 {
			cp := fmt.Sprintf("catalogue-%d/export/copy of %02d.png", i%3, i)
			write(t, filepath.Join(in, cp), colourPNG(i))
			originals[cp] = name
		}
	}
	filepath.Walk(in, func(p string, fi os.FileInfo, err error) error { return os.Chtimes(p, old, old) })

	stderr := dedupeRun(t, emu, in, out)
	if n := emu.stats(t).Posts; n != 40 {
		t.Errorf("%d POSTs for 40 distinct contents, want 40", n)
	}
	if !strings.Contains(stderr, "20 saved by dedupe") {
		t.Errorf("the summary does not count the POSTs saved:\n%s", stderr)
	}
	for cp, orig := range originals {
		a, err1 := os.ReadFile(filepath.Join(out, strings.TrimSuffix(cp, ".png")+".png"))
		b, err2 := os.ReadFile(filepath.Join(out, orig))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) || len(a) == 0 {
			t.Errorf("output of %s (%v) differs from its original %s's (%v)", cp, err1, orig, err2)
		}
	}
	if n := outputCount(t, out); n != 60 {
		t.Errorf("%d outputs, want 60", n)
	}

	dedupeRun(t, emu, in, out)
	if n := emu.stats(t).Posts; n != 40 {
		t.Errorf("a rerun spent %d POSTs, want 0", n-40)
	}
}

// outputCount counts the regular files under dir, its state folder aside.
func outputCount(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".hotfolder" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// touch on 100 done inputs changes nothing that matters: 0 POSTs. A new
// -background changes every result: every input is new work.
func TestTouchCostsNothingNewSettingsDo(t *testing.T) {
	emu := startEmulator(t, append(fast(), "-latency", "50ms-200ms")...)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	old := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		p := filepath.Join(in, fmt.Sprintf("p%03d.png", i))
		write(t, p, colourPNG(i))
		os.Chtimes(p, old, old)
	}
	dedupeRun(t, emu, in, out)
	if n := emu.stats(t).Posts; n != 100 {
		t.Fatalf("first run: %d POSTs, want 100", n)
	}

	later := old.Add(24 * time.Hour)
	entries, _ := os.ReadDir(in)
	for _, e := range entries {
		if err := os.Chtimes(filepath.Join(in, e.Name()), later, later); err != nil {
			t.Fatal(err)
		}
	}
	stderr := dedupeRun(t, emu, in, out)
	if n := emu.stats(t).Posts; n != 100 {
		t.Errorf("after touch: %d POSTs, want 0", n-100)
	}
	if !strings.Contains(stderr, "100 skipped") {
		t.Errorf("touched inputs were not skipped:\n%s", stderr)
	}

	stderr = dedupeRun(t, emu, in, out, "-background", "ffffff")
	if n := emu.stats(t).Posts; n != 200 {
		t.Errorf("with a new -background: %d POSTs, want 100", n-100)
	}
	if !strings.Contains(stderr, "100 done") {
		t.Errorf("a new -background did not make every input new work:\n%s", stderr)
	}
}
