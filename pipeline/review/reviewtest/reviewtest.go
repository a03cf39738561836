// Package reviewtest drives headless Chromium for the review page's
// tests (package review's and the command's): it finds the browser,
// skipping loudly when it is missing, and saves screenshots where
// HOTFOLDER_SCREENSHOTS says.
package reviewtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ScreenshotsEnv names the folder the browser tests save their screenshots
// in; without it, they go to the test's temporary folder.
const ScreenshotsEnv = "HOTFOLDER_SCREENSHOTS"

// RequireEnv, when set (.ci/run sets it), makes a missing Chromium fail
// the browser tests instead of skipping them.
const RequireEnv = "HOTFOLDER_REQUIRE_BROWSER"

// chromium finds the browser, or "".
func chromium() string {
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser is a headless Chromium tab for one test, closed when the test
// ends.
type Browser struct {
	Ctx    context.Context
	t      testing.TB
	mu     sync.Mutex
	errors []string
}

// New starts Chromium, or skips the test saying what to install. Every
// uncaught exception and console error the page has is collected for
// [Browser.Errors].
func New(t testing.TB) *Browser {
	t.Helper()
	path := chromium()
	if path == "" {
		const msg = "browser test needs Chromium: apt-get install chromium (.ci/run installs it)"
		if os.Getenv(RequireEnv) != "" {
			t.Fatal(msg + "; " + RequireEnv + " is set")
		}
		t.Skip("SKIPPED: " + msg)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	b := &Browser{Ctx: ctx, t: t}
	// The first Run starts the browser; the listener needs its tab.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.add(fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == "error" {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.add("console error: " + strings.Join(args, " "))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *Browser) add(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, s)
}

// Errors are the page's uncaught exceptions and console errors so far.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// Do runs actions in the tab, failing the test on an error.
func (b *Browser) Do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.Ctx, actions...); err != nil {
		b.Screenshot("failed")
		b.t.Fatal(err)
	}
}

// Eval evaluates a JavaScript expression in the page, failing the test on
// an error.
func Eval[T any](b *Browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.Screenshot("failed")
		b.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// Screenshot saves the page as NAME.png in the screenshots folder (see
// [ScreenshotsEnv]) and returns its path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		dir = b.t.TempDir()
	} else if err := os.MkdirAll(dir, 0o777); err != nil {
		b.t.Error(err)
		return ""
	}
	png, err := chromedp.Run(b.Ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	p := filepath.Join(dir, fmt.Sprintf("%s-%s.png", strings.ReplaceAll(b.t.Name(), "/", "_"), name))
	if err := os.WriteFile(p, png, 0o666); err != nil {
		b.t.Error(err)
		return ""
	}
	b.t.Logf("screenshot: %s", p)
	return p
}

// Ready waits until the page has drawn data of at least version v.
func Ready(v int) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`Number(document.body.dataset.ready || 0) >= %d`, v), chromedp.WithPollingInterval(20*time.Millisecond))
}

// Until waits until the JavaScript expression is true.
func Until(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(time.Minute))
}
