package emulator

import (
	"encoding/json"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestEveryOpSurvivesRestart: a job of every operation, cut off by A's
// Close while queued, is run by B on the same Dir (its request re-read
// from the job file, its inputs from the folders although A's port is
// gone); and once finished it reports the same outputs on C.
func TestEveryOpSurvivesRestart(t *testing.T) {
	dir, c := t.TempDir(), newClock()
	hour := Config{Dir: dir, MinLatency: time.Hour, MaxLatency: time.Hour}
	cfgA := hour
	cfgA.Workers = 1
	a := startWith(t, cfgA, c, nil)
	slow := newBlockingSource(t, objectShot(t))
	first := a.submit(rbBody(slow.URL+"/in.png", nil))
	waitFor(t, "the first job to download its input", func() bool { w, _ := slow.counts(); return w == 1 })

	in := a.upload("p/in.png", objectShot(t))
	atn := a.upload("p/set.atn", []byte("8BCO"))
	embedded := obj{"destination": obj{"embedded": "json"}, "mediaType": "application/json"}
	hosted := obj{"destination": obj{"validityPeriod": 7200}, "mediaType": "image/png"}
	bodies := map[string]obj{
		"/v2/remove-background": rbBody(in, map[string]any{"mode": "psd"}),
		"/v2/edit": {"image": src(in), "edits": obj{"autoTone": true},
			"outputs": arr{hosted, obj{"destination": obj{"embedded": "string"}, "mediaType": "application/rdf+xml"}}},
		"/v2/execute-actions":   {"image": src(in), "options": obj{"actions": arr{src(atn)}}, "outputs": arr{hosted}},
		"/v2/create-composite":  {"image": src(in), "outputs": arr{obj{"destination": obj{}, "mediaType": "image/tiff"}}},
		"/v2/generate-manifest": {"image": src(in), "outputs": arr{embedded}},
		"/v1/auto-crop":         {"image": obj{"source": obj{"url": in}}, "mode": "smartCrop", "aspectRatio": arr{"1:1"}},
	}
	subs := make(map[string]submitted)
	for path, body := range bodies {
		subs[path] = a.submitTo(path, body)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.s.Close(); err != nil {
		t.Fatal(err)
	}
	for path, sub := range subs {
		if r := record(t, dir, sub.JobID); r.Outcome != nil || (path != "/v2/remove-background" && (r.Op == "" || len(r.Request) == 0 || len(r.Local) == 0)) {
			t.Errorf("%s: record %+v, want the request, its local inputs and no outcome", path, r)
		}
	}

	slow.Release()
	b := startWith(t, hour, c, l)
	for _, sub := range subs {
		b.waitProcessed(sub.JobID)
	}
	b.waitProcessed(first.JobID)
	got := make(map[string][]obj)
	for path, sub := range subs {
		outs := b.succeeded(b.on(sub))
		got[path] = outs
		for _, o := range outs {
			if d, ok := o["destination"].(obj); ok {
				if u, ok := d["url"].(string); ok && !strings.HasPrefix(u, b.s.URL()+"/") {
					t.Errorf("%s: URL %s, want one of B", path, u)
				}
			}
		}
	}
	if img := decodeAs(t, mediaPSD, hostedBytes(t, got["/v2/remove-background"][0])); img.Bounds().Dx() != 120 {
		t.Errorf("remove background on B: %v", img.Bounds())
	}
	decodeAs(t, mediaTIFF, hostedBytes(t, got["/v2/create-composite"][0]))
	if w := got["/v2/generate-manifest"][0]["destination"].(obj)["content"].(obj)["document"].(obj)["width"]; w != float64(120) {
		t.Errorf("manifest width %v", w)
	}
	if st := b.s.Stats(); st.Resumed != len(subs)+1 || st.JobsSucceeded != len(subs)+1 {
		t.Errorf("B resumed %d and ran %d, want %d", st.Resumed, st.JobsSucceeded, len(subs)+1)
	}
	if err := b.s.Close(); err != nil {
		t.Fatal(err)
	}

	// C reports the same; its hosted URLs are signed on its own base.
	cc := startWith(t, hour, c, nil)
	for path, sub := range subs {
		outs := cc.succeeded(cc.on(sub))
		if !reflect.DeepEqual(stripURLs(outs), stripURLs(got[path])) {
			t.Errorf("%s on C: %v, want %v", path, outs, got[path])
		}
	}
	decodeAs(t, mediaPNG, hostedBytes(t, cc.succeeded(cc.on(subs["/v2/execute-actions"]))[0]))
	if st := cc.s.Stats(); st.Resumed != 0 || st.JobsSucceeded != 0 {
		t.Errorf("C ran jobs again: %+v", st)
	}
}

// stripURLs drops the hosted URLs (signed per base) from outputs.
func stripURLs(outs []obj) string {
	b, _ := json.Marshal(outs)
	s := string(b)
	for {
		i := strings.Index(s, `"url":"http`)
		if i < 0 {
			return s
		}
		j := strings.Index(s[i+7:], `"`)
		s = s[:i] + `"url":"-"` + s[i+7+j+1:]
	}
}
