package s3store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"hotfolder/uploader"
	"hotfolder/uploader/s3store/s3test"
)

var _ uploader.Storage = (*Store)(nil)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in             string
		bucket, prefix string
		bad            bool
	}{
		{in: "s3://my-bucket", bucket: "my-bucket"},
		{in: "s3://my-bucket/", bucket: "my-bucket"},
		{in: "s3://my-bucket/hotfolder", bucket: "my-bucket", prefix: "hotfolder"},
		{in: "s3://my-bucket/studio/night-run/", bucket: "my-bucket", prefix: "studio/night-run"},
		{in: "s3://", bad: true},
		{in: "s3:///prefix", bad: true},
		{in: "my-bucket/prefix", bad: true},
		{in: "https://my-bucket.s3.amazonaws.com/x", bad: true},
		{in: "s3://my-bucket/a//b", bad: true},
		{in: "s3://my-bucket/../b", bad: true},
		{in: "s3://my-bucket?x=1", bad: true},
		{in: "s3://host:9000/bucket", bad: true},
	}
	for _, tc := range tests {
		b, p, err := ParseURL(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseURL(%q) = %q, %q; want an error", tc.in, b, p)
			} else if !strings.Contains(err.Error(), "s3://BUCKET") && !strings.Contains(err.Error(), "segment") {
				t.Errorf("ParseURL(%q): error %q does not show the expected form", tc.in, err)
			}
			continue
		}
		if err != nil || b != tc.bucket || p != tc.prefix {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q", tc.in, b, p, err, tc.bucket, tc.prefix)
		}
	}
}

