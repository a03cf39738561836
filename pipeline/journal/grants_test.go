package journal

import (
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Grants survive closing and opening the journal, oldest first, the latest
// MaxGrants per bucket.
func TestGrantsRoundTrip(t *testing.T) {
	j, _ := openTemp(t)
	base := time.Unix(1_700_000_000, 0)
	for i := range MaxGrants + 5 {
		if err := j.AddGrant("remove-background.post", base.Add(time.Duration(i)*1530*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.AddGrant("post", base.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	path := j.Path()
	j.Close()
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	g, err := j.Grants()
	if err != nil {
		t.Fatal(err)
	}
	rb := g["remove-background.post"]
	if len(rb) != MaxGrants || len(g["post"]) != 1 || len(g) != 2 {
		t.Fatalf("grants %d remove-background.post, %d post, %d buckets; want %d, 1, 2", len(rb), len(g["post"]), len(g), MaxGrants)
	}
	if want := base.Add(time.Duration(MaxGrants+4) * 1530 * time.Millisecond); !rb[len(rb)-1].Equal(want) {
		t.Errorf("latest grant %v, want %v", rb[len(rb)-1], want)
	}
	for i := 1; i < len(rb); i++ {
		if !rb[i].After(rb[i-1]) {
			t.Fatalf("grants not oldest first: %v", rb)
		}
	}
	if err := j.AddGrant("", base); err == nil {
		t.Error("a grant on a bucket with no name was taken")
	}
}

// A damaged grants list costs the pacing it held, not the run.
func TestGrantsDamagedListIsDropped(t *testing.T) {
	j, _ := openTemp(t)
	if err := j.AddGrant("post", time.Unix(1_700_000_000, 0)); err != nil {
		t.Fatal(err)
	}
	path := j.Path()
	j.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(metaBucket)).Put([]byte(grantsPrefix+"post"), []byte{200, 1, 2})
	})
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("a damaged grants list stopped Open: %v", err)
	}
	defer j.Close()
	if g, err := j.Grants(); err != nil || len(g) != 0 {
		t.Fatalf("grants %v, %v; want none", g, err)
	}
	if err := j.AddGrant("post", time.Unix(1_700_000_001, 0)); err != nil {
		t.Fatal(err)
	}
	if g, _ := j.Grants(); len(g["post"]) != 1 {
		t.Errorf("after a new grant: %v", g)
	}
}

// A journal of format 1, whose records have no API, opens: its records read
// as before, and a writable Open moves it to format 2, which an older
// hotfolder refuses as newer instead of misreading.
func TestFormat1IsMigrated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := sample("v1", 3, Submitted)
	r.API = ""
	r.Updated = time.Unix(1_700_000_000, 0)
	j.Close()
	// Write the record as format 1 did: version 1, no API field.
	v := encode(nil, &r)
	// Without the checksum and what versions 2 to 4 added: the API, the
	// outputs after the first, their hashes, the recipe, the step, the
	// intermediate result, the number of steps and CopyOf, each empty here
	// (one byte).
	body := v[:len(v)-4-8]
	body[0] = 1
	v1 := binary.LittleEndian.AppendUint32(append([]byte(nil), body...), checksum([]byte(r.Rel), body))
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte(metaBucket)).Put([]byte(formatKey), binary.AppendUvarint(nil, 1)); err != nil {
			return err
		}
		return tx.Bucket([]byte(inputsBucket)).Put([]byte(r.Rel), v1)
	})

	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open of format 1: %v", err)
	}
	got, ok, err := ro.Get(r.Rel)
	ro.Close()
	if err != nil || !ok || got.JobID != r.JobID || got.StatusURL != r.StatusURL || got.API != "" {
		t.Fatalf("format-1 record read as %+v, %v, %v", got, ok, err)
	}
	rawView(t, path, func(format uint64) {
		if format != 1 {
			t.Errorf("a read-only Open changed the format to %d", format)
		}
	})

	j, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := j.Get(r.Rel); got.JobID != r.JobID {
		t.Errorf("after migration: %+v", got)
	}
	j.Close()
	rawView(t, path, func(format uint64) {
		if format != formatVersion {
			t.Errorf("format %d after a writable Open, want %d", format, formatVersion)
		}
	})
}

// rawView reads the journal's format number with bbolt directly.
func rawView(t *testing.T, path string, fn func(format uint64)) {
	t.Helper()
	db, err := bolt.Open(path, 0, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		f, _ := binary.Uvarint(tx.Bucket([]byte(metaBucket)).Get([]byte(formatKey)))
		fn(f)
		return nil
	})
}

// The grants of each UTC day are counted, across runs; a week later the
// day is dropped.
func TestGrantsOnADay(t *testing.T) {
	j, _ := openTemp(t)
	late := time.Date(2026, 12, 5, 23, 59, 0, 0, time.UTC)
	for _, at := range []time.Time{late, late.Add(30 * time.Second), late.Add(2 * time.Minute)} {
		if err := j.AddGrant("post", at); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.AddGrant("remove-background.post", late.In(time.FixedZone("UTC+9", 9*3600))); err != nil {
		t.Fatal(err)
	}
	path := j.Path()
	j.Close()
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for day, want := range map[time.Time]int64{late: 3, late.Add(2 * time.Minute): 1, late.AddDate(0, 0, -1): 0} {
		if n, err := j.GrantsOn(day); err != nil || n != want {
			t.Errorf("GrantsOn(%s) = %d, %v; want %d", day.Format(time.DateOnly), n, err, want)
		}
	}
	if err := j.AddGrant("post", late.AddDate(0, 0, keepDays+1)); err != nil {
		t.Fatal(err)
	}
	if n, _ := j.GrantsOn(late); n != 0 {
		t.Errorf("a day more than %d days old still counts %d", keepDays, n)
	}
}
