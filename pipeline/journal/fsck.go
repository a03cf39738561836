package journal

// This file checks a bbolt file's structure before bbolt maps it. bbolt
// trusts its file: on a damaged one it may fault in the mapping, spin on a
// garbage count, allocate without bound, or fault in tx.Check's own
// goroutine, where nothing can recover. fsck reads the file with ReadAt,
// checks every offset, count and page number before using it, and visits
// each page at most once, so it ends in time bounded by the file's size and
// never faults. Once it passes, every structure bbolt follows is known to
// lie inside the file: the same checks as tx.Check (each page in use or
// free, never both, never twice; keys in order within their bounds) plus
// each record's checksum.
//
// The layout is bbolt's file format version 2 (go.etcd.io/bbolt/internal/common),
// in the machine's byte order, as bbolt writes it:
//
//	page:    id u64, flags u16, count u16, overflow u32, then elements
//	meta:    on pages 0 and 1, after the page header: magic u32, version u32,
//	         page size u32, flags u32, root bucket (root u64, sequence u64),
//	         freelist u64, high water mark u64, txid u64, checksum u64
//	         (FNV-64a of the fields before it)
//	branch:  elements of pos u32, ksize u32, child u64; key at element+pos
//	leaf:    elements of flags u32, pos u32, ksize u32, vsize u32; key at
//	         element+pos, value after it
//	bucket:  a leaf value with flag 1: root u64, sequence u64, and if root
//	         is 0, an inline leaf page
//	freelist: page ids u64; count in the header, or if that is 0xFFFF, in
//	         the first id

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
)

const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16
	elementSize      = 16 // branch and leaf elements alike
	bucketHeaderSize = 16
	metaSize         = 64
	metaSumOffset    = 56 // of the checksum, within the meta

	branchPage   = 0x01
	leafPage     = 0x02
	freelistPage = 0x10
	bucketLeaf   = 0x01
	noFreelist   = ^uint64(0)

	minPageSize = 1024    // bbolt looks for the second meta page from 1 KB
	maxPageSize = 1 << 24 // up to 16 MB
)

// u16, u32 and u64 read numbers in the byte order bbolt writes: the
// machine's.
func u16(b []byte) uint16 { return binary.NativeEndian.Uint16(b) }
func u32(b []byte) uint32 { return binary.NativeEndian.Uint32(b) }
func u64(b []byte) uint64 { return binary.NativeEndian.Uint64(b) }

// meta is a decoded meta page.
type meta struct {
	pageSize uint64
	root     uint64 // root bucket's page
	freelist uint64
	hwm      uint64 // high water mark: pages [0, hwm) are the database
	txid     uint64
}

// parseMeta decodes and validates the meta on page p (at least
// pageHeaderSize+metaSize bytes), as bbolt's Meta.Validate does.
func parseMeta(p []byte) (meta, error) {
	b := p[pageHeaderSize : pageHeaderSize+metaSize]
	switch {
	case u32(b[0:]) != boltMagic:
		return meta{}, errors.New("not a bbolt file")
	case u32(b[4:]) != boltVersion:
		return meta{}, fmt.Errorf("bbolt file format %d, not %d", u32(b[4:]), boltVersion)
	}
	h := fnv.New64a()
	h.Write(b[:metaSumOffset])
	if h.Sum64() != u64(b[metaSumOffset:]) {
		return meta{}, errors.New("meta page checksum mismatch")
	}
	return meta{
		pageSize: uint64(u32(b[8:])),
		root:     u64(b[16:]),
		freelist: u64(b[32:]),
		hwm:      u64(b[40:]),
		txid:     u64(b[48:]),
	}, nil
}

// fsck checks the structure of the bbolt file r of the given size. leaf is
// called with every plain key and value of the top-level bucket named
// records, and with nil v for a bucket found there; its error is returned.
func fsck(r io.ReaderAt, size int64, records string, leaf func(k, v []byte) error) error {
	m, err := readMeta(r, size)
	if err != nil {
		return err
	}
	c := &checker{r: r, m: m, records: records, leaf: leaf}
	ps := m.pageSize
	switch {
	case ps < minPageSize || ps > maxPageSize:
		return fmt.Errorf("page size %d", ps)
	case m.hwm < 2 || m.hwm > uint64(size)/ps:
		return fmt.Errorf("the file is %d bytes, but its header says %d pages of %d: it was cut short", size, m.hwm, ps)
	case m.root < 2 || m.root >= m.hwm:
		return fmt.Errorf("root page %d out of range", m.root)
	}
	c.used = make([]bool, m.hwm)
	c.free = make([]bool, m.hwm)
	c.used[0], c.used[1] = true, true
	if m.freelist != noFreelist {
		if err := c.freelist(); err != nil {
			return err
		}
	}
	if err := c.page(m.root, nil, nil, 0, rootTree); err != nil {
		return err
	}
	if m.freelist != noFreelist {
		for id := range m.hwm {
			if !c.used[id] && !c.free[id] {
				return fmt.Errorf("page %d is neither in use nor free", id)
			}
		}
	}
	return nil
}

