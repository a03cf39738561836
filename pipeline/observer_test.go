package pipeline

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"hotfolder/pipeline/journal"
	"hotfolder/ratelimit"
	"hotfolder/watcher"
)

// recordingObserver keeps what it is told.
type recordingObserver struct {
	mu     sync.Mutex
	ended  []journal.Record
	grants []string
}

func (o *recordingObserver) Ended(r journal.Record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ended = append(o.ended, r)
}

func (o *recordingObserver) Granted(b string, _ time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.grants = append(o.grants, b)
}

// The observer hears each input's end with its journaled record (done
// with its output hashes, failed with its failure), and the POST grants;
// Records reads the journal while the run holds it.
func TestObserver(t *testing.T) {
	e := newEnv(t)
	good, bad := e.input("good.png", time.Hour), e.input("bad.png", time.Hour)
	obs := &recordingObserver{}
	q := &fakeQuota{}
	cfg := e.config(1)
	cfg.Observer, cfg.Quota = obs, q
	r := &fakeRemote{CheckFn: func(_ context.Context, p string) error {
		if p == bad.Path {
			return errors.New("unsupported image")
		}
		return nil
	}}
	p := e.pipeline(cfg, &fakeSource{files: []watcher.File{good, bad}}, r)
	q.grant(ratelimit.Post, clock())
	q.grant(ratelimit.Get, clock()) // not a POST: not told
	if _, err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var rels []string
	if err := p.Records(func(r journal.Record) error { rels = append(rels, r.Rel); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rels, []string{"bad.png", "good.png"}) {
		t.Errorf("Records gave %q", rels)
	}
	got := map[string]journal.Record{}
	for _, r := range obs.ended {
		got[r.Rel] = r
	}
	if g := got["good.png"]; g.State != journal.Done || len(g.OutputSHA256s) != 1 {
		t.Errorf("good.png ended as %+v", g)
	}
	if b := got["bad.png"]; b.State != journal.Failed || b.Failure == nil || b.Failure.Stage != "check" {
		t.Errorf("bad.png ended as %+v", b)
	}
	if !slices.Equal(obs.grants, []string{string(ratelimit.Post)}) {
		t.Errorf("grants told: %q", obs.grants)
	}
}
