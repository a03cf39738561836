package main

// End-to-end tests of the built binary: the commands a person types, the
// exit statuses they get, the files they find afterwards. The Adobe side is
// the emulator (built in, or standalone when the test needs its counters);
// storage in adobe mode is a real S3-compatible server (versitygw).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"hotfolder/pipeline"
	"hotfolder/uploader/emulator"
	"hotfolder/uploader/s3store/s3test"
)

// binary is the hotfolder command built once for all tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hotfolder-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "hotfolder")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building hotfolder: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cleanEnv is the environment without Adobe or AWS settings, so a
// developer's own credentials never leak into a test (or pick adobe mode).
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ADOBE_") || strings.HasPrefix(kv, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// result is how a run of the binary ended.
type result struct {
	code           int
	stdout, stderr string
}

// hotfolder runs the binary to the end, stderr to a file as in a log.
func hotfolder(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return hotfolderAs(t, nil, env, args...)
}

// hotfolderAs is hotfolder run as the user cred (nil: this process's).
func hotfolderAs(t *testing.T, cred *syscall.Credential, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var stdout bytes.Buffer
	errFile, err := os.Create(filepath.Join(t.TempDir(), "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	cmd.Stdout, cmd.Stderr = &stdout, errFile
	err = cmd.Run()
	stderr, _ := os.ReadFile(errFile.Name())
	r := result{stdout: stdout.String(), stderr: string(stderr)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running hotfolder %v: %v", args, err)
	}
	t.Logf("hotfolder %s → %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	return r
}

// fast returns flags that lift the limits, so tests do not wait on Adobe's.
func fast() []string {
	return []string{"-limit", "remove-background.post=50/1s", "-limit", "remove-background.get=500/1s"}
}

// The README's main command: every sample becomes a PNG with an alpha
// channel; the product shots' backdrops are transparent; stderr written to
// a file holds plain lines, never a redrawn bar.
func TestSampleInputsOnce(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	r := hotfolder(t, cleanEnv(), "-in", "sample-inputs", "-out", out, "-once")
	if r.code != exitOK {
		t.Fatalf("exit status %d, want 0", r.code)
	}
	inputs := sampleInputs(t)
	for _, rel := range inputs {
		name := strings.TrimSuffix(rel, filepath.Ext(rel)) + ".png"
		img := readPNG(t, filepath.Join(out, name))
		if !hasAlpha(img) {
			t.Errorf("%s has no alpha channel (%T)", name, img)
			continue
		}
		if strings.HasPrefix(rel, "products/") {
			b := img.Bounds()
			for _, p := range []image.Point{b.Min, {b.Max.X - 1, b.Min.Y}, {b.Min.X, b.Max.Y - 1}, {b.Max.X - 1, b.Max.Y - 1}} {
				if _, _, _, a := img.At(p.X, p.Y).RGBA(); a != 0 {
					t.Errorf("%s: backdrop corner %v not transparent (alpha %d)", name, p, a>>8)
				}
			}
			// The backdrop is gone and the subject kept: a product shot is
			// mostly backdrop around a solid subject.
			clear, solid := alphaShares(img)
			if clear < 0.3 || solid < 0.02 {
				t.Errorf("%s: %.0f%% transparent, %.0f%% opaque; want a transparent backdrop around an opaque subject", name, 100*clear, 100*solid)
			}
		}
	}
	if strings.ContainsAny(r.stderr, "\r\x1b") {
		t.Error("stderr is a file, yet it holds carriage returns or escape codes")
	}
	for _, want := range []string{"built-in emulator", "NOT Adobe's", "stats: ", fmt.Sprintf("summary: %d done", len(inputs))} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}

	// Run again: every output is newer than its input, so nothing is redone.
	r = hotfolder(t, cleanEnv(), "-in", "sample-inputs", "-out", out, "-once")
	if r.code != exitOK || !strings.Contains(r.stderr, fmt.Sprintf("0 done, %d skipped", len(inputs))) {
		t.Errorf("rerun: exit %d; want 0 and every file skipped", r.code)
	}
}

func sampleInputs(t *testing.T) []string {
	t.Helper()
	var rels []string
	err := filepath.WalkDir("sample-inputs", func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel("sample-inputs", p)
			rels = append(rels, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil || len(rels) < 6 {
		t.Fatalf("sample-inputs: %d files, %v; want at least 6", len(rels), err)
	}
	return rels
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// alphaShares returns the fractions of fully transparent and fully opaque pixels.
func alphaShares(img image.Image) (clear, solid float64) {
	b := img.Bounds()
	var c, o int
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			switch _, _, _, a := img.At(x, y).RGBA(); a {
			case 0:
				c++
			case 0xffff:
				o++
			}
		}
	}
	n := float64(b.Dx() * b.Dy())
	return float64(c) / n, float64(o) / n
}

func hasAlpha(img image.Image) bool {
	switch img.ColorModel() {
	case color.NRGBAModel, color.RGBAModel, color.NRGBA64Model, color.RGBA64Model, color.AlphaModel, color.Alpha16Model:
		return true
	}
	return false
}

func TestCommandLine(t *testing.T) {
	in := t.TempDir()
	out := filepath.Join(t.TempDir(), "out")
	tests := []struct {
		name string
		args []string
		env  []string
		code int
		want string // in stderr, or stdout for -version
	}{
		{"help", []string{"-h"}, nil, exitOK, "Examples:"},
		{"version", []string{"-version"}, nil, exitOK, "hotfolder "},
		{"no folders", []string{"-once"}, nil, exitUsage, "both -in and -out are required"},
		{"unknown flag", []string{"-in", in, "-out", out, "-frobnicate"}, nil, exitUsage, "flag provided but not defined"},
		{"bad format", []string{"-in", in, "-out", out, "-format", "gif"}, nil, exitUsage, "-format \"gif\""},
		{"bad mode", []string{"-in", in, "-out", out, "-mode", "blur"}, nil, exitUsage, "-mode \"blur\""},
		{"psd mode wants psd", []string{"-in", in, "-out", out, "-mode", "psd", "-format", "png"}, nil, exitUsage, "-format psd"},
		{"bad colour", []string{"-in", in, "-out", out, "-background", "white"}, nil, exitUsage, "RRGGBB"},
		{"bad limit", []string{"-in", in, "-out", out, "-limit", "post=lots"}, nil, exitUsage, "want N/DURATION"},
		{"bad limit name", []string{"-in", in, "-out", out, "-limit", "put=1/1s"}, nil, exitUsage, "unknown name"},
		{"no deleting failures", []string{"-in", in, "-out", out, "-on-failure", "delete"}, nil, exitUsage, "want keep or move"},
		{"bad log format", []string{"-in", in, "-out", out, "-log-format", "xml"}, nil, exitUsage, "want text or json"},
		{"no margin", []string{"-in", in, "-out", out, "-limit-margin", "0"}, nil, exitUsage, "-limit-margin 0"},
		{"bad profile", []string{"-in", in, "-out", out, "-limits", "medium"}, nil, exitUsage, "soft or hard"},
		{"unknown op", []string{"-in", in, "-out", out, "-op", "auto-tone"}, nil, exitUsage, `unknown operation "auto-tone"`},
		{"bad option", []string{"-in", in, "-out", out, "-op", "edit", "-set", "light.exposure=7"}, nil, exitUsage, "-set light.exposure: 7 is out of -5…5"},
		{"bad rendition", []string{"-in", in, "-out", out, "-op", "edit", "-output", "png", "-output", "tiff"}, nil, exitUsage, "-output #2: edit cannot write tiff"},
		{"recipe and flags", []string{"-in", in, "-out", out, "-recipe", "x.yaml", "-op", "edit"}, nil, exitUsage, "leave out -op"},
		{"stray argument", []string{"-in", in, "-out", out, "extra"}, nil, exitUsage, "unexpected argument"},
		{"missing input folder", []string{"-in", filepath.Join(in, "nope"), "-out", out, "-once"}, nil, exitUsage, "not a folder"},
		{"adobe without credentials", []string{"-in", in, "-out", out, "-api", "adobe"}, nil, exitUsage, "ADOBE_CLIENT_ID and ADOBE_CLIENT_SECRET"},
		{"adobe without storage", []string{"-in", in, "-out", out, "-api", "adobe"}, []string{"ADOBE_CLIENT_ID=x", "ADOBE_CLIENT_SECRET=y"}, exitUsage, "-storage s3://"},
		{"out is in", []string{"-in", in, "-out", in + "/.", "-once"}, nil, exitUsage, "is the hot folder (-in) itself"},
		{"in inside out", []string{"-in", in, "-out", filepath.Dir(in), "-once"}, nil, exitUsage, "is inside -out"},
		{"negative daily cap", []string{"-in", in, "-out", out, "-daily-posts", "-1"}, nil, exitUsage, "cannot be negative"},
		{"redis not a URL", []string{"-in", in, "-out", out, "-redis", "localhost:6379"}, nil, exitUsage, "-redis: want redis://"},
		{"quota group without redis", []string{"-in", in, "-out", out, "-quota-group", "studio"}, nil, exitUsage, "give -redis too"},
		{"redis unreachable", []string{"-in", in, "-out", out, "-once", "-redis", "redis://:s3cret-pw@127.0.0.1:1/0"}, nil, exitFatal, "hint: check -redis"},
		{"empty folder", []string{"-in", in, "-out", out, "-once"}, nil, exitOK, "summary: 0 done"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := hotfolder(t, cleanEnv(tc.env...), tc.args...)
			if r.code != tc.code {
				t.Errorf("exit status %d, want %d", r.code, tc.code)
			}
			if !strings.Contains(r.stderr+r.stdout, tc.want) {
				t.Errorf("output lacks %q:\n%s%s", tc.want, r.stdout, r.stderr)
			}
			if strings.Contains(r.stderr+r.stdout, "s3cret-pw") {
				t.Errorf("the Redis password was printed:\n%s%s", r.stdout, r.stderr)
			}
		})
	}
}

// emulatorProc is a standalone emulator (hotfolder emulator), whose
// counters tell how many requests a run spent.
type emulatorProc struct {
	url, id, secret string
}

func startEmulator(t *testing.T, args ...string) emulatorProc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"emulator", "-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = cleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	var e emulatorProc
	listening := regexp.MustCompile(`listening on (http://\S+)`)
	creds := regexp.MustCompile(`ADOBE_CLIENT_ID=(\S+) ADOBE_CLIENT_SECRET=(\S+)`)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && (e.url == "" || e.id == "") {
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			e.url = m[1]
		}
		if m := creds.FindStringSubmatch(sc.Text()); m != nil {
			e.id, e.secret = m[1], m[2]
		}
	}
	go io.Copy(io.Discard, stdout)
	if e.url == "" || e.id == "" {
		t.Fatal("the standalone emulator did not print its URL and credentials")
	}
	return e
}

