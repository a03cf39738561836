package main

// End-to-end tests of issue 17: many hot folders (workflows), each with
// its own recipe, in one hotfolder process started with -config.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"hotfolder/ratelimit"
	"hotfolder/ratelimit/redisquota/redistest"
)

// tight is the limit the workflow tests run at, in the emulator and in
// hotfolder: 4 POSTs a second per POST bucket. The window is 10 s so that
// the margin (2 %, 200 ms) absorbs the jitter of a loaded machine logging
// every request (-v): at 12/3s its 60 ms let a single-folder run draw an
// occasional 429 here too.
var tight = []string{"-limit", "remove-background.post=40/10s", "-limit", "post=40/10s", "-limit", "remove-background.get=500/1s", "-limit", "get=500/1s"}

// emulatorConfig is the global part of a config file pointing hotfolder's
// adobe mode at the standalone emulator, at the tight limit.
func emulatorConfig(e emulatorProc, state string) string {
	return fmt.Sprintf(`api: adobe
ims-url: %[1]s/ims/token/v3
image-api-url: %[1]s
photoshop-api-url: %[1]s
storage: %[1]s/storage
limit: [remove-background.post=40/10s, post=40/10s, remove-background.get=500/1s, get=500/1s]
settle: 200ms
state: %[2]s
`, e.url, state)
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hotfolder.yaml")
	write(t, p, []byte(text))
	return p
}