// readMeta finds the page size and returns the meta bbolt will use: the
// valid one of pages 0 and 1 with the higher transaction ID.
func readMeta(r io.ReaderAt, size int64) (meta, error) {
	buf := make([]byte, pageHeaderSize+metaSize)
	read := func(off int64) (meta, error) {
		if off+int64(len(buf)) > size {
			return meta{}, errors.New("the file is too short for a meta page")
		}
		if _, err := r.ReadAt(buf, off); err != nil {
			return meta{}, err
		}
		return parseMeta(buf)
	}
	m0, err0 := read(0)
	ps := m0.pageSize
	if err0 != nil {
		// Page 0 is damaged: find page 1 as bbolt does, by trying sizes.
		for i := range 15 {
			off := int64(minPageSize) << i
			if off >= size-minPageSize {
				break
			}
			if m, err := read(off); err == nil {
				ps = m.pageSize
				break
			}
		}
		if ps == 0 {
			return meta{}, fmt.Errorf("no valid meta page: %w", err0)
		}
	}
	if ps < minPageSize || ps > maxPageSize {
		return meta{}, fmt.Errorf("page size %d", ps)
	}
	m1, err1 := read(int64(ps))
	switch {
	case err0 != nil && err1 != nil:
		return meta{}, fmt.Errorf("no valid meta page: %w", err0)
	case err0 != nil:
		return m1, nil
	case err1 != nil || m0.txid >= m1.txid:
		return m0, nil
	}
	return m1, nil
}

// tree is what a page belongs to.
type tree int

const (
	rootTree    tree = iota // the root bucket, holding the top-level buckets
	recordsTree             // the records bucket
	otherTree               // any other bucket
)

// checker walks one file.
type checker struct {
	r          io.ReaderAt
	m          meta
	used, free []bool
	bufs       [][]byte // one page buffer per depth of the walk
	records    string
	leaf       func(k, v []byte) error
}

// read returns page id and its overflow pages, read into the buffer of
// the given depth, after checking its header.
func (c *checker) read(id uint64, depth int) ([]byte, error) {
	ps := c.m.pageSize
	for len(c.bufs) <= depth {
		c.bufs = append(c.bufs, make([]byte, ps))
	}
	b := c.bufs[depth][:ps]
	if _, err := c.r.ReadAt(b, int64(id*ps)); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	if got := u64(b); got != id {
		return nil, fmt.Errorf("page %d says it is page %d", id, got)
	}
	overflow := uint64(u32(b[12:]))
	if overflow >= c.m.hwm-id {
		return nil, fmt.Errorf("page %d: %d overflow pages run past the end", id, overflow)
	}
	if overflow > 0 {
		n := (overflow + 1) * ps
		if uint64(cap(c.bufs[depth])) < n {
			c.bufs[depth] = make([]byte, n)
		}
		b = c.bufs[depth][:n]
		if _, err := c.r.ReadAt(b, int64(id*ps)); err != nil {
			return nil, fmt.Errorf("page %d: %w", id, err)
		}
	}
	return b, nil
}

// use marks pages id … id+n-1 in use; tree pages must not be free.
func (c *checker) use(id, n uint64, tree bool) error {
	for p := id; p < id+n; p++ {
		switch {
		case c.used[p]:
			return fmt.Errorf("page %d is used twice", p)
		case tree && c.free[p]:
			return fmt.Errorf("page %d is both in use and free", p)
		}
		c.used[p] = true
	}
	return nil
}

// freelist reads the free list and marks its pages.
func (c *checker) freelist() error {
	id := c.m.freelist
	if id < 2 || id >= c.m.hwm {
		return fmt.Errorf("free list page %d out of range", id)
	}
	b, err := c.read(id, 0)
	if err != nil {
		return err
	}
	if flags := u16(b[8:]); flags != freelistPage {
		return fmt.Errorf("free list page %d has type %#x", id, flags)
	}
	if err := c.use(id, uint64(len(b))/c.m.pageSize, false); err != nil {
		return err
	}
	start, count := uint64(pageHeaderSize), uint64(u16(b[10:]))
	if count == 0xFFFF {
		count = u64(b[start:])
		start += 8
	}
	if count > (uint64(len(b))-start)/8 {
		return fmt.Errorf("free list page %d: %d ids do not fit", id, count)
	}
	for i := range count {
		p := u64(b[start+8*i:])
		switch {
		case p < 2 || p >= c.m.hwm:
			return fmt.Errorf("free page %d out of range", p)
		case c.free[p]:
			return fmt.Errorf("page %d is freed twice", p)
		}
		c.free[p] = true
	}
	return nil
}