// offline returns a Store whose requests would go nowhere; presigning
// needs none.
func offline(t *testing.T, prefix string) *Store {
	t.Helper()
	s, err := New(context.Background(), Config{Bucket: "b", Prefix: prefix, Endpoint: "http://127.0.0.1:1", PathStyle: true,
		Region: "eu-west-1", AccessKey: "AKID", SecretKey: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPresignTTL(t *testing.T) {
	s := offline(t, "")
	tests := []struct {
		ttl time.Duration
		ok  bool
	}{
		{time.Hour + 10*time.Minute, true},
		{MaxPresignTTL, true},
		{MaxPresignTTL + time.Second, false},
		{30 * 24 * time.Hour, false},
		{0, false},
		{-time.Minute, false},
	}
	for _, tc := range tests {
		u, err := s.PresignGet(context.Background(), "k/x.png", tc.ttl)
		if tc.ok {
			q, perr := url.Parse(u)
			if err != nil || perr != nil || q.Query().Get("X-Amz-Expires") != fmt.Sprint(int(tc.ttl.Seconds())) {
				t.Errorf("ttl %v: %q, %v", tc.ttl, u, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "7 days") {
			t.Errorf("ttl %v: error %v, want one naming the 7-day limit", tc.ttl, err)
		}
	}
}

func TestKeys(t *testing.T) {
	tests := []struct{ prefix, key, path string }{
		{"", "hotfolder/0123/a.png", "/b/hotfolder/0123/a.png"},
		{"studio", "hotfolder/0123/a.png", "/b/studio/hotfolder/0123/a.png"},
		{"/studio/night/", "/hotfolder/0123/a.png", "/b/studio/night/hotfolder/0123/a.png"},
	}
	for _, tc := range tests {
		u, err := offline(t, tc.prefix).PresignGet(context.Background(), tc.key, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := url.Parse(u)
		if p.Path != tc.path {
			t.Errorf("prefix %q key %q: path %q, want %q", tc.prefix, tc.key, p.Path, tc.path)
		}
	}
}

// connect returns a Store on srv's bucket under a prefix of the test's own.
func connect(t *testing.T, srv s3test.Server, mod func(*Config)) *Store {
	t.Helper()
	cfg := Config{
		Bucket:    srv.Bucket,
		Prefix:    "test-" + rand.Text()[:10],
		Endpoint:  srv.Endpoint,
		Region:    srv.Region,
		PathStyle: true,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bigFile writes size random bytes and returns the path and their SHA-256.
func bigFile(t *testing.T, size int) (string, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "big.jpg")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, int64(size)); err != nil {
		t.Fatal(err)
	}
	return p, hex.EncodeToString(h.Sum(nil))
}

// getSHA fetches u with plain net/http and returns the status, content
// type and SHA-256 of the body.
func getSHA(t *testing.T, u string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), hex.EncodeToString(h.Sum(nil))
}

func TestPutPresignDelete(t *testing.T) {
	srv := s3test.Start(t)
	s := connect(t, srv, nil)
	ctx := context.Background()
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}

	const size = 20 << 20
	path, want := bigFile(t, size)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	// Memory: a Put that held the file whole would allocate at least its
	// 20 MiB. Streaming costs copy buffers and the SDK's bookkeeping
	// (about 0.2 MiB measured); a bound of a tenth of the file leaves
	// ample room for those and still fails any implementation that
	// buffers the body, or even a tenth of it.
	const bound = size / 10
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err = s.Put(ctx, "hotfolder/0123456789abcdef/big.jpg", f, size, "image/jpeg")
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("Put of %d MiB allocated %.2f MiB in all (bound %d MiB)", size>>20, float64(alloc)/(1<<20), bound>>20)
	if alloc > bound {
		t.Errorf("Put of %d bytes allocated %d bytes, more than %d: the body is being buffered", size, alloc, bound)
	}

	// The object sits under the store's prefix.
	if _, err := srv.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(srv.Bucket),
		Key: aws.String(s.prefix + "/hotfolder/0123456789abcdef/big.jpg")}); err != nil {
		t.Errorf("HeadObject under the prefix: %v", err)
	}

	u, err := s.PresignGet(ctx, "hotfolder/0123456789abcdef/big.jpg", time.Hour+10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	code, ctype, got := getSHA(t, u)
	if code != http.StatusOK || got != want || ctype != "image/jpeg" {
		t.Fatalf("GET presigned: HTTP %d, %s, sha %s; want 200, image/jpeg, %s", code, ctype, got, want)
	}

	if err := s.Delete(ctx, "hotfolder/0123456789abcdef/big.jpg"); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := getSHA(t, u); code != http.StatusNotFound && code != http.StatusForbidden {
		t.Errorf("GET after Delete: HTTP %d, want 404 or 403", code)
	}
	if err := s.Delete(ctx, "hotfolder/0123456789abcdef/big.jpg"); err != nil {
		t.Errorf("deleting a missing key: %v", err)
	}
}

// A body the SDK reads twice (to sign it over plain http) still arrives
// whole and unchanged.
func TestPutSmallBodies(t *testing.T) {
	srv := s3test.Start(t)
	s := connect(t, srv, func(c *Config) { c.Prefix = "" })
	ctx := context.Background()
	for _, data := range []string{"", "x", strings.Repeat("hotfolder\n", 100000)} {
		key := "k/" + rand.Text()
		if err := s.Put(ctx, key, strings.NewReader(data), int64(len(data)), "application/octet-stream"); err != nil {
			t.Fatalf("Put %d bytes: %v", len(data), err)
		}
		u, err := s.PresignGet(ctx, key, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(data))
		if code, _, got := getSHA(t, u); code != 200 || got != hex.EncodeToString(sum[:]) {
			t.Errorf("%d bytes: HTTP %d, sha %s", len(data), code, got)
		}
		s.Delete(ctx, key)
	}
}

func TestFatalErrors(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	tests := []struct {
		name string
		mod  func(*Config)
		hint string
	}{
		{"missing bucket", func(c *Config) { c.Bucket = "no-such-bucket-" + strings.ToLower(rand.Text()[:8]) }, "does not exist"},
		{"wrong secret", func(c *Config) { c.SecretKey = "wrong-" + c.SecretKey }, "credentials"},
		{"unknown access key", func(c *Config) { c.AccessKey = "nobody" }, "credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := connect(t, srv, tc.mod)
			check := s.Check(ctx)
			put := s.Put(ctx, "k/x.png", strings.NewReader("png"), 3, "image/png")
			for op, err := range map[string]error{"Check": check, "Put": put} {
				var se *Error
				if !errors.As(err, &se) {
					t.Fatalf("%s: error %v, want an *Error", op, err)
				}
				if !se.Fatal() || !strings.Contains(se.Hint(), tc.hint) {
					t.Errorf("%s: %v: fatal %v, hint %q (want one with %q)", op, err, se.Fatal(), se.Hint(), tc.hint)
				}
				if strings.Contains(err.Error(), srv.SecretKey) {
					t.Errorf("%s: the error shows the secret", op)
				}
			}
		})
	}
}

func TestNoCredentialsFatal(t *testing.T) {
	dir := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	s, err := New(context.Background(), Config{Bucket: "b", Endpoint: "http://127.0.0.1:1", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.client.Options().Region != defaultRegion {
		t.Errorf("region %q, want the default %q", s.client.Options().Region, defaultRegion)
	}
	err = s.Check(context.Background())
	var se *Error
	if !errors.As(err, &se) || !se.Fatal() || !strings.Contains(se.Hint(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("error %v, want a fatal one pointing at AWS_ACCESS_KEY_ID", err)
	}
}

// A server that cannot be reached fails one Put, not the run; Check, at
// start-up, is fatal.
func TestUnreachable(t *testing.T) {
	s := offline(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	put := s.Put(ctx, "k", strings.NewReader("x"), 1, "image/png")
	var se *Error
	if !errors.As(put, &se) || se.Fatal() || se.Hint() == "" {
		t.Errorf("Put: %v, want a non-fatal *Error with a hint", put)
	}
	if err := s.Check(ctx); !errors.As(err, &se) || !se.Fatal() {
		t.Errorf("Check: %v, want fatal", err)
	}
}

// BenchmarkPut reports the bytes allocated per byte uploaded.
func BenchmarkPut(b *testing.B) {
	srv := s3test.Start(b)
	s, err := New(context.Background(), Config{Bucket: srv.Bucket, Prefix: "bench", Endpoint: srv.Endpoint,
		Region: srv.Region, PathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		b.Fatal(err)
	}
	const size = 8 << 20
	data := strings.Repeat("x", size)
	b.SetBytes(size)
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		if err := s.Put(context.Background(), "k", strings.NewReader(data), size, "image/jpeg"); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/size, "alloc-bytes/byte")
}
