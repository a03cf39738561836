package main

// End-to-end regressions of issue 10: promises the README makes that an
// adversarial pass over the binary found broken, one test per defect.

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hotfolder/ratelimit"
	"hotfolder/uploader/emulator"
)

// oldInputs puts n product shots in a new hot folder, dated long ago so
// that a -once run takes them at once.
func oldInputs(t *testing.T, n int) string {
	t.Helper()
	in := t.TempDir()
	products := []string{"apricot", "avocado", "cherries", "lightbulb", "spade"}
	for i := range n {
		p := filepath.Join(in, fmt.Sprintf("p%02d.jpg", i))
		copyDistinct(t, "sample-inputs/products/"+products[i%len(products)]+".jpg", p)
		old := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	return in
}

// waitUntil polls cond every 20 ms until it holds, failing the test after
// a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countFiles is the number of entries in dir matching pattern.
func countFiles(dir, pattern string) int {
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	return len(m)
}

// Defect 1: in the default mode (the built-in emulator, on a new port each
// run), jobs a stopped run left in flight are finished by the next run:
// polled, not timed out on a dead port and not submitted again.
func TestResumeWithBuiltInEmulator(t *testing.T) {
	in, out := oldInputs(t, 5), filepath.Join(t.TempDir(), "out")
	cmd, stderr := startHotfolder(t, "-in", in, "-out", out, "-once", "-metrics-addr", "127.0.0.1:0")
	// Two jobs accepted (soft limits: the second 1.5 s after the first, and
	// a job takes at least 0.5 s): abort with the second in flight.
	waitUntil(t, "two jobs", func() bool { return submitted(t, stderr) >= 2 })
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	if code := exitCode(t, cmd); code != exitInterrupted {
		t.Fatalf("first run: exit %d, want %d\n%s", code, exitInterrupted, stderr)
	}
	if n := countFiles(out, "*.png"); n == 5 {
		t.Fatal("every file was done before the abort: nothing left to resume")
	}

	// A job polled on the dead port would fail after -job-timeout.
	r := hotfolder(t, cleanEnv(), "-in", in, "-out", out, "-once", "-job-timeout", "30s")
	if r.code != exitOK {
		t.Fatalf("second run: exit %d, want 0", r.code)
	}
	if !strings.Contains(r.stderr, "were polled, not submitted again") {
		t.Errorf("the second run resumed no job:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "submitting the file again") {
		t.Errorf("a resumed job was submitted again:\n%s", r.stderr)
	}
	for i := range 5 {
		readPNG(t, filepath.Join(out, fmt.Sprintf("p%02d.png", i)))
	}
}

// submitted reads from a running hotfolder's metrics (the address it
// printed to stderr) how many jobs it has submitted.
func submitted(t *testing.T, stderr *syncBuffer) int {
	t.Helper()
	m := regexp.MustCompile(`metrics at (http://\S+/metrics)`).FindStringSubmatch(stderr.String())
	if m == nil {
		return 0
	}
	resp, err := http.Get(m[1])
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	n := 0
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "hotfolder_requests_total{") && strings.Contains(line, `op="submit"`) &&
			strings.Contains(line, `code="202"`) {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			n += int(v)
		}
	}
	return n
}

// headerLog records which hosts saw which credentials.
type headerLog struct {
	mu   sync.Mutex
	seen []string // "METHOD path auth=… key=…"
}

func (h *headerLog) add(r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen = append(h.seen, fmt.Sprintf("%s %s auth=%t key=%t", r.Method, r.URL.Path,
		r.Header.Get("Authorization") != "", r.Header.Get("x-api-key") != ""))
}

func (h *headerLog) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seen)
}

