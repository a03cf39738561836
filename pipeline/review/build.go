package review

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"hotfolder/pipeline"
	"hotfolder/pipeline/journal"
)

//go:embed assets
var assets embed.FS

// assetTypes are the page's own files and their media types.
var assetTypes = map[string]string{
	"index.html": "text/html; charset=utf-8",
	"app.js":     "text/javascript; charset=utf-8",
	"app.css":    "text/css; charset=utf-8",
}

func serveAsset(w http.ResponseWriter, name string) {
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		http.NotFound(w, nil)
		return
	}
	w.Header().Set("Content-Type", assetTypes[name])
	w.Write(b)
}

// BuildOptions configure [Build].
type BuildOptions struct {
	State string // state folder of the runs
	// In and Out find inputs and outputs whose thumbnails are missing;
	// by default the folders the last run recorded.
	In, Out string
	Workers int // thumbnails made at once; default GOMAXPROCS
	Logger  *slog.Logger
	Now     func() time.Time
}

// ErrRunning means a run holds the journal: its live page is the review.
var ErrRunning = errors.New("a hotfolder run is using this state folder")

// Build writes the review folder, STATE/review, from the journal, making
// the thumbnails a run did not, and returns the path of its index.html.
func Build(ctx context.Context, opt BuildOptions) (string, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	j, err := journal.Open(filepath.Join(opt.State, pipeline.JournalFile), journal.Options{ReadOnly: true})
	if errors.Is(err, journal.ErrLocked) {
		return "", fmt.Errorf("%w: open its live page (-metrics-addr) instead: %w", ErrRunning, err)
	}
	if err != nil {
		return "", err
	}
	defer j.Close()
	dir := filepath.Join(opt.State, Dir)
	n := readNight(opt.State)
	if opt.In != "" {
		n.In = opt.In
	}
	if opt.Out != "" {
		n.Out = opt.Out
	}
	th := newThumbs(filepath.Join(dir, "thumbs"))
	c := newCollector(th)
	var todo []int // items missing a thumbnail
	var recs []journal.Record
	c.missing = func(r *journal.Record, it *Item) {
		todo = append(todo, len(c.d.Items))
		recs = append(recs, *r)
	}
	if err := j.Each(c.add); err != nil {
		return "", err
	}
	if err := makeMissing(ctx, th, n, c.d.Items, todo, recs, opt); err != nil {
		return "", err
	}
	d := c.finish(n, nil, opt.Now())
	d.Version, d.In, d.Out, d.Retry = 1, n.In, n.Out, retryCommand(n)
	return write(dir, d)
}

// makeMissing makes the thumbnails of items[todo[k]] (of record recs[k])
// on opt.Workers goroutines.
func makeMissing(ctx context.Context, th thumbs, n Night, items []Item, todo []int, recs []journal.Record, opt BuildOptions) error {
	if err := os.MkdirAll(th.dir, 0o777); err != nil {
		return fmt.Errorf("review folder: %w", err)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range opt.Workers {
		wg.Go(func() {
			for k := range next {
				before, after, err := makeThumbs(th, n, &recs[k])
				if err != nil {
					opt.Logger.Debug("no review thumbnail", "file", recs[k].Rel, "error", err)
				}
				items[todo[k]].Before, items[todo[k]].After = before, after
			}
		})
	}
	var err error
feed:
	for k := range todo {
		select {
		case next <- k:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	return err
}

// write writes the page and its data into dir.
func write(dir string, d Data) (string, error) {
	for name := range assetTypes {
		b, err := assets.ReadFile("assets/" + name)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o666); err != nil {
			return "", fmt.Errorf("review: %w", err)
		}
	}
	data, err := json.Marshal(d)
	if err != nil {
		return "", err
	}
	name := filepath.Join(dir, "data.js")
	if err := os.WriteFile(name+".tmp", wrapScript(data), 0o666); err != nil {
		return "", fmt.Errorf("review: %w", err)
	}
	if err := os.Rename(name+".tmp", name); err != nil {
		return "", fmt.Errorf("review: %w", err)
	}
	return filepath.Join(dir, "index.html"), nil
}

// retryCommand is the command that takes the failed inputs again.
func retryCommand(n Night) string {
	in, out := n.In, n.Out
	if in == "" {
		in = "IN"
	}
	if out == "" {
		out = "OUT"
	}
	return "hotfolder -in " + shellQuote(in) + " -out " + shellQuote(out) + " -retry-failed -once"
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:,@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