// args are the flags that point hotfolder's adobe mode at the emulator.
func (e emulatorProc) args() []string {
	return []string{"-api", "adobe", "-ims-url", e.url + "/ims/token/v3", "-image-api-url", e.url, "-photoshop-api-url", e.url}
}

func (e emulatorProc) env(extra ...string) []string {
	return cleanEnv(append([]string{"ADOBE_CLIENT_ID=" + e.id, "ADOBE_CLIENT_SECRET=" + e.secret}, extra...)...)
}

// emuStats is the part of the emulator's counters the tests read.
type emuStats struct {
	Posts          int
	PostsByBucket  map[string]int
	TooMany        int
	LimitRefusals  int
	ServerErrors   int
	JobsFailed     int
	Gets           int
	TokensIssued   int
	Uploads        int
	PostsPerSource map[string]int
	PostTimes      []time.Time
	Accepted       []emulator.Accepted
}

func (e emulatorProc) stats(t *testing.T) emuStats {
	t.Helper()
	resp, err := http.Get(e.url + "/emulator/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s emuStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// A folder mixing good images with files that can be rejected locally: the
// good ones are done, each bad one is reported with its reason, not one
// request is spent on a bad one, and the exit status is 3.
func TestMixedFolderFailsBadFilesLocally(t *testing.T) {
	emu := startEmulator(t)
	cred, base := unprivileged(t)
	in, out := filepath.Join(base, "in"), filepath.Join(base, "out")
	copyFile(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, "apricot.jpg"))
	copyFile(t, "sample-inputs/photos/chelsea.png", filepath.Join(in, "cats", "chelsea.png"))
	write(t, filepath.Join(in, "empty.jpg"), nil)
	write(t, filepath.Join(in, "notes.jpg"), []byte("call the client about the red shoes\n"))
	write(t, filepath.Join(in, "huge.png"), grayPNG(7000, 7000))
	copyFile(t, "sample-inputs/products/avocado.jpg", filepath.Join(in, "locked.jpg"))
	if err := os.Chmod(filepath.Join(in, "locked.jpg"), 0); err != nil {
		t.Fatal(err)
	}
	if cred != nil { // the hot folder is the unprivileged user's to move files out of
		for _, dir := range []string{in, filepath.Join(in, "cats")} {
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
		}
	}

	r := hotfolderAs(t, cred, emu.env(), append(emu.args(), append(fast(), "-in", in, "-out", out, "-once",
		"-storage", emu.url+"/storage", "-on-success", "move", "-on-failure", "move")...)...)
	if r.code != exitSomeFailed {
		t.Errorf("exit status %d, want %d", r.code, exitSomeFailed)
	}
	for _, name := range []string{"apricot.png", "cats/chelsea.png"} {
		readPNG(t, filepath.Join(out, name))
	}
	// Each input moved beside the hot folder, by outcome, keeping its path.
	for _, rel := range []string{"processed/apricot.jpg", "processed/cats/chelsea.png", "failed/empty.jpg",
		"failed/notes.jpg", "failed/huge.png", "failed/locked.jpg"} {
		if _, err := os.Stat(filepath.Join(base, rel)); err != nil {
			t.Errorf("%s: %v", rel, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(in, "*.*")); len(left) != 0 {
		t.Errorf("left in the hot folder: %v, want nothing", left)
	}
	for _, want := range []string{
		"FAILED empty.jpg (check)", "empty",
		"FAILED notes.jpg (check)", "text/plain",
		"FAILED huge.png (check)", "7000",
		"FAILED locked.jpg (check)", "permission denied",
		"2 done", "4 failed",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	st := emu.stats(t)
	if st.Posts != 2 || len(st.PostsPerSource) != 2 {
		t.Errorf("emulator saw %d POSTs for %d sources, want 2 for 2: no request for a bad file", st.Posts, len(st.PostsPerSource))
	}
}

// Faults end to end, on the built binaries: with 5xx answers, 429s without
// Retry-After and with empty bodies, and failed jobs injected, every input
// ends done or failed with a reason; 429s and retried 5xx never fail a file
// on their own, and a failed job is never submitted again.
func TestFaultsEndToEnd(t *testing.T) {
	emu := startEmulator(t, append(fast(), "-latency", "100ms-300ms",
		"-fail-5xx", "0.15", "-fail-429", "0.1", "-no-retry-after", "-empty-bodies", "-fail-jobs", "0.25")...)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	const n = 12
	for i := range n {
		copyDistinct(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, fmt.Sprintf("p%02d.jpg", i)))
	}
	r := hotfolder(t, emu.env(), append(emu.args(), append(fast(), "-in", in, "-out", out, "-once", "-storage", emu.url+"/storage")...)...)
	st := emu.stats(t)
	if st.TooMany == 0 || st.ServerErrors == 0 || st.JobsFailed == 0 {
		t.Fatalf("faults not injected: %d 429s, %d 5xx, %d failed jobs", st.TooMany, st.ServerErrors, st.JobsFailed)
	}
	done := 0
	for i := range n {
		if _, err := os.Stat(filepath.Join(out, fmt.Sprintf("p%02d.png", i))); err == nil {
			done++
		}
	}
	failed := strings.Count(r.stderr, "  FAILED ")
	if done+failed != n {
		t.Errorf("%d done + %d failed of %d inputs: every input must end one way or the other", done, failed, n)
	}
	if failed < st.JobsFailed {
		t.Errorf("%d files failed but %d jobs failed", failed, st.JobsFailed)
	}
	if strings.Contains(r.stderr, "HTTP 429") {
		t.Error("a 429 failed a file")
	}
	if want := exitSomeFailed; r.code != want {
		t.Errorf("exit status %d, want %d", r.code, want)
	}
	for src, posts := range st.PostsPerSource {
		if posts != 1 {
			t.Errorf("%s submitted %d times, want once (a failed job is never resubmitted)", src, posts)
		}
	}
	t.Logf("%d done, %d failed; emulator: %d 429s, %d 5xx, %d failed jobs, %d POSTs", done, failed, st.TooMany, st.ServerErrors, st.JobsFailed, st.Posts)
}

// Killed with SIGKILL at random moments, again and again, then left to
// finish: every input ends with a complete output, nothing half-written
// sits under a final name, and jobs whose ids were journaled are polled,
// not submitted again. A kill between a POST's answer and its journal
// write can cost one extra POST; the test measures how many.
func TestCrashResume(t *testing.T) {
	const n, kills = 45, 4
	// 10 POSTs a second: at most one POST answer waits for its journal
	// write when a kill lands.
	limits := []string{"-limit", "remove-background.post=10/1s", "-limit", "remove-background.get=500/1s"}
	emu := startEmulator(t, append(limits, "-latency", "500ms-2s")...)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	products := []string{"apricot", "avocado", "cherries", "lightbulb", "spade"}
	for i := range n {
		copyDistinct(t, "sample-inputs/products/"+products[i%len(products)]+".jpg", filepath.Join(in, fmt.Sprintf("p%02d.jpg", i)))
	}
	args := append(emu.args(), append(limits, "-in", in, "-out", out, "-once", "-storage", emu.url+"/storage")...)

	// The kill times come from a seed, new each run unless
	// HOTFOLDER_TEST_SEED repeats one; a failure names it.
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("HOTFOLDER_TEST_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("HOTFOLDER_TEST_SEED=%q: %v", s, err)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Cleanup(func() {
		if t.Failed() {
			t.Errorf("to repeat these kill times: HOTFOLDER_TEST_SEED=%d go test -run TestCrashResume .", seed)
		}
	})
	prevPosts := 0
	for k := range kills {
		cmd, stderr := startHotfolderEnv(t, emu.env(), args...)
		after := time.Duration(500+rng.IntN(2500)) * time.Millisecond
		time.Sleep(after)
		cmd.Process.Signal(syscall.SIGKILL)
		exitCode(t, cmd)
		st := emu.stats(t)
		t.Logf("kill %d after %v: %d POSTs so far (+%d)", k+1, after, st.Posts, st.Posts-prevPosts)
		prevPosts = st.Posts
		if strings.Contains(stderr.String(), "error") {
			t.Logf("stderr of the killed run:\n%s", stderr)
		}
	}
	r := hotfolder(t, emu.env(), args...)
	if r.code != exitOK {
		t.Fatalf("final run: exit status %d, want 0", r.code)
	}

	// Every input has a complete PNG; no other file sits in the output.
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != ".hotfolder" {
			names = append(names, e.Name())
		}
	}
	if len(names) != n {
		t.Errorf("%d files in the output folder, want %d: %v", len(names), n, names)
	}
	for i := range n {
		readPNG(t, filepath.Join(out, fmt.Sprintf("p%02d.png", i)))
	}

	// POSTs per input, by the input's name at the end of the upload key.
	st := emu.stats(t)
	perInput := map[string]int{}
	for src, posts := range st.PostsPerSource {
		perInput[path.Base(src)] += posts
	}
	extra := 0
	for name, posts := range perInput {
		if posts > 1 {
			t.Logf("%s was submitted %d times", name, posts)
			extra += posts - 1
		}
	}
	if len(perInput) != n {
		t.Errorf("%d inputs submitted, want %d", len(perInput), n)
	}
	t.Logf("%d kills: %d POSTs for %d inputs, %d extra", kills, st.Posts, n, extra)
	if extra > kills {
		t.Errorf("%d extra POSTs after %d kills: more than the one a kill can cost", extra, kills)
	}
	status := hotfolderStatus(t, out)
	if status.Counts["done"] != n || len(status.Failures) != 0 || len(status.InFlight) != 0 {
		t.Errorf("hotfolder status -json after the final run: %+v", status)
	}
}

// hotfolderStatus runs hotfolder status -json on the output folder out.
func hotfolderStatus(t *testing.T, out string) pipeline.Status {
	t.Helper()
	r := hotfolder(t, cleanEnv(), "status", "-out", out, "-json")
	if r.code != exitOK {
		t.Fatalf("hotfolder status: exit %d\n%s", r.code, r.stderr)
	}
	var st pipeline.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("hotfolder status -json: %v\n%s", err, r.stdout)
	}
	return st
}

