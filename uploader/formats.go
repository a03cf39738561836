package uploader

import (
	"encoding/binary"
	"fmt"
	"image"
	"io"
)

// Photoshop documents (PSD, and PSB for large ones) and the DNG tag: what
// the operations beyond remove background read.

// psdHeader is the fixed header of a PSD or PSB.
type psdHeader struct {
	psb             bool // version 2: large document format
	channels, depth int64
	width, height   int64
	headerLen       int64
}

func readPSDHeader(r io.ReaderAt) (psdHeader, error) {
	var h [26]byte
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return psdHeader{}, err
	}
	be := binary.BigEndian
	if string(h[:4]) != "8BPS" {
		return psdHeader{}, fmt.Errorf("no 8BPS signature")
	}
	p := psdHeader{channels: int64(be.Uint16(h[12:])), height: int64(be.Uint32(h[14:])), width: int64(be.Uint32(h[18:])),
		depth: int64(be.Uint16(h[22:])), headerLen: 26}
	switch v := be.Uint16(h[4:]); v {
	case 1:
	case 2:
		p.psb = true
	default:
		return psdHeader{}, fmt.Errorf("unknown version %d", v)
	}
	maxSide := int64(30000)
	if p.psb {
		maxSide = 300000
	}
	switch {
	case p.channels < 1 || p.channels > 56:
		return psdHeader{}, fmt.Errorf("%d channels (1 to 56)", p.channels)
	case p.depth != 1 && p.depth != 8 && p.depth != 16 && p.depth != 32:
		return psdHeader{}, fmt.Errorf("a depth of %d bits", p.depth)
	case p.width > maxSide || p.height > maxSide:
		return psdHeader{}, fmt.Errorf("%d×%d px, more than the format allows", p.width, p.height)
	}
	return p, nil
}

// psdConfig reads a PSD's size.
func psdConfig(r io.ReaderAt) (image.Config, error) {
	h, err := readPSDHeader(r)
	if err != nil {
		return image.Config{}, err
	}
	return image.Config{Width: int(h.width), Height: int(h.height)}, nil
}

// scanPSD checks that each section of a PSD (colour mode data, image
// resources, layers and masks) lies inside the file, and that the merged
// image data does: its length is known when uncompressed or RLE (whose
// row byte counts are read and summed); ZIP data is not checked.
func scanPSD(r io.ReaderAt, size int64) error {
	h, err := readPSDHeader(r)
	if err != nil {
		return orCutShort(err, cutShort("it ends inside its header"))
	}
	be := binary.BigEndian
	s := newStream(r, size, scanBuffer)
	if err := s.skip(h.headerLen); err != nil {
		return orCutShort(err, cutShort("it ends inside its header"))
	}
	for _, sec := range []struct {
		name string
		wide bool
	}{{"colour mode data", false}, {"image resources", false}, {"layer and mask information", h.psb}} {
		at := s.pos
		var b [8]byte
		w := 4
		if sec.wide {
			w = 8
		}
		if err := s.read(b[:w]); err != nil {
			return orCutShort(err, cutShort("it ends before its %s section", sec.name))
		}
		n := int64(be.Uint32(b[:4]))
		if sec.wide {
			n = int64(be.Uint64(b[:]) & (1<<62 - 1))
		}
		if end := at + int64(w) + n; end > size {
			return cutShort("its %s section at byte %d runs past the end of the file (it would end at byte %d; the file has %d bytes)",
				sec.name, at, end, size)
		}
		if err := s.skip(n); err != nil {
			return orCutShort(err, cutShort("its %s section runs past the end of the file", sec.name))
		}
	}
	var c [2]byte
	if err := s.read(c[:]); err != nil {
		return orCutShort(err, cutShort("it ends before its image data"))
	}
	rows := h.channels * h.height
	switch comp := be.Uint16(c[:]); comp {
	case 0:
		need := rows * ((h.width*h.depth + 7) / 8)
		if end := s.pos + need; end > size {
			return cutShort("its image data runs past the end of the file (it would end at byte %d; the file has %d bytes)", end, size)
		}
	case 1:
		w := int64(2)
		if h.psb {
			w = 4
		}
		if end := s.pos + rows*w; end > size {
			return cutShort("its image data's row table runs past the end of the file (it would end at byte %d; the file has %d bytes)", end, size)
		}
		var b [4]byte
		var sum int64
		for range rows {
			if err := s.read(b[:w]); err != nil {
				return orCutShort(err, cutShort("its image data's row table runs past the end of the file"))
			}
			if w == 2 {
				sum += int64(be.Uint16(b[:2]))
			} else {
				sum += int64(be.Uint32(b[:4]))
			}
		}
		if end := s.pos + sum; end > size {
			return cutShort("its image data runs past the end of the file (it would end at byte %d; the file has %d bytes)", end, size)
		}
	case 2, 3: // ZIP: no length recorded
	default:
		return damaged("its image data has an unknown compression (%d)", comp)
	}
	return nil
}

// tiffDNGVersion is the tag that makes a TIFF a DNG.
const tiffDNGVersion = 50706

// tiffIsDNG reports whether a TIFF's first directory has a DNGVersion tag.
func tiffIsDNG(r io.ReaderAt, size int64) bool {
	var head [8]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return false
	}
	var order binary.ByteOrder = binary.LittleEndian
	if head[0] == 'M' {
		order = binary.BigEndian
	}
	dir := int64(order.Uint32(head[4:]))
	var cnt [2]byte
	if dir+2 > size {
		return false
	}
	if _, err := r.ReadAt(cnt[:], dir); err != nil {
		return false
	}
	n := int64(order.Uint16(cnt[:]))
	if dir+2+12*n > size {
		return false
	}
	entries := make([]byte, 12*n)
	if _, err := r.ReadAt(entries, dir+2); err != nil {
		return false
	}
	for i := range n {
		if order.Uint16(entries[12*i:]) == tiffDNGVersion {
			return true
		}
	}
	return false
}