// Three workflows on three folders with different recipes, run together
// against the standalone emulator at a tight limit: each output is its
// workflow's recipe's, the emulator saw no request over the limit, and
// every input cost exactly one POST.
func TestWorkflowsThreeRecipes(t *testing.T) {
	emu := startEmulator(t, tight...)
	const n = 6
	cut, web, tone := namedInputs(t, "c", n), namedInputs(t, "w", n), namedInputs(t, "t", n)
	outs := t.TempDir()
	cfg := writeConfig(t, emulatorConfig(emu, filepath.Join(outs, "state"))+fmt.Sprintf(`workflows:
  - name: cutout-white
    in: %s
    out: %s/cutout
    recipe:
      steps:
        - op: remove-background
          backgroundColor: {red: 255, green: 255, blue: 255, alpha: 1}
      outputs: [jpeg]
  - name: web-64
    in: %s
    out: %s/web
    priority: 3
    recipe:
      steps:
        - op: product-crop
      outputs: ["jpeg:maxWidth=64"]
  - name: tone
    in: %s
    out: %s/tone
    priority: 7
    recipe:
      steps:
        - op: edit
          autoTone: true
      outputs: [png, jpeg]
`, cut, outs, web, outs, tone, outs))
	r := hotfolder(t, emu.env(), "-config", cfg, "-once", "-progress", "lines")
	if r.code != exitOK {
		t.Fatalf("exit %d, want 0", r.code)
	}
	// Progress and status, workflow by workflow.
	for _, want := range []string{"stats[cutout-white]: 6/6 files: 6 done", "stats[tone]: 6/6 files: 6 done",
		"  web-64: 6 done, 0 skipped, 0 failed of 6 files"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	st := hotfolder(t, cleanEnv(), "status", "-config", cfg)
	if st.code != exitOK || strings.Count(st.stdout, "6 done") != 3 || !strings.Contains(st.stdout, "workflow web-64 (priority 3") {
		t.Errorf("status -config: exit %d\n%s", st.code, st.stdout)
	}
	for i := range n {
		img := decodeJPEG(t, filepath.Join(outs, "cutout", fmt.Sprintf("c%02d.jpg", i)))
		if r, g, b, _ := img.At(1, 1).RGBA(); r>>8 < 240 || g>>8 < 240 || b>>8 < 240 {
			t.Errorf("cutout-white c%02d: corner (%d,%d,%d), want white", i, r>>8, g>>8, b>>8)
		}
		if w := decodeJPEG(t, filepath.Join(outs, "web", fmt.Sprintf("w%02d.jpg", i))).Bounds().Dx(); w > 64 {
			t.Errorf("web-64 w%02d: %d pixels wide, want at most 64", i, w)
		}
		for _, ext := range []string{"png", "jpg"} {
			if _, err := os.Stat(filepath.Join(outs, "tone", fmt.Sprintf("t%02d.%s", i, ext))); err != nil {
				t.Errorf("tone: %v", err)
			}
		}
	}
	if got := countFiles(filepath.Join(outs, "cutout"), "c*") + countFiles(filepath.Join(outs, "web"), "w*") + countFiles(filepath.Join(outs, "tone"), "t*"); got != 4*n {
		t.Errorf("%d outputs, want %d: one for cutout-white and web-64, two for tone", got, 4*n)
	}
	es := emu.stats(t)
	if es.TooMany != 0 || es.LimitRefusals != 0 {
		t.Errorf("the emulator answered %d 429s (%d over the limit), want none", es.TooMany, es.LimitRefusals)
	}
	if len(es.Accepted) != 3*n || es.PostsByBucket["remove-background.post"] != n || es.PostsByBucket["post"] != 2*n {
		t.Errorf("%d jobs accepted (%v), want %d: one POST per input", len(es.Accepted), es.PostsByBucket, 3*n)
	}
	for src, k := range es.PostsPerSource {
		if k != 1 {
			t.Errorf("%s: %d POSTs, want 1", src, k)
		}
	}
}

func decodeJPEG(t *testing.T, p string) image.Image {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return img
}

// grantLine is the Scheduler's log line of one grant (-v).
type grantLine struct {
	Msg       string  `json:"msg"`
	Workflow  string  `json:"workflow"`
	Bucket    string  `json:"bucket"`
	Waited    float64 `json:"waited"` // nanoseconds, as slog's JSON writes a duration
	Overtaken int     `json:"overtaken"`
	Interval  float64 `json:"interval"`
}

// grantLines reads the grants of a JSON log file.
func grantLines(t *testing.T, logFile string) []grantLine {
	t.Helper()
	f, err := os.Open(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []grantLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var g grantLine
		if json.Unmarshal(sc.Bytes(), &g) == nil && g.Msg == "quota granted" {
			out = append(out, g)
		}
	}
	return out
}

// A rush folder is not starved by a backlog: with 200 files waiting in a
// priority-5 workflow (24 of them taken, waiting for the quota), each file dropped into the priority-1 workflow gets
// the next grant of the bucket (overtaken by none), so it waits at most one
// grant interval; the emulator sees no request over the limit.
func TestWorkflowsRushBeatsBacklog(t *testing.T) {
	emu := startEmulator(t, tight...)
	bulk, rush := namedInputs(t, "b", 200), t.TempDir()
	outs := t.TempDir()
	logFile := filepath.Join(t.TempDir(), "hotfolder.log")
	cfg := writeConfig(t, emulatorConfig(emu, filepath.Join(outs, "state"))+fmt.Sprintf(`workflows:
  - name: bulk
    in: %s
    out: %s/bulk
    workers: 24
    recipe: {steps: [{op: remove-background}]}
  - name: rush
    in: %s
    out: %s/rush
    priority: 1
    recipe: {steps: [{op: remove-background}]}
`, bulk, outs, rush, outs))
	cfg = addLine(t, cfg, "metrics-addr: 127.0.0.1:0")
	cmd, stderr := startHotfolderEnv(t, emu.env(), "-config", cfg, "-v", "-log-format", "json", "-log-file", logFile, "-progress", "none")
	waitUntil(t, "the backlog to start", func() bool { return emu.stats(t).Posts >= 8 })
	const rushFiles = 3
	for i := range rushFiles {
		// One at a time, a second apart: each meets the backlog alone.
		name := fmt.Sprintf("r%02d.jpg", i)
		copyDistinct(t, "sample-inputs/products/spade.jpg", filepath.Join(rush, "."+name+".part"))
		if err := os.Rename(filepath.Join(rush, "."+name+".part"), filepath.Join(rush, name)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
	for i := range rushFiles {
		waitFor(t, filepath.Join(outs, "rush", fmt.Sprintf("r%02d.png", i)))
	}
	checkWorkflowMetrics(t, stderr.String(), rushFiles)
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCode(t, cmd); code != exitOK {
		t.Fatalf("exit %d after SIGTERM in watch mode, want 0\n%s", code, stderr)
	}
	st := emu.stats(t)
	if st.TooMany != 0 || st.LimitRefusals != 0 {
		t.Errorf("the emulator answered %d 429s (%d over the limit), want none; %d POST times over 40/10s; posts %v", st.TooMany, st.LimitRefusals,
			ratelimit.Violations(ratelimit.Limit{N: 40, Window: 10 * time.Second}, st.PostTimes), st.PostsByBucket)
		data, _ := os.ReadFile(logFile)
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, "throttled") || strings.Contains(l, "429") {
				t.Log(l)
			}
		}
	}
	bulkDone := 0
	for _, a := range st.Accepted {
		if path.Base(a.Source)[0] == 'b' {
			bulkDone++
		}
	}
	if left := 200 - bulkDone; left < 50 {
		t.Errorf("only %d bulk files were left when the run stopped: the backlog was not a backlog", left)
	}
	var rushGrants int
	for _, g := range grantLines(t, logFile) {
		if g.Workflow != "rush" || g.Bucket != "remove-background.post" {
			continue
		}
		rushGrants++
		waited, interval := time.Duration(g.Waited), time.Duration(g.Interval)
		t.Logf("rush granted after %v (one interval is %v), overtaken by %d", waited, interval, g.Overtaken)
		if g.Overtaken != 0 {
			t.Errorf("a rush file was overtaken by %d bulk files", g.Overtaken)
		}
		// Overtaken by none means the next grant; the bound only
		// guards against nonsense, with room for a loaded machine.
		if waited > 2*interval {
			t.Errorf("a rush file waited %v, more than one interval (%v) and then some", waited, interval)
		}
	}
	if rushGrants != rushFiles {
		t.Errorf("%d rush grants logged, want %d", rushGrants, rushFiles)
	}
}

// A broken config is refused before anything starts: exit 2, every
// mistake on its own line with its line number.
func TestWorkflowsBrokenConfigExit2(t *testing.T) {
	in := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`limits: medium
workflows:
  - name: a
    in: %[1]s
    out: %[1]s/../a-out
    on-success: archive
    recipe: {steps: [{op: remove-background}]}
  - name: b
    in: %[1]s
    out: %[1]s/../b-out
    recipe: {steps: [{op: edit, light: {exposure: 9}}]}
`, in))
	r := hotfolder(t, cleanEnv(), "-config", cfg, "-once")
	if r.code != exitUsage {
		t.Fatalf("exit %d, want 2", r.code)
	}
	for _, want := range []string{cfg + ":1: ", cfg + ":6: on-success", cfg + ":9: ", "overlaps", cfg + ":11: recipe: steps[0].light.exposure"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(in, "..", "a-out")); err == nil {
		t.Error("an output folder was created: something started")
	}
	// Flags that describe a workflow do not go with -config.
	if r := hotfolder(t, cleanEnv(), "-config", cfg, "-in", in); r.code != exitUsage || !strings.Contains(r.stderr, "-in goes in the config file") {
		t.Errorf("-config with -in: exit %d, want 2 naming -in", r.code)
	}
}

