package journal

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// The totals and job times outlive the journal's Close: a later run reads
// what earlier ones counted and learned.
func TestTotalsAndJobTimesAcrossOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_800_000_000, 0)
	for i := range 5 {
		if err := j.AddGrant("remove-background.post", at.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.AddSaved(3); err != nil {
		t.Fatal(err)
	}
	if err := j.AddSaved(0); err != nil {
		t.Fatal(err)
	}
	var want []time.Duration
	for i := range MaxJobTimes + 10 {
		d := time.Duration(i+1) * time.Millisecond
		if err := j.AddJobTime("emulator remove-background", d); err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
	}
	want = want[len(want)-MaxJobTimes:]
	if err := j.AddJobTime("", time.Second); err == nil {
		t.Error("a job time without a key was taken")
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	j, err = Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	spent, saved, err := j.Totals()
	if err != nil || spent != 5 || saved != 3 {
		t.Errorf("Totals() = %d, %d, %v; want 5, 3", spent, saved, err)
	}
	times, err := j.JobTimes()
	if err != nil {
		t.Fatal(err)
	}
	if got := times["emulator remove-background"]; !reflect.DeepEqual(got, want) {
		t.Errorf("job times %v, want the latest %d: %v", got, MaxJobTimes, want)
	}
	if len(times) != 1 {
		t.Errorf("job times of %d keys, want 1", len(times))
	}
}

func TestDecodeDurationsRejectsDamage(t *testing.T) {
	good := encodeDurations([]time.Duration{time.Second, 2 * time.Second})
	for name, v := range map[string][]byte{
		"empty":      nil,
		"short":      good[:len(good)-1],
		"left over":  append(append([]byte{}, good...), 0),
		"huge count": {0xff, 0x01},
		"bad varint": {1, 0xff},
	} {
		if ds := decodeDurations(v); ds != nil {
			t.Errorf("%s: decoded %v, want nothing", name, ds)
		}
	}
	if ds := decodeDurations(good); !reflect.DeepEqual(ds, []time.Duration{time.Second, 2 * time.Second}) {
		t.Errorf("decoded %v", ds)
	}
}
