package uploader

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/image/tiff"
)

// The files in testdata are described in testdata/README. progressive.jpg
// was made once, from a sample input, with libjpeg-turbo 2.1.5 (Go's
// encoder writes baseline JPEGs only):
//
//	djpeg -scale 1/2 sample-inputs/photos/rocket.jpg |
//		cjpeg -progressive -quality 80 -optimize >uploader/testdata/progressive.jpg

// inspectBytes inspects data as ValidateStep inspects a file for remove
// background.
func inspectBytes(data []byte) (Image, *RejectedError) {
	return inspect(bytes.NewReader(data), int64(len(data)))
}

func wantAccepted(t *testing.T, what string, data []byte, format string) {
	t.Helper()
	img, rej := inspectBytes(data)
	if rej != nil {
		t.Errorf("%s (%d bytes): %v", what, len(data), rej)
	} else if img.Format != format {
		t.Errorf("%s: format %q, want %q", what, img.Format, format)
	}
}

// wantRejected checks that data is rejected as a file of format (JPEG,
// PNG…) cut short, or damaged, with a reason holding each phrase.
func wantRejected(t *testing.T, what string, data []byte, format string, short bool, phrases ...string) {
	t.Helper()
	_, rej := inspectBytes(data)
	if rej == nil {
		t.Errorf("%s (%d bytes): accepted, want it rejected", what, len(data))
		return
	}
	prefix, hint := "the "+format+" is damaged: ", "damaged"
	if short {
		prefix, hint = "the "+format+" is cut short: ", "did not finish: copy or export it again"
	}
	if !strings.HasPrefix(rej.Reason, prefix) || !strings.Contains(rej.Suggestion, hint) || rej.Err != nil {
		t.Errorf("%s (%d bytes): rejected as %q (hint %q, error %v), want a reason starting %q and a hint with %q",
			what, len(data), rej.Reason, rej.Suggestion, rej.Err, prefix, hint)
	}
	for _, p := range phrases {
		if !strings.Contains(rej.Reason, p) {
			t.Errorf("%s (%d bytes): reason %q does not say %q", what, len(data), rej.Reason, p)
		}
	}
}

// cuts are lengths to truncate a file of n bytes to: early (in or near the
// header), midway, and just short of the end.
func cuts(n int) []int {
	var out []int
	for _, c := range []int{100, 1000, 10000, n / 3, n / 2, n - 100, n - 2, n - 1} {
		if c >= 100 && c < n {
			out = append(out, c)
		}
	}
	return out
}

// samples reads the real photographs in sample-inputs, by path.
func samples(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "sample-inputs", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = data
	}
	var jpegs, pngs int
	for p := range out {
		switch filepath.Ext(p) {
		case ".jpg":
			jpegs++
		case ".png":
			pngs++
		}
	}
	if jpegs == 0 || pngs == 0 {
		t.Fatalf("want JPEG and PNG samples in sample-inputs, have %d and %d", jpegs, pngs)
	}
	return out
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Real photographs pass whole, and are rejected when cut short.
func TestSamples(t *testing.T) {
	for p, data := range samples(t) {
		if _, err := ValidateStep(context.Background(), rbStep(), p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		format := strings.ToUpper(strings.TrimPrefix(filepath.Ext(p), "."))
		if format == "JPG" {
			format = "JPEG"
		}
		for _, n := range cuts(len(data)) {
			wantRejected(t, fmt.Sprintf("%s cut to %d bytes", p, n), data[:n], format, true)
		}
		// What `head -c` left of files in the field.
		switch {
		case format == "JPEG" && len(data) > 60000:
			_, rej := inspectBytes(data[:60000])
			if want := "the JPEG is cut short: it has no end marker (read 60000 bytes)"; rej == nil || rej.Reason != want {
				t.Errorf("%s cut to 60000 bytes: rejected %v, want %q", p, rej, want)
			}
		case format == "PNG" && len(data) > 100000:
			wantRejected(t, p+" cut to 100000 bytes", data[:100000], format, true, "chunk IDAT at byte", "runs past the end of the file (it would end at byte", "the file has 100000 bytes)")
		}
	}
}

// pngChunk is a PNG chunk of type typ, with its CRC.
func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

func TestPNGWithoutPixels(t *testing.T) {
	// A header that promises 5999×5999 px and nothing more: the size is
	// allowed, the header reads well, and the image is not there.
	wantRejected(t, "5999×5999 header only", pngHeader(5999, 5999), "PNG", true, "no IDAT")
	wantRejected(t, "header and IEND", append(pngHeader(5999, 5999), pngChunk("IEND", nil)...), "PNG", false, "no IDAT")

	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&b, image.NewGray(image.Rect(0, 0, 5999, 5999))); err != nil {
		t.Fatal(err)
	}
	wantAccepted(t, "5999×5999 with its pixels", b.Bytes(), "png")
}

