package azstore

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
	"hotfolder/uploader/azstore/aztest"
)

var _ uploader.Storage = (*Store)(nil)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in                   string
		account, ctr, prefix string
		bad                  bool
	}{
		{in: "azblob://studio/inputs", account: "studio", ctr: "inputs"},
		{in: "azblob://studio/inputs/", account: "studio", ctr: "inputs"},
		{in: "azblob://studio/inputs/night/run/", account: "studio", ctr: "inputs", prefix: "night/run"},
		{in: "azblob://studio", bad: true},
		{in: "azblob://studio/", bad: true},
		{in: "azblob:///inputs", bad: true},
		{in: "s3://studio/inputs", bad: true},
		{in: "azblob://studio.blob.core.windows.net/inputs", bad: true},
		{in: "azblob://studio/inputs/a//b", bad: true},
		{in: "azblob://studio/inputs/../b", bad: true},
		{in: "azblob://studio:1/inputs", bad: true},
	}
	for _, tc := range tests {
		a, c, p, err := ParseURL(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseURL(%q) = %q, %q, %q; want an error", tc.in, a, c, p)
			} else if !strings.Contains(err.Error(), "azblob://ACCOUNT/CONTAINER") && !strings.Contains(err.Error(), "segment") {
				t.Errorf("ParseURL(%q): error %q does not show the expected form", tc.in, err)
			}
			continue
		}
		if err != nil || a != tc.account || c != tc.ctr || p != tc.prefix {
			t.Errorf("ParseURL(%q) = %q, %q, %q, %v; want %q, %q, %q", tc.in, a, c, p, err, tc.account, tc.ctr, tc.prefix)
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name          string
		getenv        func(string) string
		key, endpoint string
		errContains   string
	}{
		{name: "nothing: the default chain", getenv: env()},
		{name: "account key", getenv: env("AZURE_STORAGE_ACCOUNT", "studio", "AZURE_STORAGE_KEY", "a2V5"), key: "a2V5"},
		{name: "key alone", getenv: env("AZURE_STORAGE_KEY", "a2V5"), key: "a2V5"},
		{name: "key of another account", getenv: env("AZURE_STORAGE_ACCOUNT", "other", "AZURE_STORAGE_KEY", "a2V5"), errContains: "other"},
		{name: "connection string", getenv: env("AZURE_STORAGE_CONNECTION_STRING",
			"DefaultEndpointsProtocol=https;AccountName=studio;AccountKey=a2V5==;EndpointSuffix=core.chinacloudapi.cn"),
			key: "a2V5==", endpoint: "https://studio.blob.core.chinacloudapi.cn"},
		{name: "connection string with a blob endpoint", getenv: env("AZURE_STORAGE_CONNECTION_STRING",
			"AccountName=studio;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/studio"), key: "a2V5", endpoint: "http://127.0.0.1:1/studio"},
		{name: "connection string wins over the key", getenv: env("AZURE_STORAGE_KEY", "b3RoZXI=",
			"AZURE_STORAGE_CONNECTION_STRING", "AccountName=studio;AccountKey=a2V5"), key: "a2V5"},
		{name: "connection string of another account", getenv: env("AZURE_STORAGE_CONNECTION_STRING",
			"AccountName=other;AccountKey=a2V5"), errContains: `"other"`},
		{name: "SAS connection string", getenv: env("AZURE_STORAGE_CONNECTION_STRING",
			"BlobEndpoint=https://studio.blob.core.windows.net;SharedAccessSignature=sv=x"), errContains: "no AccountKey"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Account: "studio", Container: "inputs"}
			err := c.FromEnv(tc.getenv)
			if tc.errContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errContains) {
					t.Fatalf("err = %v, want one naming %s", err, tc.errContains)
				}
				return
			}
			if err != nil || c.AccountKey != tc.key || c.Endpoint != tc.endpoint {
				t.Fatalf("key %q endpoint %q err %v; want %q, %q", c.AccountKey, c.Endpoint, err, tc.key, tc.endpoint)
			}
		})
	}
	t.Run("development storage", func(t *testing.T) {
		c := Config{Account: aztest.Account, Container: "inputs"}
		if err := c.FromEnv(env("AZURE_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true")); err != nil {
			t.Fatal(err)
		}
		if c.AccountKey != aztest.Key || c.Endpoint != "http://127.0.0.1:10000/devstoreaccount1" {
			t.Errorf("key %q endpoint %q", c.AccountKey, c.Endpoint)
		}
	})
}

