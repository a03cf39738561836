package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// storage mirrors uploader.Storage, which this package must not import:
// the emulator is the Adobe side, tested apart from the client.
type storage interface {
	Put(ctx context.Context, key string, body io.ReadSeeker, size int64, contentType string) error
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
	Delete(ctx context.Context, key string) error
}

var _ storage = (*Store)(nil)

func TestStore(t *testing.T) {
	f := start(t, Config{})
	st := NewStore(f.s.StorageURL(), nil)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 10000)
	key := "night 1/a+b%c.jpg"

	// Put seeks to the start itself: a reader left at its end still uploads everything.
	r := bytes.NewReader(data)
	r.Seek(0, io.SeekEnd)
	if err := st.Put(ctx, key, r, int64(len(data)), "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	u, err := st.PresignGet(ctx, key, 90*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := download(t, u)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("presigned GET: %s %s, %d bytes", resp.Status, resp.Header.Get("Content-Type"), len(body))
	}
	parsed, _ := url.Parse(u)
	exp, _ := strconv.ParseInt(parsed.Query().Get("expires"), 10, 64)
	if want := f.clock.Now().Add(90 * time.Minute).Unix(); exp != want {
		t.Errorf("expires %d, want now+90min = %d", exp, want)
	}

	bad := []struct {
		name, url, wantCode string
	}{
		{"tampered signature", strings.Replace(u, "sig=", "sig=1", 1), "SignatureDoesNotMatch"},
		{"extended expiry", strings.Replace(u, "expires="+strconv.FormatInt(exp, 10), "expires="+strconv.FormatInt(exp+3600, 10), 1), "SignatureDoesNotMatch"},
		{"no signature", f.s.StorageURL() + "/" + escapeKey(key), "AccessDenied"},
		{"other key", strings.Replace(u, "a+b", "a+c", 1), "SignatureDoesNotMatch"},
	}
	for _, tc := range bad {
		resp, body := download(t, tc.url)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<Code>"+tc.wantCode+"</Code>") {
			t.Errorf("%s: %s %s, want 403 %s", tc.name, resp.Status, body, tc.wantCode)
		}
	}
	f.clock.Advance(90*time.Minute + time.Second)
	if resp, body := download(t, u); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "Request has expired") {
		t.Errorf("expired: %s %s, want 403 Request has expired", resp.Status, body)
	}

	u2, err := st.PresignGet(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if resp, _ := download(t, u2); resp.StatusCode != http.StatusNotFound {
		t.Errorf("after delete: %s, want 404", resp.Status)
	}
	if err := st.Delete(ctx, key); err != nil {
		t.Errorf("deleting a missing key: %v", err)
	}
	stats := f.s.Stats()
	if stats.Uploads != 1 || stats.UploadBytes != int64(len(data)) {
		t.Errorf("Uploads %d, UploadBytes %d", stats.Uploads, stats.UploadBytes)
	}
}

func TestStorePutRefusals(t *testing.T) {
	f := start(t, Config{})
	// Chunked (no Content-Length) is refused, as S3 does.
	req, _ := http.NewRequest(http.MethodPut, f.s.StorageURL()+"/k", io.MultiReader(strings.NewReader("abc")))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusLengthRequired || !strings.Contains(string(body), "MissingContentLength") {
		t.Errorf("chunked PUT: %s %s", resp.Status, body)
	}
	// A body shorter than announced fails (net/http refuses it client-side).
	st := NewStore(f.s.StorageURL(), nil)
	if err := st.Put(context.Background(), "short", strings.NewReader("abc"), 10, ""); err == nil {
		t.Fatal("short body: no error")
	}
	// A refusal by the store is a *StoreError with its status.
	err = st.Put(context.Background(), "", strings.NewReader("abc"), 3, "")
	var se *StoreError
	if !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest {
		t.Errorf("empty key: %v, want a StoreError with 400", err)
	}
	if _, err := st.PresignGet(context.Background(), "k", 0); err != nil {
		t.Errorf("presign with ttl 0: %v (want the minimum of 1 s)", err)
	}
	resp, err = http.Post(f.s.StorageURL()+"/k?presign=-3", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("negative presign: %s %s", resp.Status, body)
	}
	if stats := f.s.Stats(); stats.Uploads != 0 {
		t.Errorf("Uploads = %d after refused PUTs, want 0", stats.Uploads)
	}
}

func TestStatsPerSourceAndJSON(t *testing.T) {
	f := start(t, Config{})
	data := objectShot(t)
	u1 := f.upload("dup.png", data)
	u2, _ := NewStore(f.s.StorageURL(), nil).PresignGet(context.Background(), "dup.png", 2*time.Hour)
	a := f.submit(rbBody(u1, nil))
	f.submit(rbBody(u2, nil)) // same object, re-signed: a duplicate submission
	f.status(a)
	f.status(a)
	f.status(a)

	st := f.s.Stats()
	if st.PostsPerSource["/storage/dup.png"] != 2 || st.Jobs != 2 || st.Posts != 2 || len(st.PostTimes) != 2 {
		t.Errorf("PostsPerSource %v, Jobs %d, Posts %d, PostTimes %d; want 2 for /storage/dup.png", st.PostsPerSource, st.Jobs, st.Posts, len(st.PostTimes))
	}
	if st.GetsPerJob[a.JobID] != 3 {
		t.Errorf("GetsPerJob %v, want 3 for %s", st.GetsPerJob, a.JobID)
	}
	if len(st.Accepted) != 2 || st.Accepted[0].Source != "/storage/dup.png" || st.Accepted[1].At.Before(st.Accepted[0].At) {
		t.Errorf("Accepted %v, want the two jobs of /storage/dup.png in order", st.Accepted)
	}
	resp, body := download(t, f.s.URL()+"/emulator/stats")
	var served Stats
	if err := json.Unmarshal(body, &served); err != nil || resp.StatusCode != 200 {
		t.Fatalf("stats endpoint: %s %s", resp.Status, body)
	}
	if served.PostsPerSource["/storage/dup.png"] != 2 || served.GetsPerJob[a.JobID] != 3 || served.Uploads != 1 || served.TokensIssued != 1 ||
		served.PostsByBucket["remove-background.post"] != 2 || !served.PostTimes[0].Equal(st.PostTimes[0]) {
		t.Errorf("served stats %s do not match %+v", body, st)
	}
}

func TestCloseRemovesTempDir(t *testing.T) {
	s, err := Start(Config{})
	if err != nil {
		t.Fatal(err)
	}
	dir := s.dir
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := http.Get(s.URL() + "/emulator/stats"); err == nil {
		t.Error("still serving after Close")
	}

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := s.Serve(l); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close: %v, want ErrClosed", err)
	}

	// A given Dir is kept.
	keep := t.TempDir()
	s2, err := New(Config{Dir: keep})
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("configured Dir after Close: %v", err)
	}
}
