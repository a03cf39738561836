package review

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"hotfolder/pipeline/review/reviewtest"
)

// fileURL is the file:// URL of a local path.
func fileURL(p string) string { return (&url.URL{Scheme: "file", Path: filepath.ToSlash(p)}).String() }

// checkPage checks what every review page must: the counts as the
// journal has them, failures first, every thumbnail on screen loaded, the
// hostile name as text, no error in the page.
func checkPage(t *testing.T, b *reviewtest.Browser, want Counts) {
	t.Helper()
	for id, n := range map[string]int{"count-done": want.Done, "count-failed": want.Failed, "count-pending": want.Pending} {
		if got := reviewtest.Eval[string](b, `document.getElementById("`+id+`").textContent`); got != itoa(int64(n)) {
			t.Errorf("%s shows %q, want %d", id, got, n)
		}
	}
	statuses := reviewtest.Eval[[]string](b, `[...document.querySelectorAll(".card:not([hidden])")].sort((a, b) => a.dataset.pos - b.dataset.pos).map(c => c.dataset.status)`)
	if len(statuses) == 0 || (want.Failed > 0 && statuses[0] != "failed") {
		t.Errorf("cards in order: %v: want failures first", statuses)
	}
	// Every thumbnail on screen loads.
	b.Do(reviewtest.Until(`[...document.querySelectorAll(".card:not([hidden]) img")].every(i => i.complete)`))
	if bad := reviewtest.Eval[[]string](b, `[...document.querySelectorAll(".card:not([hidden]) img")].filter(i => !(i.naturalWidth > 0)).map(i => i.src)`); len(bad) > 0 {
		t.Errorf("thumbnails that did not load: %v", bad)
	}
	if n := reviewtest.Eval[int](b, `document.querySelectorAll(".card:not([hidden]) img").length`); n == 0 {
		t.Error("no thumbnail on screen")
	}
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %q", errs)
	}
}

// checkHostile checks the file named as markup shows as its name.
func checkHostile(t *testing.T, b *reviewtest.Browser) {
	t.Helper()
	names := reviewtest.Eval[[]string](b, `[...document.querySelectorAll(".card:not([hidden]) .name")].map(n => n.textContent)`)
	found := false
	for _, n := range names {
		found = found || n == hostile
	}
	if !found {
		t.Errorf("the hostile name is not shown as text among %q", names)
	}
	if n := reviewtest.Eval[int](b, `document.querySelectorAll('img[src="x"], .name *').length`); n != 0 {
		t.Errorf("the hostile name made %d elements", n)
	}
}

// set sets the value of a filter as a person would.
func set(b *reviewtest.Browser, id, value, event string) {
	b.Do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(e => { e.value = %q; e.dispatchEvent(new Event(%q)); })(document.getElementById(%q))`, value, event, id)))
}

func TestBrowserBuiltPage(t *testing.T) {
	b := reviewtest.New(t)
	f := newFixture(t)
	index, err := Build(context.Background(), BuildOptions{State: f.state, In: f.in, Out: f.out})
	if err != nil {
		t.Fatal(err)
	}
	b.Do(chromedp.Navigate(fileURL(index)), reviewtest.Ready(1))
	checkPage(t, b, Counts{Done: 6, Failed: 3, Pending: 1})
	checkHostile(t, b)
	// The largest failure group comes first, with its code and hint.
	if g := reviewtest.Eval[string](b, `document.querySelector("#groups li").textContent`); !strings.Contains(g, "2 files") || !strings.Contains(g, "InputValidationError") || !strings.Contains(g, "resize it") || !strings.Contains(g, "-retry-failed") {
		t.Errorf("first failure group: %q", g)
	}
	// A PSD output gets a placeholder.
	if n := reviewtest.Eval[int](b, `document.querySelectorAll(".card .ph").length`); n == 0 {
		t.Error("no placeholder for the PSD output")
	}
	b.Screenshot("built")

	// Filters narrow the list.
	visible := func() int { return reviewtest.Eval[int](b, `document.querySelectorAll(".card:not([hidden])").length`) }
	set(b, "f-status", "done", "change")
	if n := visible(); n != 6 {
		t.Errorf("status done: %d cards, want 6", n)
	}
	b.Do(chromedp.SendKeys(chromedp.CSS(`#q`), "cherr"))
	if n := visible(); n != 1 {
		t.Errorf("done + search cherr: %d cards, want 1", n)
	}
	if s := reviewtest.Eval[string](b, `document.getElementById("shown").textContent`); s != "1 of 10 results" {
		t.Errorf("shown: %q", s)
	}
	b.Screenshot("filtered")
	// The full-size comparison opens from a card, with both images.
	b.Do(chromedp.Click(chromedp.CSS(`.card:not([hidden])`)), reviewtest.Until(`document.getElementById("viewer").open`),
		reviewtest.Until(`document.getElementById("v-b").naturalWidth > 0 && document.getElementById("v-a").naturalWidth > 0`))
	if w := reviewtest.Eval[int](b, `document.getElementById("v-b").naturalWidth`); w != 320 {
		t.Errorf("the comparison shows the input %d px wide, want it full size (320)", w)
	}
	b.Do(chromedp.Click(chromedp.CSS(`[data-mode=slider]`)))
	if clip := reviewtest.Eval[string](b, `document.querySelector(".v-after").style.clipPath`); !strings.Contains(clip, "50%") {
		t.Errorf("slider clip %q", clip)
	}
	b.Screenshot("compare")
	b.Do(chromedp.Click(chromedp.CSS(`#v-close`)))
	set(b, "q", "", "input")
	set(b, "f-folder", "sub", "change")
	if n := visible(); n != 1 { // sub/cherries.jpg is done; sub/big2.jpg failed but status says done
		t.Errorf("done in sub: %d cards, want 1", n)
	}
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %q", errs)
	}
}

