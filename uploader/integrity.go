package uploader

// A structural completeness scan, run once an image's header has passed:
// a file cut short (a copy or an export that did not finish) has a header
// that reads perfectly well, and without this scan each one would cost a
// paid request that Adobe then fails.
//
// Cost: the file is read at most once, front to back, through one fixed
// buffer; no pixel is decoded and memory does not grow with the file.
// JPEG: every segment is located by its length (and skipped unread) and
// every byte of entropy-coded data is searched for markers. PNG: every
// byte is read, to check each chunk's CRC-32. TIFF: only the first
// directory and its strip or tile tables are read; where the pixel data
// lies is checked against the file size, unread. WebP: only the chunk
// headers are read.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Buffer sizes of the scan. JPEG and PNG are read through in full; TIFF
// and WebP only in small pieces.
const (
	scanBuffer  = 32 << 10
	smallBuffer = 4 << 10
)

// flaw is what the scan found wrong with a file.
type flaw struct {
	short bool   // cut short, rather than damaged
	what  string // e.g. "it has no end marker (read 60000 bytes)"
}

func (f *flaw) Error() string {
	if f.short {
		return "cut short: " + f.what
	}
	return "damaged: " + f.what
}

func cutShort(format string, a ...any) *flaw {
	return &flaw{short: true, what: fmt.Sprintf(format, a...)}
}

func damaged(format string, a ...any) *flaw {
	return &flaw{what: fmt.Sprintf(format, a...)}
}

// orCutShort returns f when err is the end of the file coming too soon,
// and err itself (a failure to read) otherwise.
func orCutShort(err error, f *flaw) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return f
	}
	return err
}

// checkComplete scans an image of size bytes and the given format (jpeg,
// png, tiff, webp or psd) for a structure cut short or damaged. It returns a
// *flaw, or the error that stopped it reading.
func checkComplete(format string, r io.ReaderAt, size int64) error {
	switch format {
	case "jpeg":
		return scanJPEG(newStream(r, size, scanBuffer))
	case "png":
		return scanPNG(newStream(r, size, scanBuffer))
	case "tiff":
		return scanTIFF(r, size)
	case "webp":
		return scanWebP(newStream(r, size, smallBuffer))
	case "psd":
		return scanPSD(r, size)
	}
	return nil
}

// stream reads a file front to back through a fixed buffer, keeping count
// of where it is. It skips ahead without reading what it skips (when that
// is more than it holds), and never goes back.
type stream struct {
	sr   *io.SectionReader
	br   *bufio.Reader
	pos  int64 // offset of the next byte
	size int64
}

func newStream(r io.ReaderAt, size int64, buf int) *stream {
	sr := io.NewSectionReader(r, 0, size)
	return &stream{sr: sr, br: bufio.NewReaderSize(sr, buf), size: size}
}

// read fills p, or fails with io.EOF or io.ErrUnexpectedEOF at the end.
func (s *stream) read(p []byte) error {
	n, err := io.ReadFull(s.br, p)
	s.pos += int64(n)
	return err
}

func (s *stream) discard(n int) {
	d, _ := s.br.Discard(n) // n is at most what is buffered
	s.pos += int64(d)
}

