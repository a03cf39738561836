package review

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"hotfolder/pipeline"
)

// csp is the page's Content-Security-Policy: nothing from elsewhere, no
// inline code. The static page carries it in a meta element.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: file:; connect-src 'self'; base-uri 'none'; form-action 'none'"

// Handler serves the live page: the review's files at /, data.js and
// data.json built from the journal the run holds, and the thumbnails.
// Nothing else: no path from the request reaches the file system but a
// thumbnail's name, which must be a SHA-256 and an extension.
func (r *Recorder) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		p := req.URL.Path
		switch {
		case p == "/" || p == "/index.html":
			serveAsset(w, "index.html")
		case p == "/app.js" || p == "/app.css":
			serveAsset(w, p[1:])
		case p == "/data.js" || p == "/data.json":
			r.serveData(w, req, p == "/data.js")
		case strings.HasPrefix(p, "/thumbs/") && validThumb.MatchString(p[len("/thumbs/"):]):
			h.Set("Cache-Control", "max-age=86400, immutable") // named by content
			http.ServeFile(w, req, filepath.Join(r.th.dir, p[len("/thumbs/"):]))
		default:
			http.NotFound(w, req)
		}
	})
}

// serveData answers data.js (the page's first load, as from file://) or
// data.json?v=N (its polling): only {"v":N} while nothing changed.
func (r *Recorder) serveData(w http.ResponseWriter, req *http.Request, script bool) {
	w.Header().Set("Cache-Control", "no-store")
	have := req.URL.Query().Get("v")
	unchanged := func(v int64) bool {
		if script || have != strconv.FormatInt(v, 10) {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"v":` + have + `}`))
		return true
	}
	if unchanged(r.version.Load()) {
		return
	}
	data, v, err := r.data(r.version.Load())
	if err != nil {
		r.opt.Logger.Warn("review page: could not read the journal", "error", err)
		http.Error(w, "could not read the journal", http.StatusInternalServerError)
		return
	}
	if unchanged(v) { // the data is rebuilt at most every rebuildEvery
		return
	}
	if script {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		data = wrapScript(data)
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Write(data)
}

// rebuildEvery bounds how often the live data is rebuilt from the
// journal: a night of 50,000 records takes a good part of a second.
const rebuildEvery = 2 * time.Second

// data is the page's data at version v as JSON, rebuilt from the journal
// only when v changed, and not more often than rebuildEvery (the page then
// gets the last, older version, and asks again).
func (r *Recorder) data(v int64) ([]byte, int64, error) {
	r.cacheMu.Lock()
	defer r.cacheMu.Unlock()
	if r.cache != nil && (r.cacheV == v || r.opt.Now().Sub(r.cacheAt) < rebuildEvery) {
		return r.cache, r.cacheV, nil
	}
	c := newCollector(r.th)
	r.mu.Lock()
	c.unhashed = maps.Clone(r.unhashed)
	records, statsOf := r.opt.Records, r.opt.Stats
	r.mu.Unlock()
	if records != nil {
		if err := records(c.add); err != nil {
			return nil, 0, err
		}
	}
	n := r.snapshot()
	var stats *pipeline.Stats
	if statsOf != nil {
		s := statsOf()
		stats = &s
	}
	d := c.finish(n, stats, r.opt.Now())
	d.Version, d.Live = v, true
	d.In, d.Out, d.Retry = n.In, n.Out, retryCommand(n)
	out, err := json.Marshal(d)
	if err != nil {
		return nil, 0, err
	}
	r.cache, r.cacheV, r.cacheAt = out, v, r.opt.Now()
	return out, v, nil
}

// wrapScript makes data.js of the data: a classic script calling the
// page's global, the one way to load data from file://. encoding/json
// escapes <, > and & so the JSON cannot end the script.
func wrapScript(data []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(data) + 16)
	b.WriteString("hfLoad(")
	b.Write(data)
	b.WriteString(");\n")
	return b.Bytes()
}
