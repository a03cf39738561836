package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"hotfolder/pipeline/review/reviewtest"
)

// readmeScreenshot is where the README's screenshot of the review page
// is; HOTFOLDER_README_SCREENSHOT=1 go test -run TestReviewCommand .
// makes it again.
const readmeScreenshot = "pipeline/review/screenshot.png"

// checkCounts checks the page shows the journal's counts.
func checkCounts(t *testing.T, b *reviewtest.Browser, out string) {
	t.Helper()
	st := hotfolderStatus(t, out)
	pending := st.Counts["queued"] + st.Counts["uploaded"] + st.Counts["submitted"]
	for id, n := range map[string]int{"count-done": st.Counts["done"], "count-failed": st.Counts["failed"], "count-pending": pending} {
		if got := reviewtest.Eval[string](b, `document.getElementById("`+id+`").textContent`); got != fmt.Sprint(n) {
			t.Errorf("%s shows %q; the journal says %d", id, got, n)
		}
	}
}

// hotfolder review after a night of the sample inputs and one broken
// file: the page opens from file://, counts as the journal, the failure
// first, every thumbnail loaded.
func TestReviewCommand(t *testing.T) {
	b := reviewtest.New(t)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	for _, rel := range sampleInputs(t) {
		copyFile(t, filepath.Join("sample-inputs", rel), filepath.Join(in, rel))
	}
	data, err := os.ReadFile("sample-inputs/products/spade.jpg")
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(in, "products", "broken.jpg"), data[:len(data)/3]) // cut off: it fails its check
	if r := hotfolder(t, cleanEnv(), "-in", in, "-out", out, "-once"); r.code != exitSomeFailed {
		t.Fatalf("exit status %d, want %d", r.code, exitSomeFailed)
	}
	r := hotfolder(t, cleanEnv(), "review", "-out", out)
	index := strings.TrimSpace(r.stdout)
	if r.code != exitOK || index != filepath.Join(out, ".hotfolder", "review", "index.html") {
		t.Fatalf("hotfolder review → %d, %q", r.code, r.stdout)
	}
	b.Do(chromedp.EmulateViewport(1280, 1120), // the whole page of ten results, for the README
		chromedp.Navigate((&url.URL{Scheme: "file", Path: index}).String()), reviewtest.Ready(1),
		reviewtest.Until(`[...document.querySelectorAll(".card:not([hidden]) img")].every(i => i.complete)`))
	checkCounts(t, b, out)
	if s := reviewtest.Eval[string](b, `document.querySelector(".card").dataset.status`); s != "failed" {
		t.Errorf("first card is %s, want the failure", s)
	}
	imgs := reviewtest.Eval[[]int](b, `[...document.querySelectorAll(".card:not([hidden]) img")].map(i => i.naturalWidth)`)
	if len(imgs) != 2*len(sampleInputs(t)) { // a pair per sample; the broken file gets placeholders
		t.Errorf("%d thumbnails on the page, want %d", len(imgs), 2*len(sampleInputs(t)))
	}
	for _, w := range imgs {
		if w == 0 {
			t.Errorf("a thumbnail did not load: widths %v", imgs)
			break
		}
	}
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %q", errs)
	}
	shot := b.Screenshot("review")
	if os.Getenv("HOTFOLDER_README_SCREENSHOT") != "" && shot != "" {
		png, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(readmeScreenshot, png, 0o666); err != nil {
			t.Fatal(err)
		}
	}
}

// The live page at -metrics-addr while hotfolder watches: a file dropped
// into the hot folder after the page was opened shows up on it, with its
// thumbnails. (Watch mode keeps the server up for as long as the page
// needs; a -once run could end between two of the page's polls.)
func TestReviewLivePage(t *testing.T) {
	b := reviewtest.New(t)
	emu := startEmulator(t, append(fast(), "-latency", "200ms-500ms")...)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	copyFile(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, "p0.jpg"))
	cmd, stderr := startHotfolderEnv(t, emu.env(), append(emu.args(), append(fast(), "-in", in, "-out", out,
		"-storage", emu.url+"/storage", "-metrics-addr", ":0", "-settle", "100ms")...)...)
	var addr []string
	reviewAt := regexp.MustCompile(`review at (http://127\.0\.0\.1:\d+)/`)
	for i := 0; addr == nil && i < 500; i++ {
		addr = reviewAt.FindStringSubmatch(stderr.String())
		if addr == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if addr == nil {
		t.Fatalf("the review address (on 127.0.0.1 for -metrics-addr :0) is not printed:\n%s", stderr)
	}
	b.Do(chromedp.Navigate(addr[1]+"/"), reviewtest.Ready(1),
		reviewtest.Until(`Number(document.getElementById("count-done").textContent) >= 1`))
	if strings.Contains(reviewtest.Eval[string](b, `document.body.textContent`), "p1.jpg") {
		t.Fatal("p1.jpg is on the page before it was dropped in")
	}

	// Dropped in now, whole (renamed into place), and another image than p0.
	copyFile(t, "sample-inputs/products/avocado.jpg", filepath.Join(in, ".p1.jpg.part"))
	if err := os.Rename(filepath.Join(in, ".p1.jpg.part"), filepath.Join(in, "p1.jpg")); err != nil {
		t.Fatal(err)
	}
	b.Do(reviewtest.Until(`Number(document.getElementById("count-done").textContent) >= 2`),
		reviewtest.Until(`[...document.querySelectorAll(".card[data-status=done]")].some(c => c.textContent.includes("p1.jpg"))`),
		reviewtest.Until(`[...document.querySelectorAll(".card[data-status=done] img")].length >= 4`),
		reviewtest.Until(`[...document.querySelectorAll(".card:not([hidden]) img")].every(i => i.complete && i.naturalWidth > 0)`))
	b.Screenshot("live")
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %q", errs)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCode(t, cmd); code != exitOK {
		t.Fatalf("exit status %d after a graceful stop:\n%s", code, stderr)
	}
}