// -print-config prints the config of the flags; run with -config, it does
// what the flags do: the same outputs, and a second run (with the flags)
// finds everything done, so the two share the journal and the recipe.
func TestPrintConfigRoundTrip(t *testing.T) {
	in := oldInputs(t, 3)
	out := filepath.Join(t.TempDir(), "out")
	flags := append(fast(), "-in", in, "-out", out, "-op", "edit", "-set", "autoTone=true", "-output", "jpeg", "-output", "png:compression=high")
	r := hotfolder(t, cleanEnv(), append(flags, "-print-config")...)
	if r.code != exitOK || !strings.Contains(r.stdout, "op: edit") || !strings.Contains(r.stdout, "in: "+in) {
		t.Fatalf("-print-config: exit %d\n%s", r.code, r.stdout)
	}
	if strings.Contains(r.stdout, "dedupe") {
		t.Errorf("dedupe is on by default, yet printed:\n%s", r.stdout)
	}
	if r := hotfolder(t, cleanEnv(), append(flags, "-dedupe=false", "-print-config")...); !strings.Contains(r.stdout, "dedupe: false") {
		t.Errorf("-dedupe=false is not in the printed config:\n%s", r.stdout)
	}
	cfg := writeConfig(t, r.stdout)
	if r := hotfolder(t, cleanEnv(), "-config", cfg, "-once"); r.code != exitOK {
		t.Fatalf("-config of the printed file: exit %d", r.code)
	}
	if n, m := countFiles(out, "*.jpg"), countFiles(out, "*.png"); n != 3 || m != 3 {
		t.Errorf("%d jpeg and %d png outputs, want 3 of each", n, m)
	}
	r = hotfolder(t, cleanEnv(), append(flags, "-once")...)
	if r.code != exitOK || !strings.Contains(r.stderr, "3 skipped") {
		t.Errorf("the flags after the config: exit %d, want every file skipped as done", r.code)
	}
}

