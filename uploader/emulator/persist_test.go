package emulator

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// on returns sub as a client that knows only the job id would poll it at
// f: hotfolder rebuilds the status URL against the current emulator.
func (f *fixture) on(sub submitted) submitted {
	return submitted{JobID: sub.JobID, StatusURL: f.s.ImageAPIURL() + statusPrefix + url.PathEscape(sub.JobID)}
}

// record reads the job file of id in dir.
func record(t *testing.T, dir, id string) jobRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, jobsDir, jobFileName(id)))
	if err != nil {
		t.Fatal(err)
	}
	var r jobRecord
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// waitFor polls cond until it holds or 10 s have passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkCutout downloads a result and checks it is the cutout of
// objectShot: transparent border, opaque blue centre.
func checkCutout(t *testing.T, resultURL string) {
	t.Helper()
	resp, body := download(t, resultURL)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("result download: %s %s", resp.Status, body)
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("result is not a PNG: %v", err)
	}
	cut, ok := img.(*image.NRGBA)
	if !ok {
		t.Fatalf("result is %T, want NRGBA", img)
	}
	if a := cut.NRGBAAt(2, 2).A; a != 0 {
		t.Errorf("border alpha %d, want 0", a)
	}
	if c := cut.NRGBAAt(60, 45); c != (color.NRGBA{20, 60, 200, 255}) {
		t.Errorf("centre %v, want the opaque blue object", c)
	}
}

// TestRestartRunsCutOffJobs: jobs that emulator A was running or had
// queued when it closed are neither failed nor lost: B, on the same Dir
// and another port, runs them again and they succeed, their inputs read
// from the storage folder although the URLs name A's dead port.
func TestRestartRunsCutOffJobs(t *testing.T) {
	dir, c := t.TempDir(), newClock()
	hour := Config{Dir: dir, MinLatency: time.Hour, MaxLatency: time.Hour}
	cfgA := hour
	cfgA.Workers = 1
	a := startWith(t, cfgA, c, nil)
	slow := newBlockingSource(t, objectShot(t))
	running := a.submit(rbBody(slow.URL+"/in.png", nil))
	waitFor(t, "the first job to download its input", func() bool { w, _ := slow.counts(); return w == 1 })
	queued := a.submit(rbBody(a.upload("in/shot.png", objectShot(t)), map[string]any{"output": map[string]any{"mediaType": "image/png"}}))
	gone := a.submit(rbBody(a.upload("in/gone.png", objectShot(t)), nil))
	if err := NewStore(a.s.StorageURL(), nil).Delete(context.Background(), "in/gone.png"); err != nil {
		t.Fatal(err)
	}
	// B's port, taken while A still holds its own: they differ.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []submitted{running, queued, gone} {
		if r := record(t, dir, sub.JobID); r.Outcome != nil {
			t.Errorf("%s: A recorded the outcome %+v of a job it cut off, want none", sub.JobID, r.Outcome)
		}
	}
	if r := record(t, dir, queued.JobID); r.StorageKey != "in/shot.png" {
		t.Errorf("storage key %q recorded, want in/shot.png", r.StorageKey)
	}

	slow.Release()
	b := startWith(t, hour, c, l)
	if b.s.URL() == a.s.URL() {
		t.Fatalf("B serves at A's URL %s", a.s.URL())
	}
	for _, sub := range []submitted{running, queued, gone} {
		if st := b.status(b.on(sub)); st.Status != "pending" {
			t.Errorf("%s: %q on B at once, want pending (its latency runs from its creation on A)", sub.JobID, st.Status)
		}
		b.waitProcessed(sub.JobID)
	}
	c.Advance(time.Hour)
	for _, sub := range []submitted{running, queued} {
		st := b.status(b.on(sub))
		if st.Status != "succeeded" || st.Result == nil {
			t.Fatalf("%s on B: %+v, want succeeded", sub.JobID, st)
		}
		if !strings.HasPrefix(st.Result.Outputs[0].Destination.URL, b.s.URL()+"/") {
			t.Errorf("result URL %s, want one of B (%s)", st.Result.Outputs[0].Destination.URL, b.s.URL())
		}
		checkCutout(t, st.Result.Outputs[0].Destination.URL)
	}
	st := b.status(b.on(gone))
	if st.Status != "failed" || len(st.ErrorDetails) != 1 || st.ErrorDetails[0].Code != "input_fetch_failed" ||
		!strings.Contains(st.ErrorDetails[0].Message, "no longer in the emulator's upload store") {
		t.Errorf("job whose upload was deleted: %+v, want failed input_fetch_failed saying the object is gone", st)
	}
	if stats := b.s.Stats(); stats.Resumed != 3 || stats.Jobs != 0 || stats.JobsSucceeded != 2 || stats.JobsFailed != 1 {
		t.Errorf("B's stats: resumed %d, jobs %d, succeeded %d, failed %d; want 3, 0, 2, 1",
			stats.Resumed, stats.Jobs, stats.JobsSucceeded, stats.JobsFailed)
	}
	if r := record(t, dir, queued.JobID); r.Outcome == nil || r.Outcome.Failure != nil || r.Outcome.Result == "" {
		t.Errorf("B recorded %+v for a job it finished, want a success", r.Outcome)
	}
}

