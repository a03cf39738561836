package journal

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// FuzzDecode feeds decode arbitrary values, sealed with a valid checksum so
// that the fuzzer gets past it: decode must never panic, and what it
// accepts must survive encoding and decoding again unchanged.
func FuzzDecode(f *testing.F) {
	for i, s := range States {
		r := sample("fuzz", i, s)
		r.Updated = time.Unix(1_700_000_000, 0)
		v := encode(nil, &r)
		f.Add([]byte(r.Rel), v[:len(v)-4])
	}
	f.Add([]byte("k"), []byte{})
	f.Add([]byte("k"), []byte{1, 1, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, key, body []byte) {
		r, err := decode(key, encodeRaw(key, body))
		if err != nil {
			return
		}
		r2, err := decode(key, encode(nil, &r))
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("decoded %+v, which encodes to something that decodes to %+v (%v)", r, r2, err)
		}
	})
}

func TestDecodeRejects(t *testing.T) {
	r := sample("x", 1, Failed)
	good := encode(nil, &r)
	key := []byte(r.Rel)
	mutate := func(f func(v []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		key  []byte
		v    []byte
	}{
		{"empty", key, nil},
		{"short", key, good[:5]},
		{"cut by one byte", key, good[:len(good)-1]},
		{"another key", []byte("x/other.jpg"), good},
		{"one bit flipped", key, mutate(func(v []byte) []byte { v[len(v)/2] ^= 4; return v })},
		{"checksum flipped", key, mutate(func(v []byte) []byte { v[len(v)-1] ^= 1; return v })},
		{"newer record version", key, mutate(func(v []byte) []byte { v[0] = recordVersion + 1; return v })},
		{"version zero", key, mutate(func(v []byte) []byte { v[0] = 0; return v })},
	}
	for _, tc := range tests {
		if _, err := decode(tc.key, tc.v); err == nil {
			t.Errorf("%s: decode accepted it", tc.name)
		}
	}
	// A well-formed checksum over bad contents is still refused.
	for _, body := range [][]byte{
		{recordVersion, 0},                     // state 0
		{recordVersion, byte(len(States) + 1)}, // unknown state
		{recordVersion, 1, 200},                // string longer than the value
	} {
		v := encodeRaw(key, body)
		if _, err := decode(key, v); err == nil {
			t.Errorf("decode accepted body %v", body)
		}
	}
}

// encodeRaw seals body with its checksum, as encode does.
func encodeRaw(key, body []byte) []byte {
	return binary.LittleEndian.AppendUint32(bytes.Clone(body), checksum(key, body))
}

// FuzzFsck feeds fsck arbitrary files, starting from real journals: it
// must never panic, and must end.
func FuzzFsck(f *testing.F) {
	for _, n := range []int{0, 3, 40} {
		dir := f.TempDir()
		j, err := Open(filepath.Join(dir, "journal.db"), Options{})
		if err != nil {
			f.Fatal(err)
		}
		for i := range n {
			if err := j.Put(sample("fz", i, States[i%len(States)])); err != nil {
				f.Fatal(err)
			}
		}
		j.Close()
		data, err := os.ReadFile(filepath.Join(dir, "journal.db"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fsck(bytes.NewReader(data), int64(len(data)), inputsBucket, func(k, v []byte) error {
			if v != nil {
				return verify(k, v)
			}
			return nil
		})
	})
}
