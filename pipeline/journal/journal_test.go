package journal

import (
	"bytes"
	"errors"
	"fmt"
	"hotfolder/uploader"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		r    Record
	}{
		{"queued, minimal", Record{Rel: "a.jpg", State: Queued}},
		{"uploaded", sample("x", 1, Uploaded)},
		{"submitted", sample("x", 2, Submitted)},
		{"done", sample("x", 3, Done)},
		{"failed", sample("x", 4, Failed)},
		{"every field", Record{
			Rel: "deep/nested/folder/Ünïcødé name with spaces.jpeg", Size: 1 << 40,
			ModTime: time.Unix(1_234_567_890, 999_999_999), SHA256: strings.Repeat("ab", 32),
			State: Failed, Outputs: []string{"deep/nested/folder/Ünïcødé name with spaces.png", "deep/nested/folder/Ünïcødé name with spaces-2048.jpg"},
			OutputSHA256s: []string{strings.Repeat("cd", 32), strings.Repeat("ef", 32)},
			Recipe:        strings.Repeat("12", 32), Step: 2, Steps: 3, Intermediate: "steps/0a1b2c-1.png",
			UploadKey: "prefix/key", JobID: "job-1", StatusURL: "https://example.test/status/job-1", Op: "remove-background",
			Submitted: time.Unix(1_700_000_000, 1), Resubmits: 3,
			Failure: &Failure{Stage: "download", HTTPStatus: 503, Code: "ServiceUnavailable", Message: "try later\nline two",
				Hint: "run again", Permanent: false, Time: time.Unix(1_700_000_001, 2)},
			CopyOf: "other folder/the original.jpeg",
		}},
		{"failure with zero fields", Record{Rel: "z", State: Failed, Failure: &Failure{}}},
		// A file may really be dated at the epoch, or long before it: it
		// must not come back as the zero time (it would look changed).
		{"mtime at the epoch", Record{Rel: "epoch.jpg", State: Queued, ModTime: time.Unix(0, 0)}},
		{"mtime in 1601", Record{Rel: "old.jpg", State: Queued, ModTime: time.Unix(-11_644_473_600, 5)}},
		{"mtime in 9999", Record{Rel: "new.jpg", State: Queued, ModTime: time.Unix(253_402_300_799, 0)}},
		{"negative numbers", Record{Rel: "n", State: Queued, Size: -1, Resubmits: -2}},
		{"binary name", Record{Rel: "bad\xffname\x01.jpg", State: Queued}},
	}
	j, c := openTemp(t)
	want := make(map[string]Record)
	for _, tc := range tests {
		mustPut(t, j, tc.r)
		tc.r.Updated = time.Unix(1_700_000_000+c.n.Load(), 123_456_789)
		want[tc.r.Rel] = tc.r
	}
	check := func(j *Journal) {
		t.Helper()
		for _, tc := range tests {
			got, ok, err := j.Get(tc.r.Rel)
			if err != nil || !ok {
				t.Fatalf("%s: Get = %v, %v", tc.name, ok, err)
			}
			if w := want[tc.r.Rel]; !reflect.DeepEqual(got, w) {
				t.Errorf("%s: got\n%+v\nwant\n%+v", tc.name, got, w)
			}
			if got.Changed(tc.r.Size, tc.r.ModTime) {
				t.Errorf("%s: Changed reports the same input as changed", tc.name)
			}
		}
	}
	check(j)

	// Reopened, everything is still there.
	path := j.Path()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	check(j2)
	if n := len(all(t, j2)); n != len(tests) {
		t.Errorf("Each gave %d records, want %d", n, len(tests))
	}
}

func TestGetMissing(t *testing.T) {
	j, _ := openTemp(t)
	r, ok, err := j.Get("nothing.jpg")
	if err != nil || ok || !reflect.DeepEqual(r, Record{}) {
		t.Errorf("Get of a missing record = %+v, %v, %v; want zero, false, nil", r, ok, err)
	}
}