func TestPNGDamaged(t *testing.T) {
	data := samples(t)[filepath.Join("..", "sample-inputs", "photos", "chelsea.png")]
	idat := bytes.Index(data, []byte("IDAT")) - 4 // the chunk starts with its length
	if idat < 8 {
		t.Fatal("no IDAT in chelsea.png")
	}
	flipped := bytes.Clone(data)
	flipped[idat+100] ^= 0x10
	wantRejected(t, "a byte flipped in IDAT", flipped, "PNG", false, fmt.Sprintf("chunk IDAT at byte %d fails its checksum", idat))

	bad := bytes.Clone(data)
	copy(bad[idat+4:], "I*AT")
	wantRejected(t, "a chunk type that is not letters", bad, "PNG", false, fmt.Sprintf("the chunk at byte %d has no valid type", idat))

	wantAccepted(t, "data after IEND", append(bytes.Clone(data), "trailing bytes a camera or tool added"...), "png")
}

func TestJPEGTrailingData(t *testing.T) {
	tail := append([]byte("\xff\xd8\xff\xe1\x00\x10thumbnail?"), make([]byte, 1000)...)
	for p, data := range samples(t) {
		if filepath.Ext(p) == ".jpg" {
			wantAccepted(t, p+" with data after EOI", append(bytes.Clone(data), tail...), "jpeg")
			// What follows the image is not taken for its end.
			wantRejected(t, p+" without EOI, with data after", append(bytes.Clone(data[:len(data)-2]), tail...), "JPEG", true, "no end marker")
		}
	}
}

func TestProgressiveJPEG(t *testing.T) {
	data := readTestdata(t, "progressive.jpg")
	if !bytes.Contains(data, []byte{0xFF, 0xC2}) || bytes.Count(data, []byte{0xFF, 0xDA}) < 2 {
		t.Fatal("testdata/progressive.jpg is not progressive (no SOF2, or a single scan)")
	}
	if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
		t.Fatalf("testdata/progressive.jpg: %v", err)
	}
	wantAccepted(t, "progressive", data, "jpeg")
	for _, n := range cuts(len(data)) {
		wantRejected(t, fmt.Sprintf("progressive cut to %d bytes", n), data[:n], "JPEG", true)
	}
}

func TestJPEGSegments(t *testing.T) {
	// Go writes SOI, DQT, SOF0, DHT, SOS, one scan and EOI.
	data := encode(t, jpegEnc, 64, 48)
	dht := bytes.Index(data, []byte{0xFF, 0xC4})
	eoi := len(data) - 2
	if dht < 0 || !bytes.HasSuffix(data, []byte{0xFF, 0xD9}) {
		t.Fatal("unexpected layout of Go's JPEG")
	}
	wantRejected(t, "cut inside DHT", data[:dht+10], "JPEG", true,
		fmt.Sprintf("segment DHT at byte %d runs past the end of the file", dht))

	withSegment := func(seg string) []byte {
		return append(append(bytes.Clone(data[:eoi]), seg...), 0xFF, 0xD9)
	}
	wantRejected(t, "a segment of length 1", withSegment("\xff\xc4\x00\x01"), "JPEG", false,
		fmt.Sprintf("segment DHT at byte %d has an impossible length (1)", eoi))
	wantRejected(t, "a comment longer than the file", append(bytes.Clone(data[:eoi]), "\xff\xfe\x10\x00comment"...), "JPEG", true,
		fmt.Sprintf("segment COM at byte %d runs past the end of the file", eoi))
	wantAccepted(t, "a comment and fill bytes after the scan", withSegment("\xff\xff\xff\xfe\x00\x06hello"), "jpeg")
	// Stuffed 0xFF bytes and restart markers are scan data; a scan whose
	// data ends with them still needs its EOI.
	wantAccepted(t, "stuffing and RST", withSegment("\xff\x00\xff\xd0\xff\xd7"), "jpeg")
	wantRejected(t, "stuffing and RST, no EOI", append(bytes.Clone(data[:eoi]), 0xFF, 0x00, 0xFF, 0xD3), "JPEG", true, "no end marker")
}

