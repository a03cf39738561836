package uploader

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// hostStorage presigns URLs on one host and stores nothing.
type hostStorage struct {
	host     string
	presigns int
}

func (s *hostStorage) Put(context.Context, string, io.ReadSeeker, int64, string) error {
	return errors.New("hostStorage stores nothing")
}

func (s *hostStorage) PresignGet(_ context.Context, key string, _ time.Duration) (string, error) {
	s.presigns++
	return "https://" + s.host + "/bucket/" + key + "?sig=x", nil
}

func (s *hostStorage) Delete(context.Context, string) error { return nil }

func TestAllowedSourceHost(t *testing.T) {
	for _, tc := range []struct {
		op, host string
		want     bool
	}{
		{OpRemoveBackground, "my-bucket.s3.us-east-1.amazonaws.com", true},
		{OpRemoveBackground, "s3.amazonaws.com", true},
		{OpRemoveBackground, "studio.blob.core.windows.net", true},
		{OpRemoveBackground, "storage.googleapis.com", true},
		{OpRemoveBackground, "bucket.storage.googleapis.com", true},
		{OpRemoveBackground, "assets.frame.io", true},
		{OpRemoveBackground, "dl.dropboxusercontent.com", true},
		{OpRemoveBackground, "STUDIO.BLOB.CORE.WINDOWS.NET.", true},
		{OpRemoveBackground, "minio.studio.example", false},
		{OpRemoveBackground, "127.0.0.1", false},
		{OpRemoveBackground, "notamazonaws.com", false}, // a suffix, not a subdomain
		{OpRemoveBackground, "amazonaws.com.evil.example", false},
		{OpRemoveBackground, "cdn.azureedge.net", false},
		{"", "minio.studio.example", false}, // an old journal's remove background
		{OpAutoCrop, "cdn.azureedge.net", true},
		{OpAutoCrop, "minio.studio.example", false},
		{OpEdit, "minio.studio.example", true},
		{OpActions, "127.0.0.1", true},
	} {
		if got, _ := AllowedSourceHost(tc.op, tc.host); got != tc.want {
			t.Errorf("AllowedSourceHost(%q, %q) = %v, want %v", tc.op, tc.host, got, tc.want)
		}
	}
}

func TestIsAdobeAPI(t *testing.T) {
	for base, want := range map[string]bool{
		DefaultImageAPIURL:          true,
		DefaultPhotoshopAPIURL:      true,
		"https://image.adobe.io/":   true,
		"http://127.0.0.1:8080":     false,
		"https://adobe.io.example":  false,
		"https://gateway.studio.io": false,
		"::not a url":               false,
	} {
		if got := IsAdobeAPI(base); got != want {
			t.Errorf("IsAdobeAPI(%q) = %v, want %v", base, got, want)
		}
	}
}

func TestCheckStorageHost(t *testing.T) {
	rb := []Step{{Op: OpRemoveBackground}}
	mixed := []Step{{Op: OpEdit}, {Op: OpAutoCrop}, {Op: OpRemoveBackground}}
	ctx := context.Background()

	t.Run("refused host, Adobe's API", func(t *testing.T) {
		st := &hostStorage{host: "minio.studio.example"}
		err := CheckStorageHost(ctx, st, DefaultImageAPIURL, mixed)
		var e *SourceHostError
		if !errors.As(err, &e) {
			t.Fatalf("err = %v, want a *SourceHostError", err)
		}
		if e.Host != "minio.studio.example" || strings.Join(e.Ops, ",") != "auto-crop,remove-background" {
			t.Errorf("host %q ops %v", e.Host, e.Ops)
		}
		for _, want := range []string{"minio.studio.example", "auto-crop and remove-background", "amazonaws.com", "azureedge.net"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
		}
		if !strings.Contains(Hint(err), "azblob://") || !strings.Contains(Hint(err), "gs://") {
			t.Errorf("hint %q names no allow-listed storage", Hint(err))
		}
	})
	t.Run("allowed host", func(t *testing.T) {
		st := &hostStorage{host: "studio.blob.core.windows.net"}
		if err := CheckStorageHost(ctx, st, DefaultImageAPIURL, mixed); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("emulator API: off", func(t *testing.T) {
		st := &hostStorage{host: "127.0.0.1"}
		if err := CheckStorageHost(ctx, st, "http://127.0.0.1:9999", rb); err != nil {
			t.Fatal(err)
		}
		if st.presigns != 0 {
			t.Errorf("presigned %d URLs with the check off", st.presigns)
		}
	})
	t.Run("no allow-listed step: off", func(t *testing.T) {
		st := &hostStorage{host: "minio.studio.example"}
		if err := CheckStorageHost(ctx, st, DefaultImageAPIURL, []Step{{Op: OpEdit}, {Op: OpActions}}); err != nil {
			t.Fatal(err)
		}
	})
}