// SIGHUP reloads the config during a run: a workflow is added, one
// changed, one removed. Nothing is lost (every job accepted ends in an
// output), no input is submitted twice, the removed workflow takes no new
// file, the changed one applies its new recipe to files found after the
// reload, the new one starts, and the reload is logged. A config with a
// mistake is logged and changes nothing.
func TestWorkflowsReloadOnSIGHUP(t *testing.T) {
	emu := startEmulator(t, tight...)
	keep, change, remove, add := namedInputs(t, "k", 3), namedInputs(t, "x", 3), namedInputs(t, "r", 40), namedInputs(t, "a", 3)
	outs := t.TempDir()
	wf := func(name, in, prio, recipe string, extra ...string) string {
		s := fmt.Sprintf("  - name: %s\n    in: %s\n    out: %s/%s\n    priority: %s\n    workers: 4\n    on-success: move\n    processed: %s/%s-done\n    recipe: %s\n",
			name, in, outs, name, prio, outs, name, recipe)
		return s + strings.Join(extra, "")
	}
	png, jpg := "{steps: [{op: remove-background}], outputs: [png]}", "{steps: [{op: remove-background}], outputs: [jpeg]}"
	head := emulatorConfig(emu, filepath.Join(outs, "state")) + "workflows:\n"
	cfg := writeConfig(t, head+wf("keep", keep, "5", png)+wf("change", change, "5", png)+wf("remove", remove, "9", png))
	cmd, stderr := startHotfolderEnv(t, emu.env(), "-config", cfg, "-progress", "none")
	waitUntil(t, "the removed workflow's first jobs", func() bool {
		n := 0
		for src := range emu.stats(t).PostsPerSource {
			if path.Base(src)[0] == 'r' {
				n++
			}
		}
		return n >= 2 && countFiles(filepath.Join(outs, "change"), "*.png") == 3
	})
	// A config with a mistake changes nothing: it is logged, with its line.
	write(t, cfg, []byte(head+wf("keep", keep, "5", png)+wf("change", change, "high", jpg)))
	cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "the refused reload", func() bool { return strings.Contains(stderr.String(), "the config file has mistakes") })
	if !strings.Contains(stderr.String(), cfg+":21: cannot unmarshal") {
		t.Errorf("the refused reload does not say which line:\n%s", stderr)
	}
	write(t, cfg, []byte(head+wf("keep", keep, "5", png)+wf("change", change, "5", jpg)+wf("add", add, "5", png)))
	cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "the reload", func() bool { return strings.Contains(stderr.String(), "config reloaded") })
	// Found after the reload: the changed workflow's new recipe.
	for i := range 2 {
		copyDistinct(t, "sample-inputs/products/cherries.jpg", filepath.Join(change, fmt.Sprintf("y%02d.jpg", i)))
	}
	waitUntil(t, "the new and changed workflows' files", func() bool {
		return countFiles(filepath.Join(outs, "add"), "*.png") == 3 && countFiles(filepath.Join(outs, "change"), "y*.jpg") == 2
	})
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCode(t, cmd); code != exitOK {
		t.Fatalf("exit %d, want 0\n%s", code, stderr)
	}
	log := stderr.String()
	if !strings.Contains(log, "added=add changed=change removed=remove unchanged=keep") {
		t.Errorf("the reload is not logged as it was:\n%s", log)
	}
	checkReload(t, emu.stats(t), outs, remove)
}

