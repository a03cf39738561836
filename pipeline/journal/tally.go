package journal

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The meta bucket also keeps running totals across runs, under "total/":
// the POSTs granted (every AddGrant) and the POSTs saved by content
// dedupe (AddSaved), each a uvarint; and, under "jobtimes/" and a key of
// the caller's (an API and an operation), the latest job durations, for
// polling that learns how long jobs take: a uvarint count and that many
// uvarint nanoseconds, oldest first.

const (
	totalPosts     = "total/posts"
	totalSaved     = "total/saved"
	jobTimesPrefix = "jobtimes/"
)

// MaxJobTimes is how many of the latest job durations are kept per key.
const MaxJobTimes = 64

// addTotal adds n to the total under key.
func addTotal(meta *bolt.Bucket, key string, n uint64) error {
	old, _ := binary.Uvarint(meta.Get([]byte(key))) // a damaged total starts again at 0
	return meta.Put([]byte(key), binary.AppendUvarint(nil, old+n))
}

// AddSaved counts n POSTs saved: an input whose results were copied from
// another's, durably.
func (j *Journal) AddSaved(n int) error {
	if n <= 0 {
		return nil
	}
	return j.updateMeta(func(meta *bolt.Bucket) error { return addTotal(meta, totalSaved, uint64(n)) })
}

// Totals returns the POSTs granted and the POSTs saved by dedupe, over
// every run that used the journal.
func (j *Journal) Totals() (spent, saved int64, err error) {
	err = j.view("read", func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(metaBucket))
		a, _ := binary.Uvarint(meta.Get([]byte(totalPosts)))
		b, _ := binary.Uvarint(meta.Get([]byte(totalSaved)))
		spent, saved = int64(a), int64(b)
		return nil
	})
	return spent, saved, err
}

// AddJobTime journals that a job of key took d, keeping the latest
// MaxJobTimes of the key.
func (j *Journal) AddJobTime(key string, d time.Duration) error {
	if key == "" || len(jobTimesPrefix)+len(key) > bolt.MaxKeySize || d < 0 {
		return fmt.Errorf("%w: job time %q %v", errInvalid, key, d)
	}
	k := []byte(jobTimesPrefix + key)
	return j.updateMeta(func(meta *bolt.Bucket) error {
		ds := decodeDurations(meta.Get(k))
		ds = append(ds, d)
		if len(ds) > MaxJobTimes {
			ds = ds[len(ds)-MaxJobTimes:]
		}
		return meta.Put(k, encodeDurations(ds))
	})
}

// JobTimes returns the journaled job durations of every key, oldest first.
// A damaged list is left out.
func (j *Journal) JobTimes() (map[string][]time.Duration, error) {
	out := make(map[string][]time.Duration)
	err := j.view("read", func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(metaBucket)).Cursor()
		for k, v := c.Seek([]byte(jobTimesPrefix)); k != nil && strings.HasPrefix(string(k), jobTimesPrefix); k, v = c.Next() {
			if ds := decodeDurations(v); len(ds) > 0 {
				out[string(k[len(jobTimesPrefix):])] = ds
			}
		}
		return nil
	})
	return out, err
}

func encodeDurations(ds []time.Duration) []byte {
	buf := binary.AppendUvarint(nil, uint64(len(ds)))
	for _, d := range ds {
		buf = binary.AppendUvarint(buf, uint64(d))
	}
	return buf
}

// decodeDurations reads a list encodeDurations wrote; a damaged one reads
// as empty.
func decodeDurations(v []byte) []time.Duration {
	n, k := binary.Uvarint(v)
	if k <= 0 || n > MaxJobTimes {
		return nil
	}
	v = v[k:]
	ds := make([]time.Duration, 0, n)
	for range n {
		x, k := binary.Uvarint(v)
		if k <= 0 || x > 1<<62 {
			return nil
		}
		ds = append(ds, time.Duration(x))
		v = v[k:]
	}
	if len(v) != 0 {
		return nil
	}
	return ds
}