// -max-posts caps the POSTs of a run: the rest of the files stay pending,
// not failed, and the run ends normally.
func TestMaxPosts(t *testing.T) {
	emu := startEmulator(t, fast()...)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	for i := range 6 {
		copyDistinct(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, fmt.Sprintf("p%d.jpg", i)))
	}
	r := hotfolder(t, emu.env(), append(emu.args(), append(fast(), "-in", in, "-out", out, "-once",
		"-storage", emu.url+"/storage", "-max-posts", "2", "-workers", "1")...)...)
	if r.code != exitOK {
		t.Errorf("exit status %d, want 0", r.code)
	}
	if st := emu.stats(t); st.Posts != 2 {
		t.Errorf("%d POSTs, want 2", st.Posts)
	}
	for _, want := range []string{"2 done", "4 pending", "stopped: the POST budget of this run (-max-posts) is spent"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
}

// The first signal stops taking files; once -grace is over the jobs in
// flight are left, journaled, and the run exits 130; hotfolder status then
// lists them.
func TestGraceLeavesJobsInFlight(t *testing.T) {
	emu := startEmulator(t, append(fast(), "-latency", "30s")...)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	for i := range 3 {
		copyDistinct(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, fmt.Sprintf("p%d.jpg", i)))
	}
	cmd, stderr := startHotfolderEnv(t, emu.env(), append(emu.args(), append(fast(), "-in", in, "-out", out, "-once",
		"-storage", emu.url+"/storage", "-grace", "1s")...)...)
	deadline := time.Now().Add(30 * time.Second)
	for emu.stats(t).Posts < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCode(t, cmd); code != exitInterrupted {
		t.Errorf("exit status %d, want %d\n%s", code, exitInterrupted, stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to stop with -grace 1s", d)
	}
	if !strings.Contains(stderr.String(), "grace period (-grace 1s) is over") {
		t.Errorf("the end of the grace period is not said:\n%s", stderr)
	}
	st := hotfolderStatus(t, out)
	if len(st.InFlight) != 3 || st.Counts["submitted"] != 3 {
		t.Errorf("status after the grace period: %+v, want 3 jobs in flight", st)
	}
}