// TestRestartKeepsFinishedJobs: a job that succeeded or failed on an
// earlier emulator reports the same on the next one, result included, and
// is not run again.
func TestRestartKeepsFinishedJobs(t *testing.T) {
	dir, c := t.TempDir(), newClock()
	a := startWith(t, Config{Dir: dir}, c, nil)
	ok := a.submit(rbBody(a.upload("ok.png", objectShot(t)), nil))
	stOK := a.finish(ok)
	if stOK.Status != "succeeded" {
		t.Fatalf("on A: %+v", stOK)
	}
	if err := a.s.Close(); err != nil {
		t.Fatal(err)
	}
	a2 := startWith(t, Config{Dir: dir, Faults: Faults{JobFailureRate: 1}}, c, nil)
	bad := a2.submit(rbBody(a2.upload("bad.png", objectShot(t)), nil))
	stBad := a2.finish(bad)
	if stBad.Status != "failed" || len(stBad.ErrorDetails) != 1 {
		t.Fatalf("on A2: %+v", stBad)
	}
	if err := a2.s.Close(); err != nil {
		t.Fatal(err)
	}

	b := startWith(t, Config{Dir: dir}, c, nil)
	c.Advance(time.Hour) // no effect on finished jobs' answers
	got := b.status(b.on(ok))
	if got.Status != "succeeded" || got.CreatedTime != stOK.CreatedTime || got.ModifiedTime != stOK.ModifiedTime ||
		got.Result == nil || got.Result.Outputs[0].MediaType != "image/png" {
		t.Fatalf("on B: %+v, want %+v", got, stOK)
	}
	checkCutout(t, got.Result.Outputs[0].Destination.URL)
	// A's own result URL, signed before the restart, verifies on B.
	checkCutout(t, strings.Replace(stOK.Result.Outputs[0].Destination.URL, a.s.URL(), b.s.URL(), 1))

	gotBad := b.status(b.on(bad))
	if gotBad.Status != "failed" || len(gotBad.ErrorDetails) != 1 || *gotBad.ErrorDetails[0] != *stBad.ErrorDetails[0] ||
		gotBad.ModifiedTime != stBad.ModifiedTime || gotBad.Result != nil {
		t.Errorf("failed job on B: %+v (details %+v), want %+v (details %+v)", gotBad, gotBad.ErrorDetails, stBad, stBad.ErrorDetails[0])
	}
	if stats := b.s.Stats(); stats.Jobs != 0 || stats.Resumed != 0 || stats.JobsSucceeded+stats.JobsFailed != 0 {
		t.Errorf("B's stats %+v: B ran a finished job again", stats)
	}
}