// checkReload checks what TestWorkflowsReloadOnSIGHUP's run left.
func checkReload(t *testing.T, st emuStats, outs, remove string) {
	t.Helper()
	outputs := map[string]bool{}
	for _, dir := range []string{"keep", "change", "remove", "add"} {
		m, _ := filepath.Glob(filepath.Join(outs, dir, "[a-z]*.*"))
		for _, p := range m {
			outputs[strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))] = true
		}
	}
	for src, n := range st.PostsPerSource {
		name := strings.TrimSuffix(path.Base(src), ".jpg")
		if n != 1 {
			t.Errorf("%s: %d POSTs, want 1", name, n)
		}
		if !outputs[name] {
			t.Errorf("%s: its job was accepted but it has no output: lost in the reload", name)
		}
	}
	if len(st.PostsPerSource) != len(outputs) {
		t.Errorf("%d inputs submitted, %d outputs", len(st.PostsPerSource), len(outputs))
	}
	removed, left := countFiles(filepath.Join(outs, "remove"), "r*.png"), countFiles(remove, "r*.jpg")
	if removed+left != 40 || left < 20 {
		t.Errorf("removed workflow: %d done, %d left in its folder; want all 40 accounted for, most never taken", removed, left)
	}
	for _, want := range []string{"x00.png", "x01.png", "x02.png", "y00.jpg", "y01.jpg"} {
		if _, err := os.Stat(filepath.Join(outs, "change", want)); err != nil {
			t.Errorf("changed workflow: %v", err)
		}
	}
	if st.TooMany != 0 {
		t.Errorf("%d 429s, want none", st.TooMany)
	}
	t.Logf("removed workflow: %d done before it stopped, %d left; %d inputs, one POST each", removed, left, len(st.PostsPerSource))
}

// The workflows of one process share the organization's quota through
// Redis as well: two workflows, with redis in the config, keep to the
// limit together.
func TestWorkflowsSharedThroughRedis(t *testing.T) {
	rds := redistest.Start(t)
	// 3 s windows: a new Redis holds every bucket back for three of them.
	emu := startEmulator(t, rb4...)
	const n = 5
	a, b := namedInputs(t, "a", n), namedInputs(t, "b", n)
	outs := t.TempDir()
	global := strings.Replace(emulatorConfig(emu, filepath.Join(outs, "state")),
		"limit: [remove-background.post=40/10s, post=40/10s,", "limit: [remove-background.post=12/3s, post=12/3s,", 1)
	cfg := writeConfig(t, global+fmt.Sprintf(`redis: %s
quota-group: studio
workflows:
  - {name: a, in: %s, out: %s/a, recipe: {steps: [{op: remove-background}]}}
  - {name: b, in: %s, out: %s/b, priority: 2, recipe: {steps: [{op: remove-background}], outputs: [jpeg]}}
`, rds.URL, a, outs, b, outs))
	if r := hotfolder(t, emu.env(), "-config", cfg, "-once"); r.code != exitOK {
		t.Fatalf("exit %d, want 0", r.code)
	}
	if pa, jb := countFiles(filepath.Join(outs, "a"), "a*.png"), countFiles(filepath.Join(outs, "b"), "b*.jpg"); pa != n || jb != n {
		t.Errorf("%d and %d outputs, want %d each", pa, jb, n)
	}
	st := emu.stats(t)
	if st.TooMany != 0 || len(st.Accepted) != 2*n {
		t.Errorf("%d 429s and %d jobs; want none and %d", st.TooMany, len(st.Accepted), 2*n)
	}
	if v := ratelimit.Violations(ratelimit.Limit{N: 12, Window: 3 * time.Second}, st.PostTimes); v != 0 {
		t.Errorf("%d POSTs over the limit", v)
	}
}

// addLine adds a global setting to the config file at p.
func addLine(t *testing.T, p, line string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	write(t, p, append([]byte(line+"\n"), data...))
	return p
}

// checkWorkflowMetrics scrapes the run's metrics (address from its
// stderr): the rush and bulk workflows have their own series.
func checkWorkflowMetrics(t *testing.T, stderr string, rushDone int) {
	t.Helper()
	addr := regexp.MustCompile(`metrics at (http://\S+)/metrics`).FindStringSubmatch(stderr)
	if addr == nil {
		t.Fatalf("the metrics address is not printed:\n%s", stderr)
	}
	resp, err := http.Get(addr[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		fmt.Sprintf(`hotfolder_workflow_files_finished_total{outcome="done",workflow="rush"} %d`, rushDone),
		`hotfolder_workflow_priority{workflow="rush"} 1`,
		`hotfolder_workflow_priority{workflow="bulk"} 5`,
		`hotfolder_workflow_files_found_total{workflow="bulk"} 200`,
		`hotfolder_workflow_running{workflow="bulk"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