// -max-duration is the overnight window: no new file after it, the files
// in flight finish, and it is a normal end (exit 0), not an interruption.
func TestMaxDuration(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	for i := range 20 {
		copyDistinct(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, fmt.Sprintf("p%02d.jpg", i)))
	}
	r := hotfolder(t, cleanEnv(), "-in", in, "-out", out, "-once", "-workers", "2",
		"-limit", "remove-background.post=2/1s", "-max-duration", "1500ms", "-settle", "100ms")
	if r.code != exitOK {
		t.Errorf("exit status %d, want 0", r.code)
	}
	if !strings.Contains(r.stderr, "time limit (-max-duration) is reached") {
		t.Errorf("stderr does not tell of the time limit:\n%s", r.stderr)
	}
	// However many files a machine this fast or slow took in 1.5 s (at 2
	// POSTs a second, far fewer than 20), those finished whole and the
	// rest were left pending: nothing failed, nothing was cut off.
	outs, _ := filepath.Glob(filepath.Join(out, "*.png"))
	for _, o := range outs {
		readPNG(t, o)
	}
	want := fmt.Sprintf("summary: %d done, 0 skipped, 0 failed, %d pending of 20 files", len(outs), 20-len(outs))
	if len(outs) >= 20 || !strings.Contains(r.stderr, want) {
		t.Errorf("%d outputs; the summary does not say %q", len(outs), want)
	}
}

