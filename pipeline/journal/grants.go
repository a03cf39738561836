package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The journal also keeps the latest request slots the rate limiter granted
// on each quota bucket, so that a run started right after a killed one
// resumes its pacing instead of crowding the killed run's last window with
// requests of its own (Adobe would answer 429). They live in the meta
// bucket, under "grants/" and the bucket's name, as a uvarint count and
// that many varint Unix nanoseconds, oldest first.

const grantsPrefix = "grants/"

// MaxGrants is how many of the latest grants are kept per bucket: more than
// any limit's N in a window (Adobe's largest POST limit is 16).
const MaxGrants = 64

// The meta bucket also counts the grants of each UTC day, under "day/" and
// the date (YYYY-MM-DD), as a uvarint, for a daily cap that holds across
// runs; days older than keepDays are dropped.
const (
	dayPrefix = "day/"
	keepDays  = 7
)

// AddGrant journals a slot granted at at on the quota bucket, durably,
// keeping the latest MaxGrants of the bucket, and counts it for its UTC
// day and in the total of POSTs (see Totals).
func (j *Journal) AddGrant(bucket string, at time.Time) error {
	if bucket == "" || len(grantsPrefix)+len(bucket) > bolt.MaxKeySize {
		return fmt.Errorf("%w: bucket name %q", errInvalid, bucket)
	}
	key := []byte(grantsPrefix + bucket)
	return j.updateMeta(func(meta *bolt.Bucket) error {
		ts, err := decodeGrants(meta.Get(key))
		if err != nil {
			ts = nil // a damaged list only costs the pacing it held
		}
		ts = append(ts, at)
		if len(ts) > MaxGrants {
			ts = ts[len(ts)-MaxGrants:]
		}
		if err := meta.Put(key, encodeGrants(ts)); err != nil {
			return err
		}
		if err := addTotal(meta, totalPosts, 1); err != nil {
			return err
		}
		return countDay(meta, at)
	})
}

// countDay adds one to at's UTC day, dropping days older than keepDays.
func countDay(meta *bolt.Bucket, at time.Time) error {
	key := []byte(dayPrefix + at.UTC().Format(time.DateOnly))
	n, _ := binary.Uvarint(meta.Get(key)) // a damaged count starts again at 0
	if err := meta.Put(key, binary.AppendUvarint(nil, n+1)); err != nil {
		return err
	}
	oldest := dayPrefix + at.UTC().AddDate(0, 0, -keepDays).Format(time.DateOnly)
	var old [][]byte
	c := meta.Cursor()
	for k, _ := c.Seek([]byte(dayPrefix)); k != nil && strings.HasPrefix(string(k), dayPrefix) && string(k) < oldest; k, _ = c.Next() {
		old = append(old, bytes.Clone(k))
	}
	for _, k := range old {
		if err := meta.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// GrantsOn returns how many grants AddGrant counted on day's UTC date.
func (j *Journal) GrantsOn(day time.Time) (int64, error) {
	var n uint64
	err := j.view("read", func(tx *bolt.Tx) error {
		n, _ = binary.Uvarint(tx.Bucket([]byte(metaBucket)).Get([]byte(dayPrefix + day.UTC().Format(time.DateOnly))))
		return nil
	})
	return int64(n), err
}

// Grants returns the journaled grants of every bucket, oldest first. A
// damaged list is left out: it is not worth stopping a run for.
func (j *Journal) Grants() (map[string][]time.Time, error) {
	out := make(map[string][]time.Time)
	err := j.view("read", func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(metaBucket)).Cursor()
		prefix := []byte(grantsPrefix)
		for k, v := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), grantsPrefix); k, v = c.Next() {
			if ts, err := decodeGrants(v); err == nil && len(ts) > 0 {
				out[string(k[len(prefix):])] = ts
			}
		}
		return nil
	})
	return out, err
}

func encodeGrants(ts []time.Time) []byte {
	buf := binary.AppendUvarint(nil, uint64(len(ts)))
	for _, t := range ts {
		buf = binary.AppendVarint(buf, t.UnixNano())
	}
	return buf
}

var errBadGrants = errors.New("bad grants list")

func decodeGrants(v []byte) ([]time.Time, error) {
	if v == nil {
		return nil, nil
	}
	n, k := binary.Uvarint(v)
	if k <= 0 || n > MaxGrants {
		return nil, errBadGrants
	}
	v = v[k:]
	ts := make([]time.Time, 0, n)
	for range n {
		ns, k := binary.Varint(v)
		if k <= 0 {
			return nil, errBadGrants
		}
		v = v[k:]
		ts = append(ts, time.Unix(0, ns))
	}
	if len(v) != 0 {
		return nil, errBadGrants
	}
	slices.SortFunc(ts, time.Time.Compare)
	return ts, nil
}