// The live page shows a file that ended after it was opened.
func TestBrowserLivePage(t *testing.T) {
	b := reviewtest.New(t)
	f := newFixture(t)
	r, _, end := newLive(t, f)
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	for i := range 3 {
		end(i)
	}
	b.Do(chromedp.Navigate(srv.URL+"/"), reviewtest.Ready(1),
		reviewtest.Until(`document.querySelectorAll(".card:not([hidden])").length === 3`))
	end(3) // the hostile name, done after the page opened
	end(6) // a failure
	b.Do(reviewtest.Until(`document.querySelectorAll(".card:not([hidden])").length === 5 && document.querySelectorAll(".card:not([hidden]) img").length >= 8`))
	checkPage(t, b, Counts{Done: 4, Failed: 1})
	checkHostile(t, b)
	if s := reviewtest.Eval[string](b, `document.getElementById("count-skipped").textContent`); s != "4" {
		t.Errorf("skipped: %q", s)
	}
	b.Screenshot("live")
}

// 50,000 results: only the cards in sight are in the DOM, scrolling to
// the end shows the last result, and a search narrows them at once.
func TestBrowserManyResults(t *testing.T) {
	b := reviewtest.New(t)
	const n = 50000
	d := Data{Version: 1, Posts: map[string]int{}, Counts: Counts{Done: n, Skipped: -1}}
	for i := range n {
		d.Items = append(d.Items, Item{Name: fmt.Sprintf("batch%02d/p%05d.jpg", i%20, i), Status: "done", Op: "remove-background", Group: -1})
	}
	index, err := write(t.TempDir(), d)
	if err != nil {
		t.Fatal(err)
	}
	b.Do(chromedp.Navigate(fileURL(index)), reviewtest.Ready(1))
	cards := func() int { return reviewtest.Eval[int](b, `document.querySelectorAll(".card").length`) }
	if c := cards(); c == 0 || c > 200 {
		t.Errorf("%d cards in the DOM for %d results", c, n)
	}
	b.Do(chromedp.Evaluate[chromedp.Void](`(l => l.scrollTop = l.scrollHeight)(document.getElementById("list"))`),
		reviewtest.Until(fmt.Sprintf(`[...document.querySelectorAll(".card:not([hidden]) .name")].some(e => e.textContent === "batch%02d/p%05d.jpg")`, (n-1)%20, n-1)))
	if c := cards(); c > 200 {
		t.Errorf("%d cards in the DOM after scrolling to the end", c)
	}
	set(b, "q", "p0424", "input")
	if s := reviewtest.Eval[string](b, `document.getElementById("shown").textContent`); s != "10 of 50,000 results" {
		t.Errorf("search p0424: %q", s)
	}
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %q", errs)
	}
}