// skip moves n bytes ahead. Past the end it fails with io.ErrUnexpectedEOF,
// at the end.
func (s *stream) skip(n int64) error {
	if n <= int64(s.br.Buffered()) {
		s.discard(int(n))
		return nil
	}
	short := n > s.size-s.pos
	s.pos = min(s.pos+n, s.size)
	// Seeking drops what is buffered: cheaper than reading what is skipped.
	if _, err := s.sr.Seek(s.pos, io.SeekStart); err != nil {
		return err
	}
	s.br.Reset(s.sr)
	if short {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// crc reads n bytes, folding them into the CRC-32 crc, without copying
// them out of the buffer.
func (s *stream) crc(crc uint32, n int64) (uint32, error) {
	for n > 0 {
		p, err := s.br.Peek(int(min(n, int64(s.br.Size()))))
		crc = crc32.Update(crc, crc32.IEEETable, p)
		s.discard(len(p))
		n -= int64(len(p))
		if err != nil && n > 0 {
			return crc, err
		}
	}
	return crc, nil
}

// marker reads on to the next JPEG marker and returns its code (the byte
// after 0xFF). Within entropy-coded data (inScan), 0xFF00 (a stuffed 0xFF
// byte) and the restart markers RST0-RST7 are data, not the end of the data.
// Between segments, any bytes before a marker are skipped as libjpeg does;
// 0xFF fill bytes before a marker are allowed anywhere.
func (s *stream) marker(inScan bool) (byte, error) {
	for {
		p, err := s.br.Peek(max(s.br.Buffered(), 2))
		i := bytes.IndexByte(p, 0xFF)
		if i < 0 || i+1 == len(p) {
			if i < 0 {
				s.discard(len(p))
			} else {
				// Only the marker's first byte is here: keep it for the
				// next round, which will have the byte after it.
				s.discard(i)
			}
			if err != nil {
				return 0, err
			}
			continue
		}
		switch m := p[i+1]; {
		case m == 0xFF: // fill byte: the marker's code is further on
			s.discard(i + 1)
		case m == 0x00 || inScan && m >= 0xD0 && m <= 0xD7:
			s.discard(i + 2)
		default:
			s.discard(i + 2)
			return m, nil
		}
	}
}

// JPEG markers the scan tells apart.
const (
	jpegSOI = 0xD8
	jpegEOI = 0xD9
	jpegSOS = 0xDA
	jpegTEM = 0x01
)

// scanJPEG walks a JPEG's segments from SOI to EOI. After each start of
// scan (SOS) it reads through the entropy-coded data to the marker that
// ends it; a progressive JPEG has several scans, with tables between them.
// Bytes after EOI are ignored: cameras append data there.
func scanJPEG(s *stream) error {
	noEnd := func(err error) error {
		return orCutShort(err, cutShort("it has no end marker (read %d bytes)", s.size))
	}
	if err := s.skip(2); err != nil { // SOI, checked with the header
		return noEnd(err)
	}
	var next byte // a marker that ended entropy-coded data, to handle next
	var l [2]byte // a segment's length; out of the loop, allocated once
	for {
		m := next
		next = 0
		if m == 0 {
			var err error
			if m, err = s.marker(false); err != nil {
				return noEnd(err)
			}
		}
		at := s.pos - 2
		switch {
		case m == jpegEOI:
			return nil
		case m == jpegSOI, m == jpegTEM, m >= 0xD0 && m <= 0xD7:
			continue // markers without a segment
		}
		if err := s.read(l[:]); err != nil {
			return noEnd(err)
		}
		n := int64(binary.BigEndian.Uint16(l[:]))
		if n < 2 {
			return damaged("segment %s at byte %d has an impossible length (%d)", jpegName(m), at, n)
		}
		if end := at + 2 + n; end > s.size {
			return cutShort("segment %s at byte %d runs past the end of the file (it would end at byte %d; the file has %d bytes)",
				jpegName(m), at, end, s.size)
		}
		if err := s.skip(n - 2); err != nil {
			return noEnd(err)
		}
		if m == jpegSOS {
			var err error
			if next, err = s.marker(true); err != nil {
				return noEnd(err)
			}
		}
	}
}

// jpegName names a marker as the JPEG standard does, for messages.
func jpegName(m byte) string {
	switch {
	case m == 0xC4:
		return "DHT"
	case m == 0xCC:
		return "DAC"
	case m >= 0xC0 && m <= 0xCF:
		return fmt.Sprintf("SOF%d", m-0xC0)
	case m == 0xDA:
		return "SOS"
	case m == 0xDB:
		return "DQT"
	case m == 0xDD:
		return "DRI"
	case m >= 0xE0 && m <= 0xEF:
		return fmt.Sprintf("APP%d", m-0xE0)
	case m == 0xFE:
		return "COM"
	}
	return fmt.Sprintf("0xFF%02X", m)
}

// scanPNG walks a PNG's chunks from the signature to IEND, checking each
// chunk's CRC-32. Bytes after IEND are ignored.
func scanPNG(s *stream) error {
	if err := s.skip(8); err != nil { // signature, checked with the header
		return orCutShort(err, cutShort("it ends inside its signature"))
	}
	var hdr, want [8]byte // out of the loop, allocated once
	idats := 0
	for first := true; ; first = false {
		at := s.pos
		if err := s.read(hdr[:]); err != nil {
			if idats == 0 {
				return orCutShort(err, cutShort("it ends at byte %d, before any image data (no IDAT chunk)", s.size))
			}
			return orCutShort(err, cutShort("it has no IEND end chunk (read %d bytes)", s.size))
		}
		n, typ := binary.BigEndian.Uint32(hdr[:4]), hdr[4:]
		if !pngChunkType(typ) {
			return damaged("the chunk at byte %d has no valid type (%q)", at, typ)
		}
		if n > 1<<31-1 { // the PNG standard's limit
			return damaged("chunk %s at byte %d has an impossible length (%d)", typ, at, n)
		}
		if first && string(typ) != "IHDR" {
			return damaged("its first chunk is %s, not IHDR", typ)
		}
		if end := at + 12 + int64(n); end > s.size {
			return cutShort("chunk %s at byte %d runs past the end of the file (it would end at byte %d; the file has %d bytes)", typ, at, end, s.size)
		}
		sum, err := s.crc(crc32.ChecksumIEEE(typ), int64(n))
		if err == nil {
			err = s.read(want[:4])
		}
		if err != nil {
			return orCutShort(err, cutShort("chunk %s at byte %d runs past the end of the file", typ, at))
		}
		if sum != binary.BigEndian.Uint32(want[:4]) {
			return damaged("chunk %s at byte %d fails its checksum", typ, at)
		}
		switch string(typ) {
		case "IDAT":
			idats++
		case "IEND":
			if idats == 0 {
				return damaged("it has no image data (no IDAT chunk before IEND)")
			}
			return nil
		}
	}
}

// pngChunkType reports whether t is a chunk type: four ASCII letters.
func pngChunkType(t []byte) bool {
	for _, c := range t {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// TIFF tags and field types the scan reads.
const (
	tiffStripOffsets    = 273
	tiffStripByteCounts = 279
	tiffTileOffsets     = 324
	tiffTileByteCounts  = 325

	tiffShort = 3
	tiffLong  = 4
)

// tiffTypeSize is the size in bytes of a value of each TIFF 6.0 field type
// (1 BYTE … 12 DOUBLE, 13 IFD); 0 for unknown types, which readers ignore.
var tiffTypeSize = [...]uint64{1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}

// tiffField is a directory entry whose values are read: strip or tile
// offsets or byte counts.
type tiffField struct {
	tag, typ uint16
	count    uint32
	value    [4]byte // the values if they fit, else their offset
}

// scanTIFF checks a classic TIFF's first directory (IFD0): that each
// entry's out-of-line data, and each strip or tile of pixel data, lies
// inside the file. The pixel data is not read. Later directories (pages,
// thumbnails) are not followed, so a looping chain of directories costs
// nothing; every count read from the file is checked against the file
// size before anything is read by it.
func scanTIFF(r io.ReaderAt, size int64) error {
	var head [8]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return orCutShort(err, cutShort("it ends inside its header"))
	}
	var order binary.ByteOrder = binary.LittleEndian
	if head[0] == 'M' {
		order = binary.BigEndian
	}
	dir := int64(order.Uint32(head[4:]))
	s := newStream(r, size, smallBuffer)
	var cnt [2]byte
	if err := s.skip(dir); err != nil {
		return orCutShort(err, cutShort("its directory at byte %d lies past the end of the file (%d bytes)", dir, size))
	}
	if err := s.read(cnt[:]); err != nil {
		return orCutShort(err, cutShort("its directory at byte %d lies past the end of the file (%d bytes)", dir, size))
	}
	n := int64(order.Uint16(cnt[:]))
	// The entries, then the offset of the next directory.
	if end := dir + 2 + 12*n + 4; end > size {
		return cutShort("its directory at byte %d runs past the end of the file (it would end at byte %d; the file has %d bytes)", dir, end, size)
	}
	var fields [4]tiffField // strip offsets, strip byte counts, tile offsets, tile byte counts
	var e [12]byte
	for i := range n {
		if err := s.read(e[:]); err != nil {
			return orCutShort(err, cutShort("its directory at byte %d runs past the end of the file", dir))
		}
		f := tiffField{tag: order.Uint16(e[0:]), typ: order.Uint16(e[2:]), count: order.Uint32(e[4:])}
		copy(f.value[:], e[8:])
		if int(f.typ) >= len(tiffTypeSize) {
			continue
		}
		if l := uint64(f.count) * tiffTypeSize[f.typ]; l > 4 {
			if off := uint64(order.Uint32(f.value[:])); off+l > uint64(size) {
				return cutShort("the data of tag %d (entry %d of its directory) lies past the end of the file (bytes %d to %d; the file has %d)",
					f.tag, i+1, off, off+l, size)
			}
		}
		switch f.tag {
		case tiffStripOffsets:
			fields[0] = f
		case tiffStripByteCounts:
			fields[1] = f
		case tiffTileOffsets:
			fields[2] = f
		case tiffTileByteCounts:
			fields[3] = f
		}
	}
	switch {
	case fields[0].tag != 0:
		return checkTIFFBlocks(r, order, size, "strip", fields[0], fields[1])
	case fields[2].tag != 0:
		return checkTIFFBlocks(r, order, size, "tile", fields[2], fields[3])
	}
	return damaged("its first directory locates no image data (no strip or tile offsets)")
}

// tiffBlock is how many strip or tile offsets (and counts) are read at a
// time.
const tiffBlock = 512

// checkTIFFBlocks checks that each strip or tile (kind) lies inside the
// file, reading offsets and byte counts a block at a time. Both tables are
// known to lie inside the file, so their size is bounded by it.
func checkTIFFBlocks(r io.ReaderAt, order binary.ByteOrder, size int64, kind string, offsets, counts tiffField) error {
	for _, f := range []tiffField{offsets, counts} {
		if f.tag != 0 && f.typ != tiffShort && f.typ != tiffLong {
			return damaged("its %s table (tag %d) has values of type %d, not SHORT or LONG", kind, f.tag, f.typ)
		}
	}
	// Some old writers leave the byte counts out, and readers such as
	// libtiff work them out; then each strip must at least start inside
	// the file.
	hasCounts := counts.tag != 0
	if hasCounts && counts.count != offsets.count {
		return damaged("it has %d %s offsets but %d %s byte counts", offsets.count, kind, counts.count, kind)
	}
	var raw [tiffBlock * 4]byte
	var off, cnt [tiffBlock]uint64
	for i := uint64(0); i < uint64(offsets.count); i += tiffBlock {
		k := min(tiffBlock, uint64(offsets.count)-i)
		if err := offsets.read(r, order, i, off[:k], raw[:]); err != nil {
			return orCutShort(err, cutShort("its %s offsets lie past the end of the file", kind))
		}
		if !hasCounts {
			for j := range cnt[:k] {
				cnt[j] = 1
			}
		} else if err := counts.read(r, order, i, cnt[:k], raw[:]); err != nil {
			return orCutShort(err, cutShort("its %s byte counts lie past the end of the file", kind))
		}
		for j := range k {
			if end := off[j] + cnt[j]; end > uint64(size) {
				return cutShort("%s %d of %d (bytes %d to %d) lies past the end of the file (%d bytes)",
					kind, i+j+1, offsets.count, off[j], end, size)
			}
		}
	}
	return nil
}

// read reads values [i, i+len(dst)) of a SHORT or LONG field into dst,
// using raw (at least 4×len(dst) bytes) for the bytes.
func (f tiffField) read(r io.ReaderAt, order binary.ByteOrder, i uint64, dst []uint64, raw []byte) error {
	w := int64(tiffTypeSize[f.typ])
	p := raw[:int64(len(dst))*w]
	if int64(f.count)*w <= 4 {
		copy(p, f.value[:])
	} else if _, err := r.ReadAt(p, int64(order.Uint32(f.value[:]))+int64(i)*w); err != nil {
		return err
	}
	for j := range dst {
		if w == 2 {
			dst[j] = uint64(order.Uint16(p[2*j:]))
		} else {
			dst[j] = uint64(order.Uint32(p[4*j:]))
		}
	}
	return nil
}

// scanWebP checks that a WebP's RIFF container fits in the file and that
// each chunk in it lies inside the container. Chunk data is skipped
// unread.
func scanWebP(s *stream) error {
	var h [12]byte
	if err := s.read(h[:]); err != nil {
		return orCutShort(err, cutShort("it ends inside its RIFF header"))
	}
	// The RIFF size counts what follows its own 8 bytes: "WEBP" and the
	// chunks, each chunk of odd length followed by one padding byte.
	end := 8 + int64(binary.LittleEndian.Uint32(h[4:]))
	if end > s.size {
		return cutShort("its RIFF header gives its length as %d bytes but the file has %d", end, s.size)
	}
	if end < 12+8 {
		return damaged("its RIFF header gives its length as %d bytes, too short for any image", end)
	}
	var c [8]byte
	for s.pos+8 <= end {
		at := s.pos
		if err := s.read(c[:]); err != nil {
			return orCutShort(err, cutShort("chunk header at byte %d runs past the end of the file", at))
		}
		n := int64(binary.LittleEndian.Uint32(c[4:]))
		// The container fits in the file, so a chunk running out of it is
		// not cut short but wrong.
		switch stop := at + 8 + n; {
		case stop > end:
			return damaged("chunk %q at byte %d runs past the end of its RIFF container (it would end at byte %d; the container at byte %d)", c[:4], at, stop, end)
		case stop == end:
			// The last chunk's padding byte, if its length is odd, may be
			// left out of the RIFF length and of the file.
			return nil
		}
		if err := s.skip(n + n&1); err != nil {
			return orCutShort(err, cutShort("chunk %q at byte %d runs past the end of the file", c[:4], at))
		}
	}
	// Fewer than 8 bytes, too few for a chunk, may remain: ignored.
	return nil
}