func TestPresignOffline(t *testing.T) {
	s, err := New(Config{Account: "studio", Container: "inputs", Prefix: "hot", AccountKey: aztest.Key})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	for _, ttl := range []time.Duration{0, -time.Second, MaxPresignTTL + time.Second} {
		if _, err := s.PresignGet(context.Background(), "k", ttl); err == nil {
			t.Errorf("PresignGet(ttl %s) succeeded", ttl)
		}
	}
	raw, err := s.PresignGet(context.Background(), "a b/in.jpg", 70*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "studio.blob.core.windows.net" || u.Path != "/inputs/hot/a b/in.jpg" {
		t.Errorf("URL %s: wrong host or path", raw)
	}
	if q.Get("sp") != "r" || q.Get("sr") != "b" || q.Get("sig") == "" {
		t.Errorf("URL %s: want a read-only (sp=r) blob (sr=b) SAS with a signature", raw)
	}
	if q.Get("spr") != "https" {
		t.Errorf("URL %s: spr %q, want https only on an https endpoint", raw, q.Get("spr"))
	}
	if q.Get("se") != "2026-03-01T13:10:00Z" || q.Get("st") != "2026-03-01T11:55:00Z" {
		t.Errorf("URL %s: start %s expiry %s; want 11:55 (clock skew) and 13:10 (ttl)", raw, q.Get("st"), q.Get("se"))
	}
}

// open returns a Store on srv's container, with the account key.
func open(t testing.TB, srv aztest.Server, prefix string) *Store {
	t.Helper()
	s, err := New(Config{Account: srv.Account, Container: srv.Container, Prefix: prefix, Endpoint: srv.Endpoint, AccountKey: srv.Key})
	if err != nil {
		t.Fatal(err)
	}
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

func TestStoreOnAzurite(t *testing.T) {
	srv := aztest.Start(t)
	ctx := context.Background()
	s := open(t, srv, "hotfolder/run 1")
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	data := []byte(rand.Text() + " a small input")
	key := "in/ä b.png"
	if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), "image/png"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	u, err := s.PresignGet(ctx, key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	status, body, hdr := get(t, u)
	if status != http.StatusOK || !bytes.Equal(body, data) || hdr.Get("Content-Type") != "image/png" {
		t.Fatalf("GET SAS URL: HTTP %d, %d bytes (want %d), type %q", status, len(body), len(data), hdr.Get("Content-Type"))
	}
	// Read-only: the URL Adobe gets cannot overwrite the input.
	req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader("overwritten"))
	req.Header.Set("x-ms-blob-type", "BlockBlob")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("PUT with the SAS URL: HTTP %d, want 403", resp.StatusCode)
	}
	// Unsigned, the blob is private.
	plain, _ := url.Parse(u)
	plain.RawQuery = ""
	if status, _, _ := get(t, plain.String()); status == http.StatusOK {
		t.Errorf("GET without the SAS: HTTP 200, the container is public")
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if status, _, _ := get(t, u); status != http.StatusNotFound {
		t.Errorf("GET after Delete: HTTP %d, want 404", status)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Errorf("Delete of a missing blob: %v", err)
	}
}

func TestStagedUpload(t *testing.T) {
	srv := aztest.Start(t)
	ctx := context.Background()
	s, err := New(Config{Account: srv.Account, Container: srv.Container, Endpoint: srv.Endpoint, AccountKey: srv.Key,
		SinglePutMax: 1 << 20, BlockSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3<<20+12345)
	rand.Read(data)
	// The body is longer than size: only size bytes are the file.
	body := bytes.NewReader(append(bytes.Clone(data), "trailing"...))
	if err := s.Put(ctx, "big.tif", body, int64(len(data)), "image/tiff"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	blocks, err := s.ctr.NewBlockBlobClient("big.tif").GetBlockList(ctx, "committed", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(blocks.CommittedBlocks); n != 4 {
		t.Errorf("%d blocks committed, want 4 of 1 MiB", n)
	}
	u, err := s.PresignGet(ctx, "big.tif", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if status, got, _ := get(t, u); status != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("GET: HTTP %d, %d bytes, want the %d uploaded", status, len(got), len(data))
	}
	// One Put Blob below the threshold, also bounded to size.
	if err := s.Put(ctx, "small.tif", bytes.NewReader(data), 1000, "image/tiff"); err != nil {
		t.Fatal(err)
	}
	u, _ = s.PresignGet(ctx, "small.tif", time.Hour)
	if status, got, _ := get(t, u); status != http.StatusOK || !bytes.Equal(got, data[:1000]) {
		t.Fatalf("GET small: HTTP %d, %d bytes, want 1000", status, len(got))
	}
}

func TestCheckFailures(t *testing.T) {
	srv := aztest.Start(t)
	ctx := context.Background()
	missing := srv
	missing.Container = "no-such-container"
	wrongKey := srv
	wrongKey.Key = "d3Jvbmcga2V5IGZvciB0aGUgYWNjb3VudA=="
	for _, tc := range []struct {
		name string
		srv  aztest.Server
		hint string
	}{
		{"no container", missing, "does not exist"},
		{"wrong key", wrongKey, "AZURE_STORAGE_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := open(t, tc.srv, "").Check(ctx)
			var e *Error
			if !errors.As(err, &e) || !e.Fatal() || !strings.Contains(e.Hint(), tc.hint) {
				t.Fatalf("Check = %v (hint %q); want a fatal *Error hinting %q", err, uploader.Hint(err), tc.hint)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		dead := srv
		dead.Endpoint = "http://127.0.0.1:1/" + srv.Account
		s, err := New(Config{Account: dead.Account, Container: dead.Container, Endpoint: dead.Endpoint, AccountKey: dead.Key,
			HTTPClient: &http.Client{Timeout: 2 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		err = s.Put(ctx, "k", strings.NewReader("x"), 1, "")
		var e *Error
		if !errors.As(err, &e) || e.Fatal() || !strings.Contains(e.Hint(), "-azure-endpoint") {
			t.Fatalf("Put = %v; want a per-file *Error hinting at -azure-endpoint", err)
		}
	})
}
