package review

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hotfolder/pipeline"
	"hotfolder/pipeline/journal"
	"hotfolder/ratelimit"
)

// liveNight is a run in progress: records a test can add to while the
// Recorder serves them.
type liveNight struct {
	mu   sync.Mutex
	recs []journal.Record
}

func (l *liveNight) each(fn func(journal.Record) error) error {
	l.mu.Lock()
	recs := append([]journal.Record(nil), l.recs...)
	l.mu.Unlock()
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (l *liveNight) add(r journal.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.Updated = time.Now()
	l.recs = append(l.recs, r)
}

// newLive starts a Recorder over fixture f whose run has ended none of
// its records yet; end(i) ends record i as the pipeline would.
func newLive(t testing.TB, f *fixture) (*Recorder, *liveNight, func(i int)) {
	t.Helper()
	ln := &liveNight{}
	r, err := NewRecorder(context.Background(), Options{State: f.state, In: f.in, Out: f.out,
		Records: ln.each,
		Stats:   func() pipeline.Stats { return pipeline.Stats{Started: time.Now().Add(-time.Minute), Skipped: 4} },
		Quota: func() ratelimit.Stats {
			return ratelimit.Stats{ratelimit.Post: {Throttles: 2}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, ln, func(i int) {
		ln.add(f.recs[i])
		r.Ended(f.recs[i])
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestLive(t *testing.T) {
	f := newFixture(t)
	r, _, end := newLive(t, f)
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	r.Granted(string(ratelimit.Post), time.Now())
	end(0)
	var d Data
	waitFor(t, func() bool {
		_, body := get(t, srv.URL+"/data.json")
		d = Data{}
		json.Unmarshal([]byte(body), &d)
		return len(d.Items) == 1 && d.Items[0].After != ""
	})
	if d.Counts.Done != 1 || d.Counts.Skipped != 4 || d.Throttles != 2 || d.Posts["post"] != 1 || !d.Live {
		t.Errorf("live data %+v", d)
	}
	// Polling with the current version gets only the version.
	code, body := get(t, srv.URL+"/data.json?v="+itoa(d.Version))
	if code != 200 || strings.Contains(body, "items") {
		t.Errorf("unchanged poll: %d %s", code, body)
	}
	code, body = get(t, srv.URL+"/thumbs/"+d.Items[0].After)
	if code != 200 || !strings.HasPrefix(body, "\x89PNG") {
		t.Errorf("thumbnail: %d", code)
	}
	for _, p := range []string{"/", "/app.js", "/data.js"} {
		if code, _ := get(t, srv.URL+p); code != 200 {
			t.Errorf("%s: %d", p, code)
		}
	}
}

// The live page serves its own files and thumbnails by hash, and nothing
// else of the disk.
func TestLiveServesNothingElse(t *testing.T) {
	f := newFixture(t)
	r, _, _ := newLive(t, f)
	os.WriteFile(filepath.Join(f.state, Dir, "thumbs", "secret.txt"), []byte("x"), 0o666)
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	for _, p := range []string{"/journal.db", "/night.json", "/thumbs/secret.txt", "/thumbs/../journal.db", "/thumbs/%2e%2e/journal.db",
		"/thumbs/" + strings.Repeat("a", 64) + ".jpg/../../journal.db", "/../../etc/passwd", "/thumbs/", "/index.html/.."} {
		if code, _ := get(t, srv.URL+p); code != http.StatusNotFound && code != http.StatusMovedPermanently {
			t.Errorf("%s: %d", p, code)
		}
	}
	resp, err := http.Post(srv.URL+"/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

// Close saves the night; Build then shows its POSTs, 429s and skipped.
func TestNightSaved(t *testing.T) {
	f := newFixture(t)
	r, _, end := newLive(t, f)
	r.Granted("post", time.Now())
	r.Granted("post", time.Now())
	r.Granted("remove-background-post", time.Now())
	end(0)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	index, err := Build(context.Background(), BuildOptions{State: f.state})
	if err != nil {
		t.Fatal(err)
	}
	d := readData(t, filepath.Dir(index))
	if d.Posts["post"] != 2 || d.Posts["remove-background-post"] != 1 || d.Throttles != 2 || d.Counts.Skipped != 4 {
		t.Errorf("night: posts %v, 429s %d, skipped %d", d.Posts, d.Throttles, d.Counts.Skipped)
	}
	var posts int
	for _, n := range d.Series.Posts {
		posts += n
	}
	if posts != 3 || d.Elapsed <= 0 {
		t.Errorf("series %+v, elapsed %v", d.Series, d.Elapsed)
	}
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }

// waitFor polls cond until it holds, for up to 10 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A run restarted the same night goes on with its POSTs and 429s; one a
// day later starts a night of its own.
func TestNightGoesOnAfterRestart(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	run := func(at time.Time, posts int) Data {
		r, err := NewRecorder(context.Background(), Options{State: f.state, In: f.in, Out: f.out, Now: func() time.Time { return at },
			Quota: func() ratelimit.Stats { return ratelimit.Stats{ratelimit.Post: {Throttles: 1}} }})
		if err != nil {
			t.Fatal(err)
		}
		for range posts {
			r.Granted("post", at)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		index, err := Build(context.Background(), BuildOptions{State: f.state})
		if err != nil {
			t.Fatal(err)
		}
		return readData(t, filepath.Dir(index))
	}
	run(now, 3)
	if d := run(now.Add(time.Hour), 2); d.Posts["post"] != 5 || d.Throttles != 2 || d.Started.Sub(now).Abs() > time.Second {
		t.Errorf("restarted: posts %v, 429s %d, started %v (first run %v)", d.Posts, d.Throttles, d.Started, now)
	}
	if d := run(now.Add(40*time.Hour), 1); d.Posts["post"] != 1 || d.Throttles != 1 {
		t.Errorf("next night: posts %v, 429s %d", d.Posts, d.Throttles)
	}
}
