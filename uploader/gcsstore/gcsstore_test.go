package gcsstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"hotfolder/uploader"
	"hotfolder/uploader/gcsstore/gcstest"
)

var _ uploader.Storage = (*Store)(nil)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in             string
		bucket, prefix string
		bad            bool
	}{
		{in: "gs://studio-inputs", bucket: "studio-inputs"},
		{in: "gs://studio-inputs/", bucket: "studio-inputs"},
		{in: "gs://studio-inputs/night/run/", bucket: "studio-inputs", prefix: "night/run"},
		{in: "gs://", bad: true},
		{in: "gs:///p", bad: true},
		{in: "s3://studio-inputs", bad: true},
		{in: "gs://studio-inputs/a//b", bad: true},
		{in: "gs://studio-inputs/../b", bad: true},
		{in: "gs://host:1/b", bad: true},
	}
	for _, tc := range tests {
		b, p, err := ParseURL(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseURL(%q) = %q, %q; want an error", tc.in, b, p)
			} else if !strings.Contains(err.Error(), "gs://BUCKET") && !strings.Contains(err.Error(), "segment") {
				t.Errorf("ParseURL(%q): error %q does not show the expected form", tc.in, err)
			}
			continue
		}
		if err != nil || b != tc.bucket || p != tc.prefix {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q", tc.in, b, p, err, tc.bucket, tc.prefix)
		}
	}
}

func TestPresignOffline(t *testing.T) {
	ctx := context.Background()
	// Google's own endpoint, given so that no Application Default
	// Credentials are looked for: the URLs have production's form.
	s, err := New(ctx, Config{Bucket: "studio-inputs", Prefix: "hot", ServiceAccountJSON: gcstest.ServiceAccount(t),
		Endpoint: "https://storage.googleapis.com"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, ttl := range []time.Duration{0, -time.Second, MaxPresignTTL + time.Second} {
		if _, err := s.PresignGet(ctx, "k", ttl); err == nil {
			t.Errorf("PresignGet(ttl %s) succeeded", ttl)
		}
	}
	raw, err := s.PresignGet(ctx, "a b/in.jpg", 70*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	// Adobe's allow-list names storage.googleapis.com: path-style URLs.
	if u.Scheme != "https" || u.Host != "storage.googleapis.com" || u.Path != "/studio-inputs/hot/a b/in.jpg" {
		t.Errorf("URL %s: want https://storage.googleapis.com/BUCKET/OBJECT", raw)
	}
	// The library dates the URL by its own clock: a second may pass
	// between Expires and the signing.
	if exp := q.Get("X-Goog-Expires"); exp != "4200" && exp != "4199" {
		t.Errorf("URL %s: X-Goog-Expires %s, want 4200 s (70 minutes)", raw, exp)
	}
	if q.Get("X-Goog-Algorithm") != "GOOG4-RSA-SHA256" || q.Get("X-Goog-SignedHeaders") != "host" ||
		len(q.Get("X-Goog-Signature")) != 512 || !strings.HasPrefix(q.Get("X-Goog-Credential"), "hotfolder-test@") {
		t.Errorf("URL %s: not a V4 signed URL with the service account's 2048-bit key", raw)
	}
}

func open(t testing.TB, srv gcstest.Server, prefix string) *Store {
	t.Helper()
	s, err := New(context.Background(), Config{Bucket: srv.Bucket, Prefix: prefix, Endpoint: srv.Endpoint, ServiceAccountJSON: srv.ServiceAccountJSON})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func get(t *testing.T, u string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body, resp.Header
}

func TestStoreOnFakeGCS(t *testing.T) {
	srv := gcstest.Start(t)
	ctx := context.Background()
	s := open(t, srv, "hotfolder/run-1")
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	data := make([]byte, 3<<20+7)
	rand.Read(data)
	// The body is longer than size: only size bytes are the file.
	body := bytes.NewReader(append(bytes.Clone(data), "trailing"...))
	key := "in/b c.png"
	if err := s.Put(ctx, key, body, int64(len(data)), "image/png"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	u, err := s.PresignGet(ctx, key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pu, _ := url.Parse(u)
	if pu.Host != strings.TrimPrefix(srv.Endpoint, "http://") || pu.Query().Get("X-Goog-Algorithm") != "GOOG4-RSA-SHA256" {
		t.Errorf("signed URL %s: want a V4 URL on the endpoint's host", u)
	}
	// fake-gcs-server does not verify the signature (see gcstest): this
	// shows the URL's form is one GCS serves, with a plain GET.
	status, got, hdr := get(t, u)
	if status != http.StatusOK || !bytes.Equal(got, data) || hdr.Get("Content-Type") != "image/png" {
		t.Fatalf("GET signed URL: HTTP %d, %d bytes (want %d), type %q", status, len(got), len(data), hdr.Get("Content-Type"))
	}
	attrs, err := srv.Client(t).Bucket(srv.Bucket).Object("hotfolder/run-1/" + key).Attrs(ctx)
	if err != nil || attrs.Size != int64(len(data)) {
		t.Fatalf("object under the prefix: %v, %v", attrs, err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if status, _, _ := get(t, u); status != http.StatusNotFound {
		t.Errorf("GET after Delete: HTTP %d, want 404", status)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Errorf("Delete of a missing object: %v", err)
	}
}

func TestCheckFailures(t *testing.T) {
	srv := gcstest.Start(t)
	ctx := context.Background()
	t.Run("no bucket", func(t *testing.T) {
		missing := srv
		missing.Bucket = "no-such-bucket"
		err := open(t, missing, "").Check(ctx)
		var e *Error
		if !errors.As(err, &e) || !e.Fatal() || !strings.Contains(e.Hint(), "does not exist") {
			t.Fatalf("Check = %v (hint %q); want a fatal *Error saying the bucket does not exist", err, uploader.Hint(err))
		}
	})
	t.Run("no key to sign with", func(t *testing.T) {
		t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
		s, err := New(ctx, Config{Bucket: srv.Bucket, Endpoint: srv.Endpoint})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		err = s.Check(ctx)
		var e *Error
		if !errors.As(err, &e) || !e.Fatal() || !strings.Contains(e.Hint(), "service account") {
			t.Fatalf("Check = %v (hint %q); want a fatal *Error asking for a service account", err, uploader.Hint(err))
		}
	})
	t.Run("not a service account", func(t *testing.T) {
		_, err := New(ctx, Config{Bucket: srv.Bucket, Endpoint: srv.Endpoint, ServiceAccountJSON: []byte(`{"type":"authorized_user"}`)})
		var e *Error
		if !errors.As(err, &e) || !e.Fatal() || !strings.Contains(e.Hint(), "GOOGLE_APPLICATION_CREDENTIALS") {
			t.Fatalf("New = %v; want a fatal *Error naming GOOGLE_APPLICATION_CREDENTIALS", err)
		}
	})
}