// A dry run lists what would happen and what it would cost, and spends
// nothing: not a token, not an upload, not a POST; it writes nothing.
func TestDryRunSpendsNothing(t *testing.T) {
	emu := startEmulator(t)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	copyFile(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, "apricot.jpg"))
	copyFile(t, "sample-inputs/products/spade.jpg", filepath.Join(in, "tools/spade.jpg"))
	write(t, filepath.Join(in, "notes.jpg"), []byte("call the client\n"))
	r := hotfolder(t, emu.env(), append(emu.args(), "-in", in, "-out", out, "-dry-run", "-settle", "0s", "-storage", emu.url+"/storage")...)
	if r.code != exitOK {
		t.Fatalf("exit status %d, want 0", r.code)
	}
	for _, want := range []string{"process  apricot.jpg -> apricot.png", "process  tools/spade.jpg -> tools/spade.png",
		"reject   notes.jpg: validate: not an image", "2 to process", "1 rejected locally",
		"POSTs: 2 on remove-background.post (2 per 3s). At the limits that takes about 3s", "Nothing was sent and nothing written"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, r.stdout)
		}
	}
	if st := emu.stats(t); st.Posts+st.Gets+st.TokensIssued+st.Uploads != 0 {
		t.Errorf("the emulator saw %+v, want nothing at all", st)
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the output folder was created: %v", err)
	}
}

