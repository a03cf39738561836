package emulator

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Subdirectories of Config.Dir.
const (
	storageDir = "storage" // uploads, named by the SHA-256 of their key
	resultsDir = "results" // job results
	workDir    = "work"    // downloaded inputs while a job runs
)

// URL prefixes; also the purposes signatures are bound to.
const (
	storagePrefix = "/storage/"
	resultsPrefix = "/results/"
)

// maxPresign is the longest presign S3 allows: 7 days.
const maxPresign = 7 * 24 * 60 * 60

// object is what the store remembers of an upload beyond its bytes.
type object struct {
	contentType string
	size        int64
}

// serveStorage is the upload store: an S3 stand-in with single-part PUT,
// presigned GET, and DELETE.
func (s *Server) serveStorage(w http.ResponseWriter, r *http.Request) {
	key, ok := storageKeyOf(r.URL)
	if !ok {
		writeS3Error(w, http.StatusBadRequest, "InvalidURI", "the key is missing or not valid")
		return
	}
	switch r.Method {
	case http.MethodPut:
		s.putObject(w, r, key)
	case http.MethodPost:
		s.presign(w, r, key)
	case http.MethodGet, http.MethodHead:
		if !s.verify(w, r, storagePrefix, key) {
			return
		}
		s.mu.Lock()
		ct := s.objects[key].contentType
		s.mu.Unlock()
		s.serveFile(w, r, s.objectPath(key), ct)
	case http.MethodDelete:
		err := os.Remove(s.objectPath(key))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			writeS3Error(w, http.StatusInternalServerError, "InternalError", err.Error())
			return
		}
		s.mu.Lock()
		delete(s.objects, key)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "PUT, POST, GET, HEAD, DELETE")
		writeS3Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "the method is not allowed against this resource")
	}
}

// storageKeyOf returns the key a /storage/ URL names, and whether it is
// a valid one.
func storageKeyOf(u *url.URL) (string, bool) {
	key, err := url.PathUnescape(strings.TrimPrefix(u.EscapedPath(), storagePrefix))
	return key, err == nil && key != "" && !strings.ContainsRune(key, 0)
}

func (s *Server) objectPath(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(s.dir, storageDir, hex.EncodeToString(sum[:]))
}

// putObject stores a single-part upload: streamed to a temporary file and
// renamed into place, so a GET never sees half an upload. Like S3 it
// requires Content-Length and refuses a body shorter than announced.
func (s *Server) putObject(w http.ResponseWriter, r *http.Request, key string) {
	if r.ContentLength < 0 {
		writeS3Error(w, http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header.")
		return
	}
	if r.ContentLength > maxInput {
		writeS3Error(w, http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size (5 GB).")
		return
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, storageDir), ".put-*")
	if err != nil {
		writeS3Error(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	sum := md5.New()
	n, err := io.Copy(io.MultiWriter(tmp, sum), r.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil || n != r.ContentLength {
		writeS3Error(w, http.StatusBadRequest, "IncompleteBody",
			fmt.Sprintf("You did not provide the number of bytes specified by the Content-Length HTTP header (got %d of %d).", n, r.ContentLength))
		return
	}
	if err := os.Rename(tmp.Name(), s.objectPath(key)); err != nil {
		writeS3Error(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	s.mu.Lock()
	s.objects[key] = object{contentType: r.Header.Get("Content-Type"), size: n}
	s.stats.Uploads++
	s.stats.UploadBytes += n
	s.mu.Unlock()
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum.Sum(nil))+`"`)
	w.WriteHeader(http.StatusOK)
}

// presign answers POST /storage/{key}?presign=SECONDS with a GET URL valid
// for at least that long.
func (s *Server) presign(w http.ResponseWriter, r *http.Request, key string) {
	secs, err := strconv.Atoi(r.URL.Query().Get("presign"))
	if err != nil || secs <= 0 || secs > maxPresign {
		writeS3Error(w, http.StatusBadRequest, "InvalidArgument",
			fmt.Sprintf("presign must be a number of seconds from 1 to %d", maxPresign))
		return
	}
	u := s.signedURL(s.baseFor(r), storagePrefix, key, s.now().Add(time.Duration(secs)*time.Second))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, u)
}

// signedURL returns base+prefix+key with an expiry (rounded up to a whole
// second, so the URL is valid at least until until) and a signature.
func (s *Server) signedURL(base, prefix, key string, until time.Time) string {
	exp := until.Unix()
	if until.After(time.Unix(exp, 0)) {
		exp++
	}
	return base + prefix + escapeKey(key) + "?expires=" + strconv.FormatInt(exp, 10) + "&sig=" + s.sign(prefix, key, exp)
}

func (s *Server) sign(prefix, key string, expires int64) string {
	m := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(m, "%s\n%s\n%d", prefix, key, expires)
	return hex.EncodeToString(m.Sum(nil))
}

// verify checks a signed URL's signature and expiry, answering 403 with an
// S3-style error when they do not hold.
func (s *Server) verify(w http.ResponseWriter, r *http.Request, prefix, key string) bool {
	if rf := s.checkSigned(r.URL.Query(), prefix, key); rf != nil {
		writeS3Error(w, http.StatusForbidden, rf.code, rf.message)
		return false
	}
	return true
}

// refusal is why a signed URL grants no access, as an S3 error.
type refusal struct{ code, message string }

// checkSigned reports why the query q of a URL for prefix+key does not
// carry a valid, unexpired signature, or nil when it does.
func (s *Server) checkSigned(q url.Values, prefix, key string) *refusal {
	es, sig := q.Get("expires"), q.Get("sig")
	if es == "" || sig == "" {
		return &refusal{"AccessDenied", "Query-string authentication requires the expires and sig parameters"}
	}
	exp, err := strconv.ParseInt(es, 10, 64)
	if err != nil || !hmac.Equal([]byte(sig), []byte(s.sign(prefix, key, exp))) {
		return &refusal{"SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."}
	}
	if s.now().After(time.Unix(exp, 0)) {
		return &refusal{"AccessDenied", "Request has expired"}
	}
	return nil
}

// serveResult answers GET /results/{name} for a signed result URL.
func (s *Server) serveResult(w http.ResponseWriter, r *http.Request) {
	name, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), resultsPrefix))
	if err != nil || name == "" || filepath.Base(name) != name || strings.HasPrefix(name, ".") {
		writeS3Error(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeS3Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "the method is not allowed against this resource")
		return
	}
	if !s.verify(w, r, resultsPrefix, name) {
		return
	}
	if s.serveFile(w, r, filepath.Join(s.dir, resultsDir, name), contentTypeOf(name)) && r.Method == http.MethodGet {
		s.count(func(st *Stats) { st.ResultDownloads++ })
	}
}

// serveFile serves a stored file (ranges and HEAD included), reporting
// whether it existed.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, path, contentType string) bool {
	f, err := os.Open(path)
	if err != nil {
		writeS3Error(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		writeS3Error(w, http.StatusInternalServerError, "InternalError", err.Error())
		return false
	}
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	}
	http.ServeContent(w, r, "", fi.ModTime(), f)
	return true
}

// writeResult writes a job's result under name in the results directory,
// via a temporary file so a download never sees half of it.
func (s *Server) writeResult(name string, write func(io.Writer) error) error {
	dir := filepath.Join(s.dir, resultsDir)
	tmp, err := os.CreateTemp(dir, ".result-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = write(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, name))
}

// escapeKey escapes each slash-separated segment of a key for a URL path.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// writeS3Error writes an error the way S3 does: XML with a Code and a
// Message.
func writeS3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>\n",
		code, html.EscapeString(msg))
}