// byteOrder is binary.LittleEndian or binary.BigEndian.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// tiffEntry is a directory entry for buildTIFF: values of type SHORT or
// LONG, stored inline or after the directory as they need.
type tiffEntry struct {
	tag, typ uint16
	vals     []uint32
}

// buildTIFF writes a classic TIFF as many writers do: its directory at
// byte 8, the entries' out-of-line values after it, then the pixel data.
// entries is given the offset of the pixel data.
func buildTIFF(order byteOrder, entries func(pix uint32) []tiffEntry, pixels []byte) []byte {
	size := func(e tiffEntry) int { return len(e.vals) * int(tiffTypeSize[e.typ]) }
	es := entries(0)
	pix := 8 + 2 + 12*len(es) + 4
	for _, e := range es {
		if size(e) > 4 {
			pix += size(e)
		}
	}
	es = entries(uint32(pix))
	b := []byte("II*\x00")
	if order.String() == binary.BigEndian.String() {
		b = []byte("MM\x00*")
	}
	b = order.AppendUint32(b, 8)
	b = order.AppendUint16(b, uint16(len(es)))
	var extra []byte
	for _, e := range es {
		b = order.AppendUint16(b, e.tag)
		b = order.AppendUint16(b, e.typ)
		b = order.AppendUint32(b, uint32(len(e.vals)))
		var v []byte
		for _, x := range e.vals {
			if e.typ == tiffShort {
				v = order.AppendUint16(v, uint16(x))
			} else {
				v = order.AppendUint32(v, x)
			}
		}
		if len(v) > 4 {
			b = order.AppendUint32(b, uint32(8+2+12*len(es)+4+len(extra)))
			extra = append(extra, v...)
		} else {
			b = append(b, append(v, make([]byte, 4-len(v))...)...)
		}
	}
	b = order.AppendUint32(b, 0) // no next directory
	return append(append(b, extra...), pixels...)
}

// stripTIFF is an 8×4 grey TIFF in two strips of two rows, the strip
// tables of type typ (SHORT or LONG); pixels may be cut short or padded.
func stripTIFF(order byteOrder, typ uint16, pixels []byte) []byte {
	return buildTIFF(order, func(pix uint32) []tiffEntry {
		return []tiffEntry{
			{256, tiffShort, []uint32{8}}, {257, tiffShort, []uint32{4}}, {258, tiffShort, []uint32{8}},
			{259, tiffShort, []uint32{1}}, {262, tiffShort, []uint32{1}},
			{tiffStripOffsets, typ, []uint32{pix, pix + 16}},
			{277, tiffShort, []uint32{1}}, {278, tiffShort, []uint32{2}},
			{tiffStripByteCounts, typ, []uint32{16, 16}},
		}
	}, pixels)
}

// tileTIFF is an 8×4 grey TIFF in one 16×16 tile.
func tileTIFF(order byteOrder, pixels []byte) []byte {
	return buildTIFF(order, func(pix uint32) []tiffEntry {
		return []tiffEntry{
			{256, tiffShort, []uint32{8}}, {257, tiffShort, []uint32{4}}, {258, tiffShort, []uint32{8}},
			{259, tiffShort, []uint32{1}}, {262, tiffShort, []uint32{1}}, {277, tiffShort, []uint32{1}},
			{322, tiffShort, []uint32{16}}, {323, tiffShort, []uint32{16}},
			{tiffTileOffsets, tiffLong, []uint32{pix}}, {tiffTileByteCounts, tiffLong, []uint32{256}},
		}
	}, pixels)
}