// unprivileged returns the user to run hotfolder as so that a file with
// mode 0 cannot be read, and a folder that user may write in. Tests often
// run as root, whom file modes do not stop: then it is nobody (65534), and
// the folders on the way are opened up for it.
func unprivileged(t *testing.T) (*syscall.Credential, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil, t.TempDir()
	}
	base, err := os.MkdirTemp("", "hotfolder-nobody")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	for _, dir := range []string{base, filepath.Dir(binary)} {
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	return &syscall.Credential{Uid: 65534, Gid: 65534}, base
}

// Adobe mode end to end: credentials from the environment, inputs uploaded
// to a real S3-compatible server and fetched from there by the (standalone)
// emulator through presigned URLs, and removed from the bucket afterwards.
func TestAdobeModeWithS3Storage(t *testing.T) {
	srv := s3test.Start(t)
	emu := startEmulator(t)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	copyFile(t, "sample-inputs/products/cherries.jpg", filepath.Join(in, "cherries.jpg"))
	copyFile(t, "sample-inputs/products/avocado.jpg", filepath.Join(in, "avocado.jpg"))
	prefix := fmt.Sprintf("e2e-%d", time.Now().UnixNano())

	env := emu.env("AWS_ACCESS_KEY_ID="+srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+srv.SecretKey, "AWS_REGION="+srv.Region)
	args := append(emu.args(), fast()...)
	args = append(args, "-in", in, "-out", out, "-once",
		"-storage", "s3://"+srv.Bucket+"/"+prefix, "-s3-endpoint", srv.Endpoint, "-s3-path-style")
	r := hotfolder(t, env, args...)
	if r.code != exitOK {
		t.Fatalf("exit status %d, want 0", r.code)
	}
	for _, name := range []string{"cherries.png", "avocado.png"} {
		if img := readPNG(t, filepath.Join(out, name)); !hasAlpha(img) {
			t.Errorf("%s has no alpha channel", name)
		}
	}
	if st := emu.stats(t); st.Posts != 2 {
		t.Errorf("emulator saw %d POSTs, want 2", st.Posts)
	}
	list, err := srv.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: &prefix})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 0 {
		t.Errorf("%d uploaded inputs left in the bucket, want 0", len(list.Contents))
	}
}

