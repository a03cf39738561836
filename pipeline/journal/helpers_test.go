package journal

import (
	"errors"
	"fmt"
	"hotfolder/uploader"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a fake Now: every call is one second after the previous.
type clock struct{ n atomic.Int64 }

func (c *clock) Now() time.Time {
	return time.Unix(1_700_000_000+c.n.Add(1), 123_456_789)
}

// openTemp opens a new journal in a fresh temporary folder, closed when the
// test ends.
func openTemp(t testing.TB) (*Journal, *clock) {
	t.Helper()
	c := &clock{}
	j, err := Open(filepath.Join(t.TempDir(), "state", "journal.db"), Options{Now: c.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	return j, c
}

// sample is a realistic record for input number i in the given state, with
// every field a record in that state has.
func sample(prefix string, i int, s State) Record {
	rel := fmt.Sprintf("%s/sku-%06d/IMG_%06d.jpg", prefix, i/10, i)
	r := Record{
		Rel:     rel,
		Size:    int64(1_000_000 + i),
		ModTime: time.Unix(1_690_000_000+int64(i), int64(i%1000)*1_000_000),
		State:   s,
		Outputs: []string{strings.TrimSuffix(rel, ".jpg") + ".png"},
	}
	switch s {
	case Done:
		r.OutputSHA256s = []string{fmt.Sprintf("%064x", i*7919)}
		fallthrough
	case Submitted:
		r.JobID = fmt.Sprintf("f54e0fcb-260b-47c3-b520-%012x", i)
		r.StatusURL = "https://image.adobe.io/v2/status/" + r.JobID
		r.Op = "remove-background"
		r.API = "https://image.adobe.io"
		r.Submitted = time.Unix(1_700_000_000+int64(i), 0)
		fallthrough
	case Uploaded:
		r.SHA256 = fmt.Sprintf("%064x", i)
		r.UploadKey = fmt.Sprintf("hotfolder/inputs/%x/IMG_%06d.jpg", i, i)
	case Failed:
		r.Failure = &Failure{Stage: "process", HTTPStatus: 400, Code: "InputValidationError",
			Message: "the input is not a supported image", Permanent: true, Time: time.Unix(1_700_000_500, 0)}
	}
	if s == Done {
		r.UploadKey = "" // deleted once done
	}
	return r
}

// mustPut writes records or fails the test.
func mustPut(t testing.TB, j *Journal, rs ...Record) {
	t.Helper()
	if err := j.PutMany(rs); err != nil {
		t.Fatalf("PutMany: %v", err)
	}
}

// all returns every record, via Each.
func all(t testing.TB, j *Journal) []Record {
	t.Helper()
	var rs []Record
	if err := j.Each(func(r Record) error { rs = append(rs, r); return nil }); err != nil {
		t.Fatalf("Each: %v", err)
	}
	return rs
}

// checkJournalError checks that err is a fatal *Error matching want, with
// a hint containing every one of hints.
func checkJournalError(t *testing.T, err, want error, hints ...string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v does not match %v", err, want)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is a %T, not an *Error", err, err)
	}
	if !uploader.IsFatal(err) {
		t.Errorf("error %v is not fatal", err)
	}
	if msg := err.Error(); msg != strings.ToLower(msg[:1])+msg[1:] || strings.HasSuffix(msg, ".") {
		t.Errorf("error %q should start lowercase and not end with a period", msg)
	}
	for _, h := range hints {
		if !strings.Contains(e.Hint(), h) {
			t.Errorf("hint %q does not contain %q", e.Hint(), h)
		}
	}
}