// page checks the tree page id and everything under it: its keys lie in
// [lo, hi) (nil bounds are open) and increase.
func (c *checker) page(id uint64, lo, hi []byte, depth int, t tree) error {
	if id < 2 || id >= c.m.hwm {
		return fmt.Errorf("page %d out of range", id)
	}
	b, err := c.read(id, depth)
	if err != nil {
		return err
	}
	if err := c.use(id, uint64(len(b))/c.m.pageSize, true); err != nil {
		return err
	}
	switch flags := u16(b[8:]); flags {
	case branchPage:
		return c.branch(id, b, lo, hi, depth, t)
	case leafPage:
		return c.leafPage(fmt.Sprintf("page %d", id), b, lo, hi, depth, t)
	default:
		return fmt.Errorf("page %d has type %#x in a tree", id, flags)
	}
}

// elements returns the element count of page b after checking it fits.
func elements(b []byte) (int, error) {
	n := int(u16(b[10:]))
	if pageHeaderSize+n*elementSize > len(b) {
		return 0, fmt.Errorf("%d elements do not fit", n)
	}
	return n, nil
}

// span returns b[off+pos : off+pos+n] if it lies inside b.
func span(b []byte, off int, pos, n uint32) ([]byte, bool) {
	start := uint64(off) + uint64(pos)
	end := start + uint64(n)
	if end > uint64(len(b)) {
		return nil, false
	}
	return b[start:end], true
}

// inOrder checks that key k follows prev within the bounds lo and hi.
func inOrder(k, prev, lo, hi []byte, first bool) bool {
	switch {
	case first && lo != nil && bytes.Compare(k, lo) < 0:
		return false
	case !first && bytes.Compare(prev, k) >= 0:
		return false
	case hi != nil && bytes.Compare(k, hi) >= 0:
		return false
	}
	return true
}

func (c *checker) branch(id uint64, b, lo, hi []byte, depth int, t tree) error {
	n, err := elements(b)
	if err != nil {
		return fmt.Errorf("page %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("page %d: an empty branch", id)
	}
	keys := make([][]byte, n)
	children := make([]uint64, n)
	for i := range n {
		off := pageHeaderSize + i*elementSize
		k, ok := span(b, off, u32(b[off:]), u32(b[off+4:]))
		if !ok {
			return fmt.Errorf("page %d: key %d lies outside the page", id, i)
		}
		var prev []byte
		if i > 0 {
			prev = keys[i-1]
		}
		if !inOrder(k, prev, lo, hi, i == 0) {
			return fmt.Errorf("page %d: key %d out of order", id, i)
		}
		keys[i], children[i] = k, u64(b[off+8:])
	}
	for i, child := range children {
		next := hi
		if i+1 < n {
			next = keys[i+1]
		}
		if err := c.page(child, keys[i], next, depth+1, t); err != nil {
			return err
		}
	}
	return nil
}

// leafPage checks a leaf page, or an inline bucket's page, named where.
func (c *checker) leafPage(where string, b, lo, hi []byte, depth int, t tree) error {
	n, err := elements(b)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	var prev []byte
	for i := range n {
		off := pageHeaderSize + i*elementSize
		flags, pos := u32(b[off:]), u32(b[off+4:])
		ksize, vsize := u32(b[off+8:]), u32(b[off+12:])
		kv, ok := span(b, off, pos, ksize+vsize)
		if !ok || ksize+vsize < ksize {
			return fmt.Errorf("%s: element %d lies outside the page", where, i)
		}
		k, v := kv[:ksize], kv[ksize:]
		if !inOrder(k, prev, lo, hi, i == 0) {
			return fmt.Errorf("%s: key %d out of order", where, i)
		}
		prev = k
		isBucket := flags&bucketLeaf != 0
		switch {
		case t == recordsTree && isBucket:
			err = c.leaf(k, nil)
		case t == recordsTree:
			err = c.leaf(k, v)
		case isBucket && t == rootTree && string(k) == c.records:
			err = c.bucket(k, v, depth, recordsTree)
		case isBucket:
			err = c.bucket(k, v, depth, otherTree)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// bucket checks the bucket whose header is v.
func (c *checker) bucket(name, v []byte, depth int, t tree) error {
	if len(v) < bucketHeaderSize {
		return fmt.Errorf("bucket %q: header cut short", name)
	}
	if root := u64(v); root != 0 {
		return c.page(root, nil, nil, depth+1, t)
	}
	inline := v[bucketHeaderSize:]
	if len(inline) < pageHeaderSize {
		return fmt.Errorf("bucket %q: inline page cut short", name)
	}
	if flags := u16(inline[8:]); flags != leafPage {
		return fmt.Errorf("bucket %q: inline page of type %#x", name, flags)
	}
	return c.leafPage(fmt.Sprintf("bucket %q", name), inline, nil, nil, depth+1, t)
}