func TestTIFF(t *testing.T) {
	for _, opts := range []*tiff.Options{nil, {Compression: tiff.Deflate}} {
		data := encode(t, func(w io.Writer, m image.Image) error { return tiff.Encode(w, m, opts) }, 40, 30)
		what := fmt.Sprintf("Go's TIFF, %+v", opts)
		wantAccepted(t, what, data, "tiff")
		for _, n := range append(cuts(len(data)), 8, 50) {
			wantRejected(t, fmt.Sprintf("%s cut to %d bytes", what, n), data[:n], "TIFF", true)
		}
	}

	pixels := bytes.Repeat([]byte{0x80}, 32)
	for _, order := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, typ := range []uint16{tiffShort, tiffLong} {
			what := fmt.Sprintf("strips (%v, type %d)", order, typ)
			data := stripTIFF(order, typ, pixels)
			if _, err := tiff.Decode(bytes.NewReader(data)); err != nil {
				t.Fatalf("%s: buildTIFF made a bad TIFF: %v", what, err)
			}
			wantAccepted(t, what, data, "tiff")
			wantRejected(t, what+" without its last byte", data[:len(data)-1], "TIFF", true,
				fmt.Sprintf("strip 2 of 2 (bytes %d to %d) lies past the end of the file (%d bytes)", len(data)-16, len(data), len(data)-1))
			wantRejected(t, what+" without its pixels", data[:len(data)-32], "TIFF", true, "strip 1 of 2")
		}
		data := tileTIFF(order, make([]byte, 256))
		if _, err := tiff.Decode(bytes.NewReader(data)); err != nil {
			t.Fatalf("tiles (%v): buildTIFF made a bad TIFF: %v", order, err)
		}
		wantAccepted(t, "tiles", data, "tiff")
		wantRejected(t, "tiles cut short", data[:len(data)-100], "TIFF", true, "tile 1 of 1")
	}

	// Old writers may leave the byte counts out; damaged tables are not.
	entries := func(drop, mismatch bool) func(uint32) []tiffEntry {
		return func(pix uint32) []tiffEntry {
			es := []tiffEntry{{256, tiffShort, []uint32{8}}, {257, tiffShort, []uint32{4}}, {262, tiffShort, []uint32{1}},
				{tiffStripOffsets, tiffLong, []uint32{pix}}, {tiffStripByteCounts, tiffLong, []uint32{32}}}
			switch {
			case drop:
				es = es[:4]
			case mismatch:
				es[4].vals = []uint32{16, 16}
			}
			return es
		}
	}
	wantAccepted(t, "no byte counts", buildTIFF(binary.LittleEndian, entries(true, false), pixels), "tiff")
	wantRejected(t, "no byte counts, no pixels", buildTIFF(binary.LittleEndian, entries(true, false), nil), "TIFF", true, "strip 1 of 1")
	wantRejected(t, "more counts than offsets", buildTIFF(binary.LittleEndian, entries(false, true), pixels), "TIFF", false,
		"1 strip offsets but 2 strip byte counts")
	noData := buildTIFF(binary.LittleEndian, func(uint32) []tiffEntry {
		return []tiffEntry{{256, tiffShort, []uint32{8}}, {257, tiffShort, []uint32{4}}, {262, tiffShort, []uint32{1}}}
	}, pixels)
	wantRejected(t, "no strips or tiles", noData, "TIFF", false, "no strip or tile offsets")
}

// Values from a hostile TIFF are checked against the file size before
// anything is read by them.
func TestTIFFHostile(t *testing.T) {
	le := binary.LittleEndian
	entry := func(tag, typ uint16, count, value uint32) []byte {
		b := le.AppendUint16(nil, tag)
		b = le.AppendUint16(b, typ)
		b = le.AppendUint32(b, count)
		return le.AppendUint32(b, value)
	}
	dir := func(es ...[]byte) []byte {
		b := le.AppendUint16([]byte("II*\x00\x08\x00\x00\x00"), uint16(len(es)))
		for _, e := range es {
			b = append(b, e...)
		}
		return append(b, 0, 0, 0, 0)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"directory past the end", []byte("II*\x00\xf0\xff\xff\xff"), "its directory at byte 4294967280 lies past the end"},
		{"65535 entries", le.AppendUint16([]byte("II*\x00\x08\x00\x00\x00"), 0xFFFF), "its directory at byte 8 runs past the end"},
		{"4 billion strip offsets", dir(entry(tiffStripOffsets, tiffLong, 0xFFFFFFFF, 8)), "the data of tag 273"},
		{"4 billion doubles", dir(entry(700, 12, 0xFFFFFFFF, 8)), "the data of tag 700"},
		{"strip at 4 GB", dir(entry(tiffStripOffsets, tiffLong, 1, 0xFFFFFFF0), entry(tiffStripByteCounts, tiffLong, 1, 0xFFFFFFF0)), "strip 1 of 1"},
		{"offsets past the end", dir(entry(tiffStripOffsets, tiffLong, 2, 0xFFFFFFF0)), "the data of tag 273"},
	}
	for _, tc := range tests {
		r := &countingReaderAt{r: bytes.NewReader(tc.data)}
		err := checkComplete("tiff", r, int64(len(tc.data)))
		var f *flaw
		if !errors.As(err, &f) || !f.short || !strings.Contains(f.what, tc.want) {
			t.Errorf("%s: %v, want it cut short: %q", tc.name, err, tc.want)
		}
		if n := r.n.Load(); n > 2*int64(len(tc.data))+8 {
			t.Errorf("%s: read %d bytes of %d", tc.name, n, len(tc.data))
		}
	}
}

