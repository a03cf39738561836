package uploader

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"hotfolder/ratelimit"
)

func result(size int) []byte {
	b := make([]byte, size)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(b)
	return b
}

// serveHalf promises all of data and sends half, then hangs up.
func serveHalf(data []byte) reply {
	return reply{do: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:len(data)/2])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		dropConnection(w, r)
	}}
}

func serveAll(data []byte) reply {
	return reply{do: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(data)
	}}
}

func TestDownload(t *testing.T) {
	data := result(3 << 20)
	e := newEnv(t, nil)
	f, err := os.Create(filepath.Join(t.TempDir(), "out.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sizeAtRetry := int64(-1)
	e.adobe.on("GET /hosted/", status(503), serveHalf(data), reply{do: func(w http.ResponseWriter, r *http.Request) {
		if st, err := os.Stat(f.Name()); err == nil {
			sizeAtRetry = st.Size()
		}
		serveAll(data).do(w, r)
	}})
	// 503, then a transfer cut in half, then the whole result: the file
	// must hold exactly the result (truncated before the retry).
	out := Result{URL: e.adobe.URL() + "/hosted/out.png?X-Amz-Signature=" + sigMarker, MediaType: "image/png"}
	n, err := e.c.Download(context.Background(), out, f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(data)) || sha(got) != sha(data) {
		t.Errorf("wrote %d bytes (file %d), want %d with the same hash", n, len(got), len(data))
	}
	if sizeAtRetry != 0 {
		t.Errorf("the file held %d bytes when the retry started, want 0 (truncated)", sizeAtRetry)
	}
	reqs := e.adobe.requests("GET /hosted/")
	if len(reqs) != 3 {
		t.Errorf("%d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		if r.header.Get("Authorization") != "" || r.header.Get("x-api-key") != "" {
			t.Errorf("credentials sent to the hosted URL: %v", r.header)
		}
		if r.query != "X-Amz-Signature="+sigMarker {
			t.Errorf("query %q: the presigned URL must be fetched as given", r.query)
		}
	}
	for _, b := range ratelimit.Buckets() {
		if n := e.limiter.Waits(b); n != 0 {
			t.Errorf("downloads charged %d times to %s", n, b)
		}
	}
}

// seekBuffer is an io.WriteSeeker with no Truncate: retries overwrite.
type seekBuffer struct {
	b   []byte
	off int
}

func (s *seekBuffer) Write(p []byte) (int, error) {
	if need := s.off + len(p); need > len(s.b) {
		s.b = append(s.b, make([]byte, need-len(s.b))...)
	}
	copy(s.b[s.off:], p)
	s.off += len(p)
	return len(p), nil
}

func (s *seekBuffer) Seek(off int64, whence int) (int64, error) {
	if whence != io.SeekStart {
		return 0, errors.New("seekBuffer: only SeekStart")
	}
	s.off = int(off)
	return off, nil
}

func TestDownloadRetryWithoutTruncate(t *testing.T) {
	data := result(1 << 20)
	e := newEnv(t, nil)
	e.adobe.on("GET /hosted/", serveHalf(data), serveAll(data))
	var w seekBuffer
	n, err := e.c.Download(context.Background(), Result{URL: e.adobe.URL() + "/hosted/o"}, &w)
	if err != nil || n != int64(len(data)) || !bytes.Equal(w.b, data) {
		t.Fatalf("n=%d err=%v, content equal: %v", n, err, bytes.Equal(w.b, data))
	}
}

func TestDownloadFailures(t *testing.T) {
	tests := []struct {
		name     string
		replies  []reply
		requests int
		status   int
		hint     string
	}{
		{"403 expired presigned URL", []reply{{status: 403, body: `<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>`}}, 1, 403, "expired"},
		{"404", []reply{status(404)}, 1, 404, "expired"},
		{"5xx after retries", []reply{status(500)}, 4, 500, "again later"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.adobe.on("GET /hosted/", tc.replies...)
			var w seekBuffer
			_, err := e.c.Download(context.Background(), Result{URL: e.adobe.URL() + "/hosted/o?sig=" + sigMarker}, &w)
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != tc.status || ae.Op != "download" {
				t.Fatalf("error %v, want a download *APIError with %d", err, tc.status)
			}
			if IsFatal(err) || !strings.Contains(Hint(err), tc.hint) {
				t.Errorf("fatal %v, hint %q", IsFatal(err), Hint(err))
			}
			if gone := tc.status < 500; errors.Is(err, ErrResultGone) != gone {
				t.Errorf("errors.Is(err, ErrResultGone) = %v, want %v", !gone, gone)
			}
			if strings.Contains(err.Error(), sigMarker) || strings.Contains(ae.URL, sigMarker) {
				t.Errorf("the error shows the query: %v / %s", err, ae.URL)
			}
			if n := len(e.adobe.requests("GET /hosted/")); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
		})
	}
}

// failingWriter is a full disk.
type failingWriter struct{ seekBuffer }

func (failingWriter) Write(p []byte) (int, error) { return 0, errors.New("no space left on device") }

func TestDownloadWriteErrorNotRetried(t *testing.T) {
	e := newEnv(t, nil)
	e.adobe.on("GET /hosted/", serveAll(result(1000)))
	_, err := e.c.Download(context.Background(), Result{URL: e.adobe.URL() + "/hosted/o"}, &failingWriter{})
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("error %v", err)
	}
	if n := len(e.adobe.requests("GET /hosted/")); n != 1 {
		t.Errorf("%d requests, want 1: a disk error is not the network's", n)
	}
}
