package main

// End-to-end tests of issue 12: several hotfolder processes of one
// organization share its quota through a real redis-server.

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"hotfolder/ratelimit/redisquota/redistest"
	"hotfolder/uploader/emulator"
)

// rb4 is remove background at 4 POSTs a second, in Adobe's 3 s windows:
// the margin (2 % of the window, 60 ms) then absorbs the scheduling jitter
// of a loaded CI machine running three hotfolders, the emulator and Redis,
// as it absorbs network jitter for Adobe.
var rb4 = []string{"-limit", "remove-background.post=12/3s", "-limit", "remove-background.get=500/1s"}

// namedInputs puts n product shots named <prefix>NN.jpg in a new folder,
// dated long ago so that a -once run takes them at once.
func namedInputs(t *testing.T, prefix string, n int) string {
	t.Helper()
	in := t.TempDir()
	products := []string{"apricot", "avocado", "cherries", "lightbulb", "spade"}
	for i := range n {
		p := filepath.Join(in, fmt.Sprintf("%s%02d.jpg", prefix, i))
		copyDistinct(t, "sample-inputs/products/"+products[i%len(products)]+".jpg", p)
		old := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	return in
}

// sharedRun is one hotfolder of a group.
type sharedRun struct {
	name   string
	out    string
	cmd    *exec.Cmd
	stderr *syncBuffer
}

// startShared starts one hotfolder per name, each on its own folder of n
// images, all against emu and sharing the quota in Redis.
func startShared(t *testing.T, emu emulatorProc, redisURL string, n int, names ...string) []sharedRun {
	t.Helper()
	var runs []sharedRun
	for _, name := range names {
		in, out := namedInputs(t, name, n), filepath.Join(t.TempDir(), "out")
		args := append(emu.args(), append(rb4, "-in", in, "-out", out, "-once", "-storage", emu.url+"/storage",
			"-redis", redisURL, "-stats", "1s")...)
		cmd, stderr := startHotfolderEnv(t, emu.env(), args...)
		runs = append(runs, sharedRun{name, out, cmd, stderr})
	}
	return runs
}

// owner is the process whose input a job's source is: the first letter of
// the file name.
func owner(a emulator.Accepted) string { return path.Base(a.Source)[:1] }

// rate is how many of the accepted jobs in [from, to) there were per
// second.
func rate(acc []emulator.Accepted, from, to time.Time) float64 {
	n := 0
	for _, a := range acc {
		if !a.At.Before(from) && a.At.Before(to) {
			n++
		}
	}
	return float64(n) / to.Sub(from).Seconds()
}

// Three hotfolders, one organization, one Redis: together they keep to the
// organization's limit (the emulator answers no 429) and use it (≥ 95 %),
// and while they compete each gets a fair share (≥ 0.8/3).
func TestSharedQuotaThreeProcesses(t *testing.T) {
	rds := redistest.Start(t)
	emu := startEmulator(t, append(rb4, "-latency", "200ms-1s")...)
	const n = 30
	runs := startShared(t, emu, rds.URL, n, "a", "b", "c")
	// While they run, hotfolder status -redis sees the three of them.
	waitUntil(t, "30 POSTs", func() bool { return emu.stats(t).Posts >= 30 })
	r := hotfolder(t, emu.env(), "status", "-redis", rds.URL)
	if r.code != exitOK || !strings.Contains(r.stdout, "3 hotfolders alive") ||
		!strings.Contains(r.stdout, "remove-background.post: ") || strings.Count(r.stdout, " pid ") != 3 {
		t.Errorf("hotfolder status -redis: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, r := range runs {
		if code := exitCode(t, r.cmd); code != exitOK {
			t.Errorf("hotfolder %s: exit %d\n%s", r.name, code, r.stderr)
		}
		if got := countFiles(r.out, "*.png"); got != n {
			t.Errorf("hotfolder %s: %d outputs, want %d", r.name, got, n)
		}
	}
	st := emu.stats(t)
	if st.TooMany != 0 || st.LimitRefusals != 0 {
		t.Errorf("the emulator answered %d 429s (%d over the limit), want none", st.TooMany, st.LimitRefusals)
	}
	if len(st.Accepted) != 3*n {
		t.Fatalf("%d jobs accepted, want %d: one POST per input", len(st.Accepted), 3*n)
	}
	// Use of the limit while the queue is full: its first 90 %.
	acc := st.Accepted
	steady := acc[:len(acc)*9/10]
	util := float64(len(steady)-1) / steady[len(steady)-1].At.Sub(steady[0].At).Seconds() / 4
	// Shares while all three compete: until two thirds of the POSTs, none
	// can have run out of files.
	share := map[string]int{}
	for _, a := range acc[:2*n] {
		share[owner(a)]++
	}
	t.Logf("utilization %.3f, shares of the first %d POSTs %v", util, 2*n, share)
	if util < 0.95 {
		t.Errorf("utilization %.3f, want ≥ 0.95", util)
	}
	for _, name := range []string{"a", "b", "c"} {
		if got, least := share[name], 0.8*float64(2*n)/3; float64(got) < least {
			t.Errorf("hotfolder %s got %d of the first %d POSTs, want ≥ %.0f (0.8/3)", name, got, 2*n, least)
		}
	}
}

// Redis gone for 5 s in the middle of a run: no request goes out without a
// grant (no 429), the run says so, and when Redis is back, empty, every
// file gets done.
func TestSharedQuotaSurvivesRedisRestart(t *testing.T) {
	rds := redistest.Start(t)
	emu := startEmulator(t, append(rb4, "-latency", "200ms-1s")...)
	const n = 24
	runs := startShared(t, emu, rds.URL, n, "a", "b")
	waitUntil(t, "8 POSTs", func() bool { return emu.stats(t).Posts >= 8 })
	rds.Kill()
	time.Sleep(5 * time.Second)
	during := emu.stats(t).Posts
	rds.Revive() // empty: it saved nothing
	for _, r := range runs {
		if code := exitCode(t, r.cmd); code != exitOK {
			t.Errorf("hotfolder %s: exit %d\n%s", r.name, code, r.stderr)
		}
		if got := countFiles(r.out, "*.png"); got != n {
			t.Errorf("hotfolder %s: %d outputs, want %d", r.name, got, n)
		}
		for _, want := range []string{"Redis cannot be reached; no request is sent until it answers", "Redis answers again"} {
			if !strings.Contains(r.stderr.String(), want) {
				t.Errorf("hotfolder %s did not say %q:\n%s", r.name, want, r.stderr)
			}
		}
	}
	st := emu.stats(t)
	if st.TooMany != 0 || st.LimitRefusals != 0 {
		t.Errorf("the emulator answered %d 429s (%d over the limit), want none", st.TooMany, st.LimitRefusals)
	}
	if st.Posts != 2*n {
		t.Errorf("%d POSTs for %d inputs, want one each", st.Posts, 2*n)
	}
	t.Logf("%d POSTs before Redis went, %d in all", during, st.Posts)
}

// One of three hotfolders killed while it holds a reservation: the other
// two go on at the full rate of the organization.
func TestSharedQuotaOutlivesAKilledProcess(t *testing.T) {
	rds := redistest.Start(t)
	emu := startEmulator(t, append(rb4, "-latency", "200ms-1s")...)
	const n = 30
	runs := startShared(t, emu, rds.URL, n, "a", "b", "c")
	waitUntil(t, "12 POSTs", func() bool { return emu.stats(t).Posts >= 12 })
	runs[0].cmd.Process.Signal(syscall.SIGKILL)
	exitCode(t, runs[0].cmd)
	killed := time.Now()
	for _, r := range runs[1:] {
		if code := exitCode(t, r.cmd); code != exitOK {
			t.Errorf("hotfolder %s: exit %d\n%s", r.name, code, r.stderr)
		}
	}
	st := emu.stats(t)
	if st.TooMany != 0 || st.LimitRefusals != 0 {
		t.Errorf("the emulator answered %d 429s (%d over the limit), want none", st.TooMany, st.LimitRefusals)
	}
	// From a second after the kill until the first of the two runs out of
	// files, their POSTs come at the organization's rate.
	var b, c []time.Time
	for _, a := range st.Accepted {
		switch owner(a) {
		case "b":
			b = append(b, a.At)
		case "c":
			c = append(c, a.At)
		}
	}
	from := killed.Add(time.Second)
	to := slices.MinFunc([]time.Time{b[len(b)-1], c[len(c)-1]}, time.Time.Compare)
	if to.Sub(from) < 3*time.Second {
		t.Fatalf("only %v between the kill and the end: too short to measure", to.Sub(from))
	}
	r := rate(st.Accepted, from, to)
	t.Logf("after the kill: %.2f POSTs a second from %d and %d left", r, len(b), len(c))
	if r < 0.9*4 {
		t.Errorf("after the kill: %.2f POSTs a second, want ≥ %.1f (90 %% of the limit)", r, 0.9*4)
	}
}

// -daily-posts with -redis caps the organization's POSTs of the day, over
// all its hotfolders: the files left are pending, and each run says why.
func TestDailyCapShared(t *testing.T) {
	rds := redistest.Start(t)
	emu := startEmulator(t, append(rb4, "-latency", "100ms-300ms")...)
	runs := []sharedRun{}
	for _, name := range []string{"a", "b"} {
		in, out := namedInputs(t, name, 8), filepath.Join(t.TempDir(), "out")
		cmd, stderr := startHotfolderEnv(t, emu.env(), append(emu.args(), append(rb4, "-in", in, "-out", out, "-once",
			"-storage", emu.url+"/storage", "-redis", rds.URL, "-daily-posts", "10")...)...)
		runs = append(runs, sharedRun{name, out, cmd, stderr})
	}
	done := 0
	for _, r := range runs {
		if code := exitCode(t, r.cmd); code != exitOK {
			t.Errorf("hotfolder %s: exit %d\n%s", r.name, code, r.stderr)
		}
		done += countFiles(r.out, "*.png")
	}
	if st := emu.stats(t); st.Posts != 10 || done != 10 {
		t.Errorf("%d POSTs and %d outputs, want 10 of each", st.Posts, done)
	}
	for _, r := range runs {
		if !strings.Contains(r.stderr.String(), "stopped: the daily POST cap (-daily-posts) is reached") {
			t.Errorf("hotfolder %s does not say the cap stopped it:\n%s", r.name, r.stderr)
		}
	}
	r := hotfolder(t, emu.env(), "status", "-redis", rds.URL)
	if !strings.Contains(r.stdout, "10 POSTs today") || !strings.Contains(r.stdout, "cap 10") {
		t.Errorf("hotfolder status -redis does not show 10 POSTs today of the cap:\n%s", r.stdout)
	}
}

// Without Redis, -daily-posts is the state folder's, across its runs of
// the day.
func TestDailyCapAcrossRuns(t *testing.T) {
	in, out := namedInputs(t, "p", 5), filepath.Join(t.TempDir(), "out")
	args := append(fast(), "-in", in, "-out", out, "-once", "-daily-posts", "3")
	r := hotfolder(t, cleanEnv(), args...)
	if r.code != exitOK || countFiles(out, "*.png") != 3 || !strings.Contains(r.stderr, "2 pending") {
		t.Errorf("first run: exit %d, %d outputs; want 0, 3 and 2 pending", r.code, countFiles(out, "*.png"))
	}
	r = hotfolder(t, cleanEnv(), args...)
	if r.code != exitOK || countFiles(out, "*.png") != 3 || !strings.Contains(r.stderr, "stopped: the daily POST cap") {
		t.Errorf("second run of the day: exit %d, %d outputs; want 0, still 3, and the cap named", r.code, countFiles(out, "*.png"))
	}
}