// Defect 2: a run against another endpoint never sends its token or client
// id to the host an earlier run's journal recorded; it submits the job
// again, once, to the endpoint it is given.
func TestNoCredentialsToARecordedHost(t *testing.T) {
	// The first endpoint: an emulator in this process, whose every
	// request is recorded, and whose status URLs name it.
	old, err := emulator.New(emulator.Config{MinLatency: time.Minute, Limits: ratelimit.Profile{}})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	var seen headerLog
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.add(r)
		old.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	id, secret := old.Credentials()
	staging := emulatorProc{url: srv.URL, id: id, secret: secret}

	in, out := oldInputs(t, 2), filepath.Join(t.TempDir(), "out")
	cmd, stderr := startHotfolderEnv(t, staging.env(), append(staging.args(), "-in", in, "-out", out, "-once",
		"-storage", srv.URL+"/storage")...)
	waitUntil(t, "a job at the first endpoint", func() bool { return old.Stats().Posts >= 1 })
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	exitCode(t, cmd)
	t.Logf("first run:\n%s", stderr)
	before := seen.len()

	other := startEmulator(t, fast()...)
	r := hotfolder(t, other.env(), append(other.args(), "-in", in, "-out", out, "-once", "-storage", other.url+"/storage",
		"-job-timeout", "30s")...)
	if r.code != exitOK {
		t.Errorf("second run: exit %d, want 0", r.code)
	}
	seen.mu.Lock()
	after := seen.seen[before:]
	seen.mu.Unlock()
	if len(after) != 0 {
		t.Errorf("the second run sent %d requests to the first run's endpoint: %v", len(after), after)
	}
	if !strings.Contains(r.stderr, "submitting the file again") {
		t.Errorf("the job of the other endpoint was not submitted again, once:\n%s", r.stderr)
	}
	for i := range 2 {
		readPNG(t, filepath.Join(out, fmt.Sprintf("p%02d.png", i)))
	}
}

// Defect 3: a name that is not UTF-8 costs nothing on a rerun and gets no
// second output.
func TestNonUTF8NameRerunCostsNothing(t *testing.T) {
	emu := startEmulator(t, fast()...)
	in, out := oldInputs(t, 0), filepath.Join(t.TempDir(), "out")
	copyFile(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, "abricot-\xe9t\xe9.jpg"))
	args := append(emu.args(), append(fast(), "-in", in, "-out", out, "-once", "-storage", emu.url+"/storage")...)
	if r := hotfolder(t, emu.env(), args...); r.code != exitOK {
		t.Fatalf("first run: exit %d", r.code)
	}
	posts := emu.stats(t).Posts
	for range 2 {
		if r := hotfolder(t, emu.env(), args...); r.code != exitOK || !strings.Contains(r.stderr, "1 skipped") {
			t.Fatalf("rerun: exit %d, want 0 and the file skipped", r.code)
		}
	}
	if got := emu.stats(t).Posts; got != posts {
		t.Errorf("the reruns spent %d POSTs, want 0", got-posts)
	}
	if n := countFiles(out, "*.png"); n != 1 {
		t.Errorf("%d outputs after the reruns, want 1", n)
	}
	readPNG(t, filepath.Join(out, "abricot-\xe9t\xe9.png"))
}

// Defect 4: a text file under an output's name in a new output folder is
// not taken for the result; the input is processed and the file replaced.
func TestTextFileNamedLikeAnOutputIsNotAdopted(t *testing.T) {
	in, out := oldInputs(t, 1), filepath.Join(t.TempDir(), "out")
	write(t, filepath.Join(out, "p00.png"), []byte("not a picture\n"))
	r := hotfolder(t, cleanEnv(), "-in", in, "-out", out, "-once")
	if r.code != exitOK || !strings.Contains(r.stderr, "1 done") {
		t.Fatalf("exit %d, want 0 with the file done", r.code)
	}
	readPNG(t, filepath.Join(out, "p00.png"))
}

// Defect 4, second half: a second state folder on the same -out is refused.
func TestSecondStateFolderOnOneOutputIsRefused(t *testing.T) {
	in, out := oldInputs(t, 1), filepath.Join(t.TempDir(), "out")
	if r := hotfolder(t, cleanEnv(), "-in", in, "-out", out, "-once"); r.code != exitOK {
		t.Fatalf("first run: exit %d", r.code)
	}
	r := hotfolder(t, cleanEnv(), "-in", in, "-out", out, "-once", "-state", filepath.Join(t.TempDir(), "state"))
	if r.code != exitFatal || !strings.Contains(r.stderr, "belongs to another state folder") || !strings.Contains(r.stderr, "hint: ") {
		t.Errorf("exit %d, want %d with a reason and a hint", r.code, exitFatal)
	}
}

