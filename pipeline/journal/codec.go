package journal

// The record encoding. A value is
//
//	version byte (recordVersion)
//	state byte (State.code)
//	fields, in the order of encode: strings as uvarint length + bytes,
//	integers as zigzag varints, times as varint Unix seconds + uvarint
//	nanoseconds, bools and the presence of Failure as one byte
//	CRC-32C (Castagnoli) of the key and everything above, 4 bytes little-endian
//
// Rel is the key and is not repeated in the value. A field added later goes
// at the end under a new recordVersion, and decode keeps reading the old
// ones; the file's format version (in the meta bucket) changes only when
// an older hotfolder could not read the file any more.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// recordVersion is the version byte of the record encoding written now.
// Version 2 added API at the end; version 3 the outputs after the first,
// their hashes, Recipe, Step, Intermediate and Steps. (The first output and its
// hash stay where version 1 had the only ones.) Version 4 added CopyOf.
const recordVersion = 4

// crcTable returns the CRC-32C table; crc32 builds it once.
func crcTable() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// checksum is the CRC-32C of key followed by body.
func checksum(key, body []byte) uint32 {
	t := crcTable()
	return crc32.Update(crc32.Update(0, t, key), t, body)
}

// encode appends r's value (everything but Rel) to buf. r must be valid.
func encode(buf []byte, r *Record) []byte {
	start := len(buf)
	buf = append(buf, recordVersion, r.State.code())
	buf = appendString(buf, first(r.Outputs))
	buf = binary.AppendVarint(buf, r.Size)
	buf = appendTime(buf, r.ModTime)
	buf = appendString(buf, r.SHA256)
	buf = appendString(buf, first(r.OutputSHA256s))
	buf = appendString(buf, r.UploadKey)
	buf = appendString(buf, r.JobID)
	buf = appendString(buf, r.StatusURL)
	buf = appendString(buf, r.Op)
	buf = appendTime(buf, r.Submitted)
	buf = binary.AppendVarint(buf, int64(r.Resubmits))
	if f := r.Failure; f == nil {
		buf = append(buf, 0)
	} else {
		buf = append(buf, 1)
		buf = appendString(buf, f.Stage)
		buf = binary.AppendVarint(buf, int64(f.HTTPStatus))
		buf = appendString(buf, f.Code)
		buf = appendString(buf, f.Message)
		buf = appendString(buf, f.Hint)
		buf = appendBool(buf, f.Permanent)
		buf = appendTime(buf, f.Time)
	}
	buf = appendTime(buf, r.Updated)
	buf = appendString(buf, r.API)
	buf = appendStrings(buf, rest(r.Outputs))
	buf = appendStrings(buf, rest(r.OutputSHA256s))
	buf = appendString(buf, r.Recipe)
	buf = binary.AppendVarint(buf, int64(r.Step))
	buf = appendString(buf, r.Intermediate)
	buf = binary.AppendVarint(buf, int64(r.Steps))
	buf = appendString(buf, r.CopyOf)
	return binary.LittleEndian.AppendUint32(buf, checksum([]byte(r.Rel), buf[start:]))
}

// first is ss[0], or "" when ss is empty; rest is what follows it.
func first(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return ss[0]
}

func rest(ss []string) []string {
	if len(ss) <= 1 {
		return nil
	}
	return ss[1:]
}

func appendStrings(buf []byte, ss []string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(ss)))
	for _, s := range ss {
		buf = appendString(buf, s)
	}
	return buf
}

func appendString(buf []byte, s string) []byte {
	return append(binary.AppendUvarint(buf, uint64(len(s))), s...)
}

func appendBool(buf []byte, b bool) []byte {
	if b {
		return append(buf, 1)
	}
	return append(buf, 0)
}

// appendTime encodes t to the nanosecond, for any year. The zero time
// comes back as the zero time, and every other time in the local zone.
func appendTime(buf []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(buf, t.Unix()), uint64(t.Nanosecond()))
}