// TestSignedURLsSurviveRestart: a storage URL signed by A downloads from B.
func TestSignedURLsSurviveRestart(t *testing.T) {
	dir, c := t.TempDir(), newClock()
	a := startWith(t, Config{Dir: dir}, c, nil)
	data := objectShot(t)
	u := a.upload("kept.png", data)
	aURL := a.s.URL()
	if err := a.s.Close(); err != nil {
		t.Fatal(err)
	}
	b := startWith(t, Config{Dir: dir}, c, nil)
	resp, body := download(t, strings.Replace(u, aURL, b.s.URL(), 1))
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Errorf("A's URL on B: %s, %d bytes, want 200 and the upload", resp.Status, len(body))
	}
	fi, err := os.Stat(filepath.Join(dir, secretFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("secret file mode %v, want 0600", perm)
	}
}

func TestIDStableInDir(t *testing.T) {
	newID := func(dir string) string {
		t.Helper()
		s, err := New(Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		id := s.ID()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := hex.DecodeString(id); err != nil || len(id) != 16 {
			t.Errorf("ID %q, want 16 hex digits", id)
		}
		return id
	}
	dir := t.TempDir()
	a, b := newID(dir), newID(dir)
	if a != b {
		t.Errorf("IDs %s and %s on one Dir, want the same", a, b)
	}
	if other := newID(t.TempDir()); other == a {
		t.Errorf("ID %s on another Dir too, want a different one", other)
	}
	if t1, t2 := newID(""), newID(""); t1 == t2 {
		t.Errorf("ID %s for two temporary directories, want different ones", t1)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("Close removed the persistent Dir: %v", err)
	}
}

// TestCorruptJobFileSkipped: a job file that cannot be read is logged and
// skipped; the other jobs load.
func TestCorruptJobFileSkipped(t *testing.T) {
	dir, c := t.TempDir(), newClock()
	a := startWith(t, Config{Dir: dir}, c, nil)
	src := a.upload("x.png", objectShot(t))
	subs := []submitted{a.submit(rbBody(src, nil)), a.submit(rbBody(src, nil))}
	for _, sub := range subs {
		a.waitProcessed(sub.JobID)
	}
	if err := a.s.Close(); err != nil {
		t.Fatal(err)
	}
	valid, err := os.ReadFile(filepath.Join(dir, jobsDir, jobFileName(subs[0].JobID)))
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		jobFileName("urn:ff:jobs:emulator:truncated"): `{"version":1,"id":"urn:ff:jobs:emul`,
		jobFileName("urn:ff:jobs:emulator:future"):    `{"version":99,"id":"urn:ff:jobs:emulator:future"}`,
		"misnamed.json": string(valid), // a copy: the same job twice
	}
	for name, content := range bad {
		if err := os.WriteFile(filepath.Join(dir, jobsDir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	logs := &syncBuffer{}
	b := startWith(t, Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(logs, nil))}, c, nil)
	c.Advance(10 * time.Second)
	for _, sub := range subs {
		if st := b.status(b.on(sub)); st.Status != "succeeded" {
			t.Errorf("%s on B: %+v, want succeeded", sub.JobID, st)
		}
	}
	b.s.mu.Lock()
	known := len(b.s.jobs)
	b.s.mu.Unlock()
	if known != len(subs) {
		t.Errorf("B knows %d jobs, want %d", known, len(subs))
	}
	for name := range bad {
		if !strings.Contains(logs.String(), name) {
			t.Errorf("no log names the bad file %s; logs:\n%s", name, logs)
		}
	}
}

// syncBuffer is a bytes.Buffer for a logger that job goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestExpiredJobFilesRemoved: once a job's result has expired its file
// goes with it, both when the sweep runs and when a later emulator loads
// the directory.
func TestExpiredJobFilesRemoved(t *testing.T) {
	exists := func(path string) bool {
		_, err := os.Stat(path)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	resultOf := func(f *fixture, id string) string {
		f.s.mu.Lock()
		defer f.s.mu.Unlock()
		return filepath.Join(f.s.dir, resultsDir, f.s.jobs[id].result)
	}

	t.Run("sweep", func(t *testing.T) {
		dir := t.TempDir()
		f := startWith(t, Config{Dir: dir, ResultTTL: time.Hour}, newClock(), nil)
		src := f.upload("x.png", objectShot(t))
		old := f.submit(rbBody(src, nil))
		f.waitProcessed(old.JobID)
		file, result := f.s.jobPath(old.JobID), resultOf(f, old.JobID)
		if !exists(file) || !exists(result) {
			t.Fatalf("job file %v, result %v; want both", exists(file), exists(result))
		}
		f.clock.Advance(10*time.Second + time.Hour) // the result expires now…
		f.submit(rbBody(src, nil))
		if !exists(file) {
			t.Fatal("job file removed while its result is still valid")
		}
		f.clock.Advance(time.Minute) // …and is past it a minute later, when the sweep runs again
		fresh := f.submit(rbBody(src, nil))
		if exists(file) || exists(result) {
			t.Errorf("after the sweep: job file %v, result %v; want neither", exists(file), exists(result))
		}
		if !exists(f.s.jobPath(fresh.JobID)) {
			t.Error("the sweep removed a fresh job's file")
		}
	})

	t.Run("load", func(t *testing.T) {
		dir, c := t.TempDir(), newClock()
		a := startWith(t, Config{Dir: dir, ResultTTL: time.Hour}, c, nil)
		src := a.upload("x.png", objectShot(t))
		old := a.submit(rbBody(src, nil))
		a.waitProcessed(old.JobID)
		file, result := a.s.jobPath(old.JobID), resultOf(a, old.JobID)
		c.Advance(10 * time.Minute)
		kept := a.submit(rbBody(src, nil))
		a.waitProcessed(kept.JobID)
		if err := a.s.Close(); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Hour) // old's result expired (10 s + 1 h after it), kept's not
		b := startWith(t, Config{Dir: dir, ResultTTL: time.Hour}, c, nil)
		if exists(file) || exists(result) {
			t.Errorf("expired job at load: job file %v, result %v; want neither", exists(file), exists(result))
		}
		if resp, body := b.call(http.MethodGet, b.on(old).StatusURL, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("expired job on B: %s %s, want 404", resp.Status, body)
		}
		if st := b.status(b.on(kept)); st.Status != "succeeded" {
			t.Errorf("unexpired job on B: %+v", st)
		}
	})
}

// TestDirLeftoversRemoved: what a killed process left half-written is
// cleared at the next start; saved jobs and uploads are kept.
func TestDirLeftoversRemoved(t *testing.T) {
	dir, c := t.TempDir(), newClock()
	a := startWith(t, Config{Dir: dir}, c, nil)
	u := a.upload("kept.png", objectShot(t))
	sub := a.submit(rbBody(u, nil))
	a.waitProcessed(sub.JobID)
	if err := a.s.Close(); err != nil {
		t.Fatal(err)
	}
	leftovers := []string{
		filepath.Join(dir, jobsDir, tmpPrefix+"123"),
		filepath.Join(dir, workDir, "input-123"),
		filepath.Join(dir, storageDir, ".put-123"),
		filepath.Join(dir, resultsDir, ".result-123"),
		filepath.Join(dir, resultsDir, "orphan.png"),
	}
	for _, p := range leftovers {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := startWith(t, Config{Dir: dir}, c, nil)
	for _, p := range leftovers {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it removed", p, err)
		}
	}
	c.Advance(10 * time.Second)
	st := b.status(b.on(sub))
	if st.Status != "succeeded" {
		t.Fatalf("%+v", st)
	}
	checkCutout(t, st.Result.Outputs[0].Destination.URL)
	if _, err := os.Stat(filepath.Join(dir, storageDir)); err != nil {
		t.Fatal(err)
	}
	if n := countFiles(t, filepath.Join(dir, storageDir)); n != 1 {
		t.Errorf("%d files in storage, want the one upload", n)
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