// Defect 5: SIGINT during -once before the files have settled is an
// interruption (130), not "0 of 0 files" and success.
func TestInterruptBeforeSettleExits130(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	copyFile(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, "new.jpg")) // just written: it must settle
	cmd, stderr := startHotfolder(t, "-in", in, "-out", out, "-once", "-settle", "30s")
	waitUntil(t, "the start", func() bool { return strings.Contains(stderr.String(), "emulator") })
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	if code := exitCode(t, cmd); code != exitInterrupted {
		t.Errorf("exit status %d, want %d\n%s", code, exitInterrupted, stderr)
	}
}

// Defect 6: SIGHUP (a closed terminal or ssh session) stops gracefully, as
// SIGTERM does: the run drains, prints its summary and ends normally.
func TestHangupStopsGracefully(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	cmd, stderr := startHotfolder(t, append(fast(), "-in", in, "-out", out, "-settle", "200ms")...)
	copyFile(t, "sample-inputs/products/cherries.jpg", filepath.Join(in, "cherries.jpg"))
	waitFor(t, filepath.Join(out, "cherries.png"))
	cmd.Process.Signal(syscall.SIGHUP)
	if code := exitCode(t, cmd); code != exitOK {
		t.Errorf("exit status %d after SIGHUP, want 0 (a graceful stop)\n%s", code, stderr)
	}
	if !strings.Contains(stderr.String(), "summary: 1 done") {
		t.Errorf("no summary after SIGHUP:\n%s", stderr)
	}
}

// Defect 6, nohup: an ignored SIGHUP stays ignored.
func TestHangupIgnoredUnderNohup(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	nohup, err := exec.LookPath("nohup")
	if err != nil {
		t.Skipf("no nohup here: %v", err)
	}
	cmd := exec.Command(nohup, append([]string{binary}, append(fast(), "-in", in, "-out", out, "-settle", "200ms")...)...)
	cmd.Env = cleanEnv()
	cmd.Stderr = &syncBuffer{}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	copyFile(t, "sample-inputs/products/cherries.jpg", filepath.Join(in, "cherries.jpg"))
	waitFor(t, filepath.Join(out, "cherries.png"))
	cmd.Process.Signal(syscall.SIGHUP)
	copyFile(t, "sample-inputs/products/spade.jpg", filepath.Join(in, "spade.jpg"))
	waitFor(t, filepath.Join(out, "spade.png")) // still running after the hangup
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCode(t, cmd); code != exitOK {
		t.Errorf("exit status %d, want 0", code)
	}
}

// Defect 7: two inputs whose colliding output name would pass 255 bytes
// are both done, the second under a shortened name, with no failure.
func TestLongCollidingNameCostsNothingExtra(t *testing.T) {
	emu := startEmulator(t, fast()...)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	stem := strings.Repeat("produit-", 31) // 248 bytes: the input's name fits, stem.png.png does not
	copyFile(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, stem+".jpg"))
	copyFile(t, "sample-inputs/photos/chelsea.png", filepath.Join(in, stem+".png"))
	r := hotfolder(t, emu.env(), append(emu.args(), append(fast(), "-in", in, "-out", out, "-once", "-settle", "0s",
		"-storage", emu.url+"/storage")...)...)
	if r.code != exitOK {
		t.Errorf("exit %d, want 0", r.code)
	}
	entries, _ := os.ReadDir(out)
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
			readPNG(t, filepath.Join(out, e.Name()))
		}
	}
	if len(names) != 2 {
		t.Errorf("outputs %q, want 2", names)
	}
	if st := emu.stats(t); st.Posts != 2 {
		t.Errorf("%d POSTs, want 2", st.Posts)
	}
}