// Wrong credentials stop the run before any file is touched: exit 1, with
// a hint naming the variables to check, and the secret never printed.
func TestBadCredentialsAreFatal(t *testing.T) {
	emu := startEmulator(t)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	copyFile(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, "apricot.jpg"))
	env := cleanEnv("ADOBE_CLIENT_ID="+emu.id, "ADOBE_CLIENT_SECRET=not-the-secret-42")
	r := hotfolder(t, env, append(emu.args(), "-in", in, "-out", out, "-once", "-storage", emu.url+"/storage")...)
	if r.code != exitFatal {
		t.Errorf("exit status %d, want %d", r.code, exitFatal)
	}
	if !strings.Contains(r.stderr, "hint:") || !strings.Contains(r.stderr, "ADOBE_CLIENT_SECRET") {
		t.Errorf("no hint about the credentials in:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "not-the-secret-42") {
		t.Error("the secret was printed")
	}
	if _, err := os.Stat(filepath.Join(out, "apricot.png")); err == nil {
		t.Error("an output was written despite bad credentials")
	}
}

// -format jpeg with no -background: white behind the subject, and the user
// is told, so Adobe's black JPEG background never reaches anyone silently.
func TestJPEGGetsWhiteBackground(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	copyFile(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, "apricot.jpg"))
	r := hotfolder(t, cleanEnv(), append(fast(), "-in", in, "-out", out, "-once", "-format", "jpeg")...)
	if r.code != exitOK {
		t.Fatalf("exit status %d, want 0", r.code)
	}
	if !strings.Contains(r.stderr, "becomes white") {
		t.Error("the white background was not announced")
	}
	f, err := os.Open(filepath.Join(out, "apricot.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if r, g, b, _ := img.At(2, 2).RGBA(); r>>8 < 240 || g>>8 < 240 || b>>8 < 240 {
		t.Errorf("corner is (%d,%d,%d), want white", r>>8, g>>8, b>>8)
	}
}

// Watch mode: a file renamed into the hot folder is processed; the first
// SIGTERM drains and exits 0, as the normal end of a watch.
func TestWatchModeProcessesNewFilesAndStopsGracefully(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	cmd, stderr := startHotfolder(t, append(fast(), "-in", in, "-out", out, "-settle", "200ms")...)
	// As a sync client would: write a temp file, then rename it into place.
	copyFile(t, "sample-inputs/products/cherries.jpg", filepath.Join(in, "new", ".cherries.jpg.part"))
	if err := os.Rename(filepath.Join(in, "new", ".cherries.jpg.part"), filepath.Join(in, "new", "cherries.jpg")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, filepath.Join(out, "new", "cherries.png"))
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCode(t, cmd); code != exitOK {
		t.Errorf("exit status %d after a graceful stop, want 0\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "new", ".cherries.jpg.png")); err == nil {
		t.Error("the temporary .part file was processed")
	}
}

// -once interrupted: the first signal lets the file in flight finish (its
// output is complete) and takes no new one; the status is 130 because the
// work was not finished.
func TestOnceInterruptedExits130(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	for i := range 6 {
		copyDistinct(t, "sample-inputs/products/avocado.jpg", filepath.Join(in, fmt.Sprintf("a%d.jpg", i)))
	}
	cmd, stderr := startHotfolder(t, "-in", in, "-out", out, "-once", "-workers", "1",
		"-limit", "remove-background.post=1/1s")
	waitFor(t, filepath.Join(out, "a0.png"))
	cmd.Process.Signal(syscall.SIGINT)
	if code := exitCode(t, cmd); code != exitInterrupted {
		t.Errorf("exit status %d, want %d\n%s", code, exitInterrupted, stderr)
	}
	var done int
	for i := range 6 {
		if _, err := os.Stat(filepath.Join(out, fmt.Sprintf("a%d.png", i))); err == nil {
			readPNG(t, filepath.Join(out, fmt.Sprintf("a%d.png", i))) // complete, decodable
			done++
		}
	}
	if done == 0 || done == 6 {
		t.Errorf("%d of 6 outputs after the interruption, want some but not all", done)
	}
	if !strings.Contains(stderr.String(), "pending") {
		t.Errorf("the summary does not mention the pending files:\n%s", stderr)
	}
}

// A second signal aborts at once, even while a job is in flight.
func TestSecondSignalAborts(t *testing.T) {
	emu := startEmulator(t, "-latency", "30s")
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	copyFile(t, "sample-inputs/products/avocado.jpg", filepath.Join(in, "a.jpg"))
	cmd, stderr := startHotfolderEnv(t, emu.env(), append(emu.args(), "-in", in, "-out", out, "-once", "-storage", emu.url+"/storage")...)
	// The job takes 30 s: once it is submitted, it is in flight.
	waitUntil(t, "the job to be submitted", func() bool { return emu.stats(t).Posts == 1 })
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	if code := exitCode(t, cmd); code != exitInterrupted {
		t.Errorf("exit status %d, want %d\n%s", code, exitInterrupted, stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to abort; the job in flight was waited for", d)
	}
}

// syncBuffer collects a child's stderr while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func startHotfolder(t *testing.T, args ...string) (*exec.Cmd, *syncBuffer) {
	return startHotfolderEnv(t, cleanEnv(), args...)
}

func startHotfolderEnv(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, stderr
}

func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(time.Minute):
		t.Fatal("hotfolder did not exit within a minute")
		return -1
	}
}