// TestLifecycle takes inputs through the sequences of states the pipeline
// uses, reopening the journal after every step as a killed run would, and
// checks each step's record survives whole.
func TestLifecycle(t *testing.T) {
	tests := []struct {
		name  string
		steps []State
	}{
		{"straight through", []State{Queued, Uploaded, Submitted, Done}},
		{"failed at submit", []State{Queued, Uploaded, Failed}},
		{"failed at check", []State{Queued, Failed}},
		{"resubmitted after the job was lost", []State{Queued, Uploaded, Submitted, Uploaded, Submitted, Done}},
		{"changed after done, done again", []State{Queued, Uploaded, Submitted, Done, Queued, Uploaded, Submitted, Done}},
		{"failed, then retried", []State{Queued, Failed, Queued, Uploaded, Submitted, Done}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, _ := openTemp(t)
			path := j.Path()
			for n, s := range tc.steps {
				want := sample("life", i, s)
				if n > 0 && s == Submitted && slices.Contains(tc.steps[:n], Submitted) {
					want.Resubmits = 1
				}
				mustPut(t, j, want)
				if err := j.Close(); err != nil {
					t.Fatal(err)
				}
				var err error
				if j, err = Open(path, Options{}); err != nil {
					t.Fatalf("step %d (%s): reopen: %v", n, s, err)
				}
				got, ok, err := j.Get(want.Rel)
				if err != nil || !ok {
					t.Fatalf("step %d (%s): Get = %v, %v", n, s, ok, err)
				}
				got.Updated = time.Time{}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("step %d (%s): got\n%+v\nwant\n%+v", n, s, got, want)
				}
			}
			j.Close()
		})
	}
}

func TestChanged(t *testing.T) {
	mod := time.Unix(1_690_000_000, 500)
	r := Record{Rel: "a.jpg", State: Done, Size: 100, ModTime: mod}
	tests := []struct {
		name string
		size int64
		mod  time.Time
		want bool
	}{
		{"same", 100, mod, false},
		{"same instant in another zone", 100, mod.UTC(), false},
		{"bigger", 101, mod, true},
		{"smaller", 99, mod, true},
		{"touched", 100, mod.Add(time.Nanosecond), true},
		{"older copy put back", 100, mod.Add(-time.Second), true},
		{"zero", 0, time.Time{}, true},
	}
	for _, tc := range tests {
		if got := r.Changed(tc.size, tc.mod); got != tc.want {
			t.Errorf("%s: Changed = %v, want %v", tc.name, got, tc.want)
		}
	}
	if (Record{}).Changed(0, time.Time{}) {
		t.Error("a zero record reports a zero input as changed")
	}
}

func TestEachOrder(t *testing.T) {
	j, _ := openTemp(t)
	// More than one batch, with names whose byte order is not their
	// "natural" order, put in random order.
	names := []string{"a", "a b", "a-b", "a.b", "a/b", "a0", "A", "B/c", "z", "Ä", "é", "日本"}
	for i := range 3*eachBatch + 7 {
		names = append(names, fmt.Sprintf("bulk/%d.jpg", i))
	}
	shuffled := slices.Clone(names)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
	for chunk := range slices.Chunk(shuffled, 500) {
		rs := make([]Record, len(chunk))
		for i, n := range chunk {
			rs[i] = Record{Rel: n, State: Queued}
		}
		mustPut(t, j, rs...)
	}
	var got []string
	for _, r := range all(t, j) {
		got = append(got, r.Rel)
	}
	want := slices.Clone(names)
	slices.SortFunc(want, func(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) })
	if !slices.Equal(got, want) {
		t.Errorf("Each order: got %d records starting %q, want %d starting %q", len(got), got[:min(5, len(got))], len(want), want[:5])
	}
}

func TestEachStopsAndMayWrite(t *testing.T) {
	j, _ := openTemp(t)
	var rs []Record
	for i := range 2*eachBatch + 10 {
		rs = append(rs, Record{Rel: fmt.Sprintf("%05d", i), State: Queued})
	}
	mustPut(t, j, rs...)
	// fn may write the journal, as startup does when it finds an input
	// changed: mark every record done while walking them.
	seen := 0
	err := j.Each(func(r Record) error {
		seen++
		r.State = Done
		return j.Put(r)
	})
	if err != nil {
		t.Fatalf("Each with Put inside: %v", err)
	}
	counts, err := j.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if seen != 2*eachBatch+10 || counts[Done] != seen || counts[Queued] != 0 {
		t.Errorf("saw %d records, counts %v; want all %d done", seen, counts, 2*eachBatch+10)
	}

	// An error from fn ends Each and comes back unchanged.
	stop := errors.New("stop here")
	calls := 0
	err = j.Each(func(Record) error {
		calls++
		if calls == eachBatch+1 {
			return stop
		}
		return nil
	})
	if err != stop || calls != eachBatch+1 {
		t.Errorf("Each = %v after %d calls, want %v after %d", err, calls, stop, eachBatch+1)
	}
}

func TestCounts(t *testing.T) {
	j, _ := openTemp(t)
	want := map[State]int{Queued: 3, Uploaded: 1, Submitted: 4, Done: 7, Failed: 2}
	n := 0
	for _, s := range States {
		for range want[s] {
			mustPut(t, j, sample("c", n, s))
			n++
		}
	}
	// Rewriting a record moves it between states; deleting one removes it.
	mustPut(t, j, sample("c", 0, Done))
	if err := j.Delete(sample("c", 1, Queued).Rel); err != nil {
		t.Fatal(err)
	}
	want[Queued] -= 2
	want[Done]++
	got, err := j.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Counts = %v, want %v", got, want)
	}

	empty, _ := openTemp(t)
	got, err = empty.Counts()
	if err != nil || len(got) != len(States) || got[Done] != 0 {
		t.Errorf("Counts of an empty journal = %v, %v; want every state at 0", got, err)
	}
}

