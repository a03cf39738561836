package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// BenchmarkLogLine logs a typical line (a finished file) through slog's
// text handler alone and through New, with nothing to hide and with a
// presigned URL, a token and the client secret in it.
func BenchmarkLogLine(b *testing.B) {
	plain := slog.New(slog.NewTextHandler(io.Discard, nil))
	redacting, err := New(io.Discard, Options{Secrets: []string{clientSecret, awsSecret, sessionToken}})
	if err != nil {
		b.Fatal(err)
	}
	redactingJSON, err := New(io.Discard, Options{Format: "json", Secrets: []string{clientSecret, awsSecret, sessionToken}})
	if err != nil {
		b.Fatal(err)
	}
	clean := func(log *slog.Logger) {
		log.Info("done", "file", "shoes/red-01.jpg", "output", "out/shoes/red-01.png",
			"op", "remove-background", "took", 2100*time.Millisecond, "bytes", 1843200)
	}
	failed := errors.New("upload: HTTP 503 Service Unavailable")
	cleanErr := func(log *slog.Logger) {
		log.Warn("retrying", "file", "shoes/red-01.jpg", "url", "https://image-api.adobe.io/v2/remove-background",
			"attempt", 2, "err", failed)
	}
	leaky := fmt.Errorf("download: %w", errors.New("Get \""+presigned+"\": unexpected EOF"))
	secret := func(log *slog.Logger) {
		log.Warn("retrying", "file", "shoes/red-01.jpg", "url", presigned,
			"auth", "Bearer "+imsToken, "attempt", 2, "err", leaky, "body", "client_secret="+clientSecret)
	}
	for _, bc := range []struct {
		name string
		log  *slog.Logger
		line func(*slog.Logger)
	}{
		{"clean/slog", plain, clean},
		{"clean/text", redacting, clean},
		{"clean/json", redactingJSON, clean},
		{"clean-url-err/slog", plain, cleanErr},
		{"clean-url-err/text", redacting, cleanErr},
		{"secrets/slog", plain, secret},
		{"secrets/text", redacting, secret},
		{"secrets/json", redactingJSON, secret},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.line(bc.log)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/line")
		})
	}
}

// BenchmarkRedact is Redact alone on strings an overnight run logs.
func BenchmarkRedact(b *testing.B) {
	r := NewRedactor([]string{clientSecret, awsSecret, sessionToken})
	for _, bc := range []struct{ name, s string }{
		{"path", "shoes/red-01.jpg"},
		{"api-url", "https://image-api.adobe.io/v2/remove-background"},
		{"error", "token: HTTP 401 invalid_client: the credentials were rejected"},
		{"presigned", presigned},
		{"adversarial-64KB", strings.Repeat("eyJ", 10000) + strings.Repeat(`"token":`, 4000) + strings.Repeat("x-token:", 500)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = r.Redact(bc.s)
			}
		})
	}
}