func TestWebP(t *testing.T) {
	for _, name := range []string{"blue-purple-pink.lossy.webp", "gopher-doc.with-alpha.lossless.webp", "yellow_rose.lossy-with-alpha.webp"} {
		data := readTestdata(t, name)
		wantAccepted(t, name, data, "webp")
		for _, n := range append(cuts(len(data)), 30) {
			wantRejected(t, fmt.Sprintf("%s cut to %d bytes", name, n), data[:n], "WebP", true)
		}
		wantAccepted(t, name+" with data after it", append(bytes.Clone(data), make([]byte, 99)...), "webp")
	}

	// The last chunk's padding byte (after data of odd length) may be left
	// out of the RIFF length, and then of the file; but a file shorter
	// than its RIFF length is cut short, even by the padding byte alone.
	padded := webpVP8L(120, 80) // VP8L chunk of 5 bytes, padding byte counted
	wantAccepted(t, "padding counted and present", padded, "webp")
	unpadded := bytes.Clone(padded[:len(padded)-1])
	binary.LittleEndian.PutUint32(unpadded[4:], binary.LittleEndian.Uint32(unpadded[4:])-1)
	wantAccepted(t, "padding neither counted nor present", unpadded, "webp")
	wantRejected(t, "padding counted, not present", padded[:len(padded)-1], "WebP", true,
		fmt.Sprintf("its RIFF header gives its length as %d bytes but the file has %d", len(padded), len(padded)-1))

	// gopher-doc.with-alpha is VP8X (the header), ICCP, then VP8L.
	data := bytes.Clone(readTestdata(t, "gopher-doc.with-alpha.lossless.webp"))
	binary.LittleEndian.PutUint32(data[4:], binary.LittleEndian.Uint32(data[4:])-100)
	wantRejected(t, "a chunk longer than its RIFF container", data, "WebP", false, `chunk "VP8L" at byte`, "past the end of its RIFF container")
}

// noisy is a w×h image of random pixels, which compress badly: a large file
// from a small image.
func noisy(w, h int) image.Image {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range m.Pix {
		m.Pix[i] = uint8(r.Uint32())
	}
	return m
}

// synthetic returns a PNG and a JPEG of about n bytes each, sound in
// structure, their image data random bytes in pieces of chunk bytes: PNG
// IDAT chunks, and JPEG scans each after its own SOS segment, as in a
// progressive JPEG. Much faster to make than by encoding an image.
func synthetic(t testing.TB, n, chunk int) (pngData, jpegData []byte) {
	junk := make([]byte, chunk)
	rand.NewChaCha8([32]byte{1}).Read(junk)
	pngData = pngHeader(4000, 3000)
	idat := pngChunk("IDAT", junk)
	for len(pngData) < n {
		pngData = append(pngData, idat...)
	}
	pngData = append(pngData, pngChunk("IEND", nil)...)

	small := encode(t, jpegEnc, 16, 16)
	at := bytes.Index(small, []byte{0xFF, 0xDA})
	sos := small[at : at+2+int(binary.BigEndian.Uint16(small[at+2:]))]
	// Stuff each 0xFF, as an encoder does, so that the data has no marker.
	scan := append(bytes.Clone(sos), bytes.ReplaceAll(junk, []byte{0xFF}, []byte{0xFF, 0x00})...)
	jpegData = bytes.Clone(small[:at])
	for len(jpegData) < n {
		jpegData = append(jpegData, scan...)
	}
	return pngData, append(jpegData, 0xFF, 0xD9)
}