// Defect 8: truncated images cost no POST and fail with a clear reason.
func TestTruncatedImagesCostNothing(t *testing.T) {
	emu := startEmulator(t, fast()...)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	jpg, _ := os.ReadFile("sample-inputs/products/spade.jpg") // 288 KB
	pngData, _ := os.ReadFile("sample-inputs/photos/chelsea.png")
	write(t, filepath.Join(in, "cut.jpg"), jpg[:60000])
	write(t, filepath.Join(in, "cut.png"), pngData[:100000])
	write(t, filepath.Join(in, "header-only.png"), headerOnlyPNG(t, 5999, 5999))
	copyFile(t, "sample-inputs/products/avocado.jpg", filepath.Join(in, "whole.jpg"))
	r := hotfolder(t, emu.env(), append(emu.args(), append(fast(), "-in", in, "-out", out, "-once", "-settle", "0s",
		"-storage", emu.url+"/storage")...)...)
	if r.code != exitSomeFailed {
		t.Errorf("exit %d, want %d", r.code, exitSomeFailed)
	}
	for _, want := range []string{"FAILED cut.jpg (check)", "FAILED cut.png (check)", "FAILED header-only.png (check)", "cut short", "1 done"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if st := emu.stats(t); st.Posts != 1 {
		t.Errorf("%d POSTs, want 1: none for a truncated file", st.Posts)
	}
}

// headerOnlyPNG is the start of a real w×h PNG: its signature and IHDR,
// nothing more.
func headerOnlyPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()[:8+25] // signature, then IHDR: length, type, 13 bytes, CRC
}

// Defect 9: a folder of -out that is a symbolic link is not written through;
// the files that would go there fail before any POST, with the reason.
func TestSymlinkedFolderInOutIsRefused(t *testing.T) {
	emu := startEmulator(t, fast()...)
	in, out, elsewhere := t.TempDir(), filepath.Join(t.TempDir(), "out"), t.TempDir()
	copyFile(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, "shoes", "red.jpg"))
	copyFile(t, "sample-inputs/products/avocado.jpg", filepath.Join(in, "ok.jpg"))
	if err := os.MkdirAll(out, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(out, "shoes")); err != nil {
		t.Fatal(err)
	}
	r := hotfolder(t, emu.env(), append(emu.args(), append(fast(), "-in", in, "-out", out, "-once", "-settle", "0s",
		"-storage", emu.url+"/storage")...)...)
	if r.code != exitSomeFailed || !strings.Contains(r.stderr, "FAILED shoes/red.jpg (check)") ||
		!strings.Contains(r.stderr, "symbolic link") {
		t.Errorf("exit %d, want %d with shoes/red.jpg failed for the link", r.code, exitSomeFailed)
	}
	if left, _ := os.ReadDir(elsewhere); len(left) != 0 {
		t.Errorf("written outside -out: %v", left)
	}
	if st := emu.stats(t); st.Posts != 1 {
		t.Errorf("%d POSTs, want 1", st.Posts)
	}
}

// Defect 10: a run started right after a killed one keeps to the limit the
// killed run was keeping to: the emulator, enforcing Adobe's soft limit of
// 2 POSTs in any 3 s, answers no 429.
func TestRestartAfterKillDrawsNo429(t *testing.T) {
	emu := startEmulator(t, "-latency", "200ms-500ms")
	in, out := oldInputs(t, 6), filepath.Join(t.TempDir(), "out")
	args := append(emu.args(), "-in", in, "-out", out, "-once", "-storage", emu.url+"/storage")
	cmd, _ := startHotfolderEnv(t, emu.env(), args...)
	waitUntil(t, "two POSTs", func() bool { return emu.stats(t).Posts >= 2 })
	cmd.Process.Signal(syscall.SIGKILL)
	exitCode(t, cmd)
	r := hotfolder(t, emu.env(), args...)
	if r.code != exitOK {
		t.Errorf("restart: exit %d, want 0", r.code)
	}
	if st := emu.stats(t); st.TooMany != 0 || st.LimitRefusals != 0 {
		t.Errorf("the emulator answered %d 429s (%d over the limit), want none", st.TooMany, st.LimitRefusals)
	}
}
