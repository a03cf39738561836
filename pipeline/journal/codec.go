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
// Version 2 added API at the end.
const recordVersion = 2

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
	buf = appendString(buf, r.Output)
	buf = binary.AppendVarint(buf, r.Size)
	buf = appendTime(buf, r.ModTime)
	buf = appendString(buf, r.SHA256)
	buf = appendString(buf, r.OutputSHA256)
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
	return binary.LittleEndian.AppendUint32(buf, checksum([]byte(r.Rel), buf[start:]))
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
	r.Output = d.string()
	r.Size = d.varint()
	r.ModTime = d.time()
	r.SHA256 = d.string()
	r.OutputSHA256 = d.string()
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