// The scan reads a large file to its end, and its memory does not grow
// with the file, nor with the number of its chunks or segments.
func TestScanMemory(t *testing.T) {
	smallPNG, smallJPEG := synthetic(t, 1<<20, 8<<10)
	bigPNG, bigJPEG := synthetic(t, 16<<20, 8<<10)
	badPNG := bytes.Clone(bigPNG)
	badPNG[len(badPNG)-100] ^= 1 // in the last IDAT
	wantRejected(t, "large PNG, a byte flipped near its end", badPNG, "PNG", false, "fails its checksum")
	wantRejected(t, "large JPEG, without EOI", bigJPEG[:len(bigJPEG)-2], "JPEG", true, "no end marker")
	for _, tc := range []struct {
		name       string
		small, big []byte
	}{{"png", smallPNG, bigPNG}, {"jpeg", smallJPEG, bigJPEG}} {
		wantAccepted(t, tc.name, tc.small, tc.name)
		wantAccepted(t, tc.name, tc.big, tc.name)
		small := testing.AllocsPerRun(3, func() { inspectBytes(tc.small) })
		big := testing.AllocsPerRun(3, func() { inspectBytes(tc.big) })
		if big != small {
			t.Errorf("%s: %v allocations for 1 MB, %v for 16 MB: want as many", tc.name, small, big)
		}
		least := uint64(1 << 62)
		for range 3 { // the least of three, in case something else allocated
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			inspectBytes(tc.big)
			runtime.ReadMemStats(&after)
			least = min(least, after.TotalAlloc-before.TotalAlloc)
		}
		if least > 256<<10 {
			t.Errorf("%s: inspecting 16 MB allocated %d bytes, want at most 256 KiB", tc.name, least)
		}
	}
}

func FuzzInspect(f *testing.F) {
	f.Add(encode(f, jpegEnc, 8, 8))
	f.Add(encode(f, pngEnc, 4, 4))
	f.Add(encode(f, tiffEnc, 4, 4))
	f.Add(stripTIFF(binary.BigEndian, tiffShort, make([]byte, 32)))
	f.Add(webpVP8L(3, 3))
	f.Add(readTestdata(f, "blue-purple-pink.lossy.webp"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &countingReaderAt{r: bytes.NewReader(data)}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		img, rej := inspect(r, int64(len(data)))
		runtime.ReadMemStats(&after)
		// The header (the first 512 bytes, then the decoder's reads), then
		// the scan: at most the file once, and of a TIFF its two tables.
		if n, max := r.n.Load(), 4*int64(len(data))+64<<10; n > max {
			t.Errorf("read %d bytes of a %d-byte file, want at most %d", n, len(data), max)
		}
		if c := r.calls.Load(); c > 200+int64(len(data))/64 {
			t.Errorf("%d reads of a %d-byte file", c, len(data))
		}
		// The TIFF decoder may allocate 10 MB to read a table.
		if a, max := after.TotalAlloc-before.TotalAlloc, 32*uint64(len(data))+16<<20; a > max {
			t.Errorf("allocated %d bytes for a %d-byte file, want at most %d", a, len(data), max)
		}
		switch {
		case rej != nil && (rej.Reason == "" || rej.Suggestion == ""):
			t.Errorf("rejected with reason %q and hint %q", rej.Reason, rej.Suggestion)
		case rej == nil && (img.Width < 1 || img.Height < 1 || img.Width > MaxSide || img.Height > MaxSide):
			t.Errorf("accepted %+v", img)
		}
	})
}

// BenchmarkInspect measures the whole of inspect (header and scan) over
// large images of noise, in memory: the scan's own speed, not the disk's.
func BenchmarkInspect(b *testing.B) {
	var jpegData, pngData bytes.Buffer
	if err := jpeg.Encode(&jpegData, noisy(3400, 3400), &jpeg.Options{Quality: 100}); err != nil {
		b.Fatal(err)
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&pngData, noisy(2300, 2300)); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		data []byte
	}{{"jpeg", jpegData.Bytes()}, {"png", pngData.Bytes()}} {
		b.Run(fmt.Sprintf("%s-%dMB", bc.name, len(bc.data)>>20), func(b *testing.B) {
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, rej := inspectBytes(bc.data); rej != nil {
					b.Fatal(rej)
				}
			}
		})
	}
}