func waitFor(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not appear within a minute", path)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	write(t, to, b)
}

// copyDistinct copies the JPEG from to to, with a comment naming to after
// its start marker: an image like the original, but not byte-identical to
// another copy, so that each copy is a job of its own (identical ones are
// one job: content dedupe).
func copyDistinct(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0xFF || b[1] != 0xD8 {
		t.Fatalf("%s is not a JPEG", from)
	}
	note := []byte("copy " + filepath.Base(to))
	seg := append([]byte{0xFF, 0xFE, byte((len(note) + 2) >> 8), byte(len(note) + 2)}, note...)
	write(t, to, append(append(append([]byte{}, b[:2]...), seg...), b[2:]...))
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o666); err != nil {
		t.Fatal(err)
	}
}

// grayPNG is a real PNG of w×h pixels: the header is all a local check
// reads, and a gray image of one colour compresses to almost nothing.
func grayPNG(w, h int) []byte {
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// -metrics-addr serves Prometheus metrics and /healthz while a run goes.
func TestMetricsEndpoint(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	copyFile(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, "apricot.jpg"))
	cmd, stderr := startHotfolder(t, append(fast(), "-in", in, "-out", out, "-metrics-addr", "127.0.0.1:0", "-settle", "100ms")...)
	waitFor(t, filepath.Join(out, "apricot.png"))
	addr := regexp.MustCompile(`metrics at (http://\S+)/metrics`).FindStringSubmatch(stderr.String())
	if addr == nil {
		t.Fatalf("the metrics address is not printed:\n%s", stderr)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(addr[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) { // the output appears just before the count
		if _, body = get("/metrics"); strings.Contains(body, `hotfolder_files_finished_total{outcome="done"} 1`) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{
		`hotfolder_files_finished_total{outcome="done"} 1`,
		`hotfolder_requests_total{code="202",op="submit"} 1`,
		`hotfolder_job_duration_seconds_count{outcome="succeeded"} 1`,
		`hotfolder_transfer_size_bytes_count{direction="up"} 1`,
		`hotfolder_quota_limit_requests_per_second{bucket="remove-background.post"} 50`,
		`hotfolder_healthy 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, body := get("/healthz"); code != http.StatusOK || !strings.HasPrefix(body, "ok") {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCode(t, cmd); code != exitOK {
		t.Errorf("exit status %d after a graceful stop, want 0", code)
	}
}

// Logs as JSON to a file, at -v: every line is JSON, requests are there,
// and neither the client secret, an access token nor a URL signature is.
func TestLogFileJSONRedacted(t *testing.T) {
	emu := startEmulator(t, fast()...)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	copyFile(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, "apricot.jpg"))
	logFile := filepath.Join(t.TempDir(), "hotfolder.log")
	r := hotfolder(t, emu.env(), append(emu.args(), append(fast(), "-in", in, "-out", out, "-once", "-v",
		"-storage", emu.url+"/storage", "-log-format", "json", "-log-file", logFile)...)...)
	if r.code != exitOK {
		t.Fatalf("exit status %d", r.code)
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	requests := 0
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		if rec["msg"] == "request" {
			requests++
		}
	}
	if requests < 3 {
		t.Errorf("%d request lines at -v, want token, submit, status…", requests)
	}
	token := regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[0-9a-f]{8,}`)
	for name, text := range map[string]string{"log file": string(data), "stderr": r.stderr} {
		if strings.Contains(text, emu.secret) || token.MatchString(text) || regexp.MustCompile(`sig=[0-9a-f]{8,}`).MatchString(text) {
			t.Errorf("the %s shows a secret, a token or a signature:\n%s", name, text)
		}
	}
	if strings.Contains(r.stderr, `"msg"`) {
		t.Error("log lines went to stderr despite -log-file")
	}
}