// errShort is a value that ends before its last field.
var errShort = errors.New("record ends early")

// verify checks the value's version and checksum without decoding it.
func verify(key, v []byte) error {
	if len(v) < 2+4 {
		return errShort
	}
	if v[0] == 0 || v[0] > recordVersion {
		return fmt.Errorf("unknown record version %d", v[0])
	}
	body, sum := v[:len(v)-4], binary.LittleEndian.Uint32(v[len(v)-4:])
	if checksum(key, body) != sum {
		return errors.New("checksum mismatch")
	}
	return nil
}

// decode decodes the value v of key into a record. Every string is copied:
// v may be bbolt's memory, valid only inside the transaction.
func decode(key, v []byte) (Record, error) {
	if err := verify(key, v); err != nil {
		return Record{}, err
	}
	d := decoder{b: v[1 : len(v)-4]}
	r := Record{Rel: string(key)}
	version := v[0]
	code := d.byte()
	if code == 0 || int(code) > len(States) {
		return Record{}, fmt.Errorf("unknown state %d", code)
	}
	r.State = States[code-1]
	output := d.string()
	r.Size = d.varint()
	r.ModTime = d.time()
	r.SHA256 = d.string()
	outputSHA256 := d.string()
	r.UploadKey = d.string()
	r.JobID = d.string()
	r.StatusURL = d.string()
	r.Op = d.string()
	r.Submitted = d.time()
	r.Resubmits = int(d.varint())
	if d.bool() {
		r.Failure = &Failure{
			Stage:      d.string(),
			HTTPStatus: int(d.varint()),
			Code:       d.string(),
			Message:    d.string(),
			Hint:       d.string(),
			Permanent:  d.bool(),
			Time:       d.time(),
		}
	}
	r.Updated = d.time()
	if version >= 2 {
		r.API = d.string()
	}
	var moreOutputs, moreSHA256s []string
	if version >= 3 {
		moreOutputs, moreSHA256s = d.strings(), d.strings()
		r.Recipe = d.string()
		r.Step = int(d.varint())
		r.Intermediate = d.string()
		r.Steps = int(d.varint())
	}
	if version >= 4 {
		r.CopyOf = d.string()
	}
	r.Outputs = join(output, moreOutputs)
	r.OutputSHA256s = join(outputSHA256, moreSHA256s)
	switch {
	case d.err != nil:
		return Record{}, d.err
	case len(d.b) != 0:
		return Record{}, fmt.Errorf("%d bytes left over", len(d.b))
	}
	return r, nil
}

// decoder reads fields off b; the first error sticks and later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail(errShort)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bool() bool {
	switch c := d.byte(); c {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail(fmt.Errorf("bad boolean %d", c))
		return false
	}
}

func (d *decoder) varint() int64 {
	x, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) uvarint() uint64 {
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errShort)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// strings reads a count and that many strings; a count that cannot fit in
// what is left is damage, not a reason to allocate.
func (d *decoder) strings() []string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errShort)
		return nil
	}
	var ss []string
	for range n {
		ss = append(ss, d.string())
	}
	return ss
}

// join is first followed by more, nil when both are empty.
func join(first string, more []string) []string {
	if first == "" && len(more) == 0 {
		return nil
	}
	return append([]string{first}, more...)
}

func (d *decoder) time() time.Time {
	sec, nsec := d.varint(), d.uvarint()
	switch {
	case d.err != nil:
		return time.Time{}
	case nsec >= 1e9:
		d.fail(fmt.Errorf("bad nanoseconds %d", nsec))
		return time.Time{}
	case sec < -1<<62 || sec > 1<<62:
		// Far beyond any file's date, and near where time.Unix overflows.
		d.fail(fmt.Errorf("bad time %d", sec))
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec))
	if t.IsZero() {
		return time.Time{}
	}
	return t
}
