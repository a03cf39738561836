package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"hotfolder/pipeline/notify"
)

// The end of a -once run: the webhook gets the summary, with the run's
// counts, its POSTs, why files failed, and the review page's address.
func TestNotifyAtEndOfOnceRun(t *testing.T) {
	got := make(chan notify.Summary, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s notify.Summary
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
			t.Errorf("the webhook got no summary: %v", err)
		}
		got <- s
	}))
	defer srv.Close()

	base := t.TempDir()
	in, out := filepath.Join(base, "in"), filepath.Join(base, "out")
	copyFile(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, "apricot.jpg"))
	copyFile(t, "sample-inputs/photos/chelsea.png", filepath.Join(in, "cats", "chelsea.png"))
	write(t, filepath.Join(in, "empty.jpg"), nil)
	write(t, filepath.Join(in, "empty2.jpg"), nil)
	write(t, filepath.Join(in, "notes.jpg"), []byte("call the client about the red shoes\n"))

	r := hotfolder(t, cleanEnv(), append(fast(), "-in", in, "-out", out, "-once", "-notify", srv.URL+"/hooks/T0/B0/k9x7QzW")...)
	if r.code != exitSomeFailed {
		t.Errorf("exit status %d, want %d", r.code, exitSomeFailed)
	}
	var s notify.Summary
	select {
	case s = <-got:
	default:
		t.Fatal("the run ended and the webhook got nothing")
	}
	if want := (notify.Counts{Found: 5, Done: 2, Failed: 3}); s.Event != notify.EventEnd || s.Counts != want {
		t.Errorf("event %s, counts %+v; want %s, %+v", s.Event, s.Counts, notify.EventEnd, want)
	}
	if s.Posts["remove-background.post"] != 2 {
		t.Errorf("posts %v, want 2 on remove-background.post", s.Posts)
	}
	if len(s.TopFailures) != 2 || s.TopFailures[0].Count != 2 || !strings.Contains(s.TopFailures[0].Reason, "empty") ||
		!strings.HasPrefix(s.TopFailures[0].Example, "empty") || s.TopFailures[1].Example != "notes.jpg" {
		t.Errorf("top failures %+v, want the 2 empty files, then notes.jpg", s.TopFailures)
	}
	if want := "file://" + filepath.Join(out, ".hotfolder", "review", "index.html"); s.Link != want {
		t.Errorf("link %q, want %q", s.Link, want)
	}
	if !strings.Contains(s.Text, "2 done, 3 failed") || !strings.Contains(s.Text, s.Link) {
		t.Errorf("text %q lacks the counts or the link", s.Text)
	}
	if !strings.Contains(r.stderr, "notify: sent the end-of-run summary") {
		t.Error("stderr does not say the summary was sent")
	}
	if strings.Contains(r.stderr, "k9x7QzW") {
		t.Error("stderr names the webhook's path")
	}
}

// A webhook that hangs, or is down, delays neither the run's result nor
// its exit: the run ends with its own status while the receiver still
// holds the request, and says it gave up.
func TestNotifyReceiverDownOrHanging(t *testing.T) {
	release := make(chan struct{})
	var entered, answered atomic.Int32
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		<-release
		answered.Add(1)
	}))
	defer hang.Close()
	defer close(release) // first: hang.Close waits for its handlers
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()

	for name, url := range map[string]string{"hanging": hang.URL, "down": down.URL} {
		t.Run(name, func(t *testing.T) {
			in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
			copyFile(t, "sample-inputs/products/apricot.jpg", filepath.Join(in, "apricot.jpg"))
			r := hotfolder(t, cleanEnv(), append(fast(), "-in", in, "-out", out, "-once", "-notify", url)...)
			if r.code != exitOK {
				t.Errorf("exit status %d, want %d: a webhook never fails a run", r.code, exitOK)
			}
			if !strings.Contains(r.stderr, "summary: 1 done") || !strings.Contains(r.stderr, "gave up on the end-of-run summary") {
				t.Errorf("stderr lacks the run's summary or the notice that the notification was given up")
			}
		})
	}
	if entered.Load() == 0 || answered.Load() != 0 {
		t.Errorf("the hanging receiver got %d requests and answered %d when the run had exited; want ≥1 and 0", entered.Load(), answered.Load())
	}
}

// In watch mode, failures past -notify-failures are told at once, while the
// run goes on; stopping the run sends the summary of it all.
func TestNotifyWatchModeFailures(t *testing.T) {
	got := make(chan notify.Summary, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s notify.Summary
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
			t.Errorf("the webhook got no summary: %v", err)
		}
		got <- s
	}))
	defer srv.Close()
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	cmd, stderr := startHotfolder(t, append(fast(), "-in", in, "-out", out, "-settle", "200ms",
		"-notify", srv.URL, "-notify-failures", "2",
		"-notify-at", time.Now().Add(12*time.Hour).Format("15:04"))...) // no daily summary in the way
	next := func() notify.Summary {
		t.Helper()
		select {
		case s := <-got:
			return s
		case <-time.After(time.Minute):
			t.Fatalf("no summary within a minute\n%s", stderr)
			return notify.Summary{}
		}
	}

	write(t, filepath.Join(in, "empty.jpg"), nil)
	copyFile(t, "sample-inputs/products/cherries.jpg", filepath.Join(in, "cherries.jpg"))
	waitFor(t, filepath.Join(out, "cherries.png"))
	write(t, filepath.Join(in, "empty2.jpg"), nil)
	alert := next()
	if alert.Event != notify.EventFailures || alert.Counts.Failed != 2 || len(alert.TopFailures) != 1 || alert.TopFailures[0].Count != 2 {
		t.Errorf("alert %+v, want 2 empty files", alert)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCode(t, cmd); code != exitSomeFailed {
		t.Errorf("exit status %d, want %d", code, exitSomeFailed)
	}
	end := next()
	if want := (notify.Counts{Found: 3, Done: 1, Failed: 2}); end.Event != notify.EventEnd || end.Counts != want {
		t.Errorf("end summary %s %+v, want %s %+v", end.Event, end.Counts, notify.EventEnd, want)
	}
}

// -notify's flags are checked before anything runs.
func TestNotifyCommandLine(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"not a time":        {[]string{"-notify-at", "8am"}, `-notify-at "8am" is not a time of day HH:MM`},
		"not a URL":         {[]string{"-notify", "hooks.example/T0/k9x7QzW"}, "-notify wants an http:// or https:// URL"},
		"negative failures": {[]string{"-notify-failures", "-1"}, "-notify-failures cannot be negative"},
	} {
		t.Run(name, func(t *testing.T) {
			r := hotfolder(t, cleanEnv(), append([]string{"-in", in, "-out", out, "-once"}, tc.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit status %d, stderr %q; want %d and %q", r.code, r.stderr, exitUsage, tc.want)
			}
			if strings.Contains(r.stderr, "k9x7QzW") {
				t.Error("stderr names the webhook's path")
			}
		})
	}
}