func TestDelete(t *testing.T) {
	j, _ := openTemp(t)
	r := sample("d", 1, Done)
	mustPut(t, j, r)
	if err := j.Delete(r.Rel); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := j.Get(r.Rel); ok || err != nil {
		t.Errorf("after Delete, Get = %v, %v", ok, err)
	}
	if err := j.Delete(r.Rel); err != nil {
		t.Errorf("deleting a missing record: %v", err)
	}
}

func TestPutRefusesInvalid(t *testing.T) {
	tests := []struct {
		name string
		r    Record
	}{
		{"empty rel", Record{State: Queued}},
		{"dot", Record{Rel: ".", State: Queued}},
		{"absolute", Record{Rel: "/etc/passwd", State: Queued}},
		{"dot-dot", Record{Rel: "../out.jpg", State: Queued}},
		{"unclean", Record{Rel: "a//b.jpg", State: Queued}},
		{"trailing slash", Record{Rel: "a/", State: Queued}},
		{"too long", Record{Rel: strings.Repeat("a", 40000), State: Queued}},
		{"no state", Record{Rel: "a.jpg"}},
		{"unknown state", Record{Rel: "a.jpg", State: "running"}},
		{"submitted without a job", Record{Rel: "a.jpg", State: Submitted}},
		{"failed without a failure", Record{Rel: "a.jpg", State: Failed}},
	}
	j, _ := openTemp(t)
	good := Record{Rel: "good.jpg", State: Queued}
	for _, tc := range tests {
		err := j.Put(tc.r)
		if !errors.Is(err, errInvalid) {
			t.Errorf("%s: Put = %v, want an invalid-record error", tc.name, err)
		}
		if uploader.IsFatal(err) {
			t.Errorf("%s: an invalid record should fail the file, not the run: %v", tc.name, err)
		}
		// In a batch, one bad record keeps the others out too.
		if err := j.PutMany([]Record{good, tc.r}); !errors.Is(err, errInvalid) {
			t.Errorf("%s: PutMany = %v, want an invalid-record error", tc.name, err)
		}
	}
	if got := all(t, j); len(got) != 0 {
		t.Errorf("refused records were written: %+v", got)
	}
}

func TestPutManyLastWins(t *testing.T) {
	j, c := openTemp(t)
	a, b := sample("m", 1, Queued), sample("m", 1, Uploaded)
	mustPut(t, j, a, b, sample("m", 2, Queued))
	got, _, _ := j.Get(a.Rel)
	if got.State != Uploaded {
		t.Errorf("state = %s, want the later record's %s", got.State, Uploaded)
	}
	got2, _, _ := j.Get(sample("m", 2, Queued).Rel)
	if !got.Updated.Equal(got2.Updated) || c.n.Load() != 1 {
		t.Errorf("a batch should share one Updated time (got %v and %v, %d clock reads)", got.Updated, got2.Updated, c.n.Load())
	}
	if err := j.PutMany(nil); err != nil {
		t.Errorf("PutMany(nil) = %v", err)
	}
}

// TestConcurrentUse runs writers, readers and Each at once; run with -race.
func TestConcurrentUse(t *testing.T) {
	j, _ := openTemp(t)
	const workers, files = 8, 30
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range files {
				n := w*files + i
				for _, s := range []State{Queued, Uploaded, Submitted, Done} {
					if err := j.Put(sample("conc", n, s)); err != nil {
						t.Error(err)
						return
					}
					if _, ok, err := j.Get(sample("conc", n, s).Rel); !ok || err != nil {
						t.Errorf("Get after Put = %v, %v", ok, err)
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if err := j.Each(func(Record) error { return nil }); err != nil {
				t.Error(err)
				return
			}
			if _, err := j.Counts(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	counts, err := j.Counts()
	if err != nil || counts[Done] != workers*files {
		t.Errorf("Counts = %v, %v; want %d done", counts, err, workers*files)
	}
}

func TestClosed(t *testing.T) {
	j, _ := openTemp(t)
	mustPut(t, j, sample("x", 1, Queued))
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	_, _, err := j.Get("x")
	checkJournalError(t, err, ErrClosed)
	checkJournalError(t, j.Put(sample("x", 2, Queued)), ErrClosed)
	checkJournalError(t, j.Each(func(Record) error { return nil }), ErrClosed)
}
