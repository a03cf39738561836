package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// signedURL prints itself with its signature, as a careless String might.
type signedURL string

func (u signedURL) String() string { return "asset at " + string(u) }

// credentials resolve to a group holding the secret.
type credentials struct{ id, secret string }

func (c credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client_id", c.id), slog.String("client_secret", c.secret))
}

// authHeader resolves to a string holding a token.
type authHeader string

func (a authHeader) LogValue() slog.Value {
	return slog.StringValue("Authorization: Bearer " + string(a))
}

// request is a struct logged as it is: no String, no LogValue.
type request struct {
	Method      string
	URL         string
	AccessToken string
	Retries     int
}

// failingStringer panics in String, on a nil pointer.
type failingStringer struct{ s string }

func (f *failingStringer) String() string { return f.s }

// logEverything logs every kind of attribute carrying every kind of secret.
func logEverything(log *slog.Logger) {
	wrapped := fmt.Errorf("download shoes/red.jpg: %w", &url.Error{Op: "Get", URL: presigned, Err: io.ErrUnexpectedEOF})
	log.Info("PUT "+presigned+" with Bearer "+imsToken,
		"url", presigned,
		"err", wrapped,
		"asset", signedURL(presigned),
		"creds", credentials{id: "hotfolder-client-id", secret: clientSecret},
		"auth", authHeader(emuToken),
		"request", request{Method: "POST", URL: "https://image-api.adobe.io/v2/remove-background", AccessToken: imsToken, Retries: 2},
		"body", []byte(`{"client_secret":"`+clientSecret+`","grant_type":"client_credentials"}`),
		"access_token", imsToken,
		"password", 123456,
		"env", "AWS_ACCESS_KEY_ID="+awsKeyID+" AWS_SECRET_ACCESS_KEY="+awsSecret,
		slog.Group("storage", "bucket", "studio-bucket", "session", sessionToken, "callback", "https://app/cb?code="+oauthCode+"&state=s1"),
		"files", 42, "ok", true, "took", 2*time.Second,
		"ip", net.IPv4(10, 0, 0, 7),
		"nothing", nil,
		"broken", (*failingStringer)(nil),
		clientSecret, "a secret as a key",
	)
	log.With("key_id", awsTempKeyID, "aws_secret_access_key", awsSecret).
		WithGroup("s3").With("endpoint", "https://s3.example.com/?X-Amz-Signature="+amzSignature).
		Warn("retrying", "attempt", 3)
	log.WithGroup("token").Info("group named like a secret", "value", "plain-looking-value", "n", 7)
	log.WithGroup("job").Error("failed", slog.Any("err", errors.New(`{"access_token":"`+imsToken+`"}`)))
}

// syncBuffer is a bytes.Buffer safe for concurrent Writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestNewHidesSecrets(t *testing.T) {
	tests := []struct {
		format string
		want   []string // harmless parts that must survive
	}{
		{"text", []string{
			`level=INFO msg="PUT https://bucket.s3.us-east-1.amazonaws.com/hotfolder/in/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256`,
			` with Bearer [REDACTED]"`,
			`url="https://bucket.s3.us-east-1.amazonaws.com/hotfolder/in/a.jpg?`,
			`X-Amz-Signature=[REDACTED]`,
			`err="download shoes/red.jpg: Get \"https://bucket.s3.us-east-1.amazonaws.com/hotfolder/in/a.jpg?`,
			`: unexpected EOF"`,
			`asset="asset at https://bucket.s3.us-east-1.amazonaws.com/hotfolder/in/a.jpg?`,
			`creds.client_id=hotfolder-client-id creds.client_secret=[REDACTED]`,
			`auth="Authorization: Bearer [REDACTED]"`,
			`request="{Method:POST URL:https://image-api.adobe.io/v2/remove-background AccessToken:[REDACTED] Retries:2}"`,
			`body="{\"client_secret\":\"[REDACTED]\",\"grant_type\":\"client_credentials\"}"`,
			`access_token=[REDACTED]`,
			`password=[REDACTED]`,
			`env="AWS_ACCESS_KEY_ID=[REDACTED] AWS_SECRET_ACCESS_KEY=[REDACTED]"`,
			`storage.bucket=studio-bucket storage.session=[REDACTED] storage.callback="https://app/cb?code=[REDACTED]&state=s1"`,
			`files=42 ok=true took=2s ip=10.0.0.7 nothing=<nil> broken=<nil> [REDACTED]="a secret as a key"`,
			`level=WARN msg=retrying key_id=[REDACTED] aws_secret_access_key=[REDACTED] s3.endpoint="https://s3.example.com/?X-Amz-Signature=[REDACTED]" s3.attempt=3`,
			`msg="group named like a secret" token.value=[REDACTED] token.n=[REDACTED]`,
			`level=ERROR msg=failed job.err="{\"access_token\":\"[REDACTED]\"}"`,
		}},
		{"json", []string{
			`"level":"INFO","msg":"PUT https://bucket.s3.us-east-1.amazonaws.com/hotfolder/in/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256`,
			` with Bearer [REDACTED]"`,
			`"url":"https://bucket.s3.us-east-1.amazonaws.com/hotfolder/in/a.jpg?`,
			`X-Amz-Signature=[REDACTED]`,
			`"err":"download shoes/red.jpg: Get \"https://bucket.s3.us-east-1.amazonaws.com/hotfolder/in/a.jpg?`,
			`: unexpected EOF"`,
			`"asset":"https://bucket.s3.us-east-1.amazonaws.com/hotfolder/in/a.jpg?`,
			`"creds":{"client_id":"hotfolder-client-id","client_secret":"[REDACTED]"}`,
			`"auth":"Authorization: Bearer [REDACTED]"`,
			`"request":{"Method":"POST","URL":"https://image-api.adobe.io/v2/remove-background","AccessToken":"[REDACTED]","Retries":2}`,
			`"access_token":"[REDACTED]"`,
			`"password":"[REDACTED]"`,
			`"env":"AWS_ACCESS_KEY_ID=[REDACTED] AWS_SECRET_ACCESS_KEY=[REDACTED]"`,
			`"storage":{"bucket":"studio-bucket","session":"[REDACTED]","callback":"https://app/cb?code=[REDACTED]&state=s1"}`,
			`"files":42,"ok":true,"took":2000000000,"ip":"10.0.0.7","nothing":null,"broken":null,"[REDACTED]":"a secret as a key"`,
			`"level":"WARN","msg":"retrying","key_id":"[REDACTED]","aws_secret_access_key":"[REDACTED]","s3":{"endpoint":"https://s3.example.com/?X-Amz-Signature=[REDACTED]","attempt":3}`,
			`"msg":"group named like a secret","token":{"value":"[REDACTED]","n":"[REDACTED]"}`,
			`"level":"ERROR","msg":"failed","job":{"err":"{\"access_token\":\"[REDACTED]\"}"}`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			var buf syncBuffer
			log, err := New(&buf, Options{Format: tc.format, Secrets: []string{clientSecret, awsSecret, sessionToken}})
			if err != nil {
				t.Fatal(err)
			}
			logEverything(log)
			out := buf.String()
			for _, s := range allSecrets {
				if strings.Contains(out, s) {
					t.Errorf("output holds secret %q:\n%s", s, out)
				}
				// Nor a fragment long enough to be useful.
				if frag := s[len(s)-12:]; strings.Contains(out, frag) {
					t.Errorf("output holds the end of secret %q (%q):\n%s", s, frag, out)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %s\n%s", w, out)
				}
			}
			if t.Failed() {
				return
			}
			if n := strings.Count(out, "\n"); n != 4 {
				t.Errorf("%d lines, want 4:\n%s", n, out)
			}
		})
	}
}

func TestJSONLinesAreValid(t *testing.T) {
	var buf syncBuffer
	log, err := New(&buf, Options{Format: "json", Secrets: []string{clientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	logEverything(log)
	log.Info("multi\nline \"quoted\" \u2028 \x00 <&>", "k", "v\tw", "raw", json.RawMessage(`{"token":"abc123","a":[1,2]}`))
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5:\n%s", len(lines), buf.String())
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("line %d is not JSON (%v): %s", i+1, err, line)
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d has no %q: %s", i+1, k, line)
			}
		}
	}
	// encoding/json writes a []byte as base64: the secret must not hide there.
	var first struct{ Body []byte }
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if got, want := string(first.Body), `{"client_secret":"[REDACTED]","grant_type":"client_credentials"}`; got != want {
		t.Errorf("body decodes to %s, want %s", got, want)
	}

	var last map[string]any
	if err := json.Unmarshal([]byte(lines[4]), &last); err != nil {
		t.Fatal(err)
	}
	if got, want := last["msg"], "multi\nline \"quoted\" \u2028 \x00 <&>"; got != want {
		t.Errorf("msg = %q, want %q", got, want)
	}
	raw, _ := last["raw"].(map[string]any)
	if raw["token"] != Redacted || fmt.Sprint(raw["a"]) != "[1 2]" {
		t.Errorf("raw = %v, want its token hidden and its array kept", last["raw"])
	}
}

// TestOutputOtherwiseUnchanged: a record with nothing to hide is written
// byte for byte as slog's own handlers write it.
func TestOutputOtherwiseUnchanged(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	attrs := []slog.Attr{
		slog.String("file", "shoes/red 01.jpg"), slog.Int("n", -3), slog.Uint64("u", 7), slog.Float64("f", 1.5),
		slog.Bool("b", false), slog.Duration("d", 1500*time.Millisecond), slog.Time("t", at),
		slog.Group("g", slog.String("op", "remove-background"), slog.Group("h", slog.Int("x", 1))),
		slog.Any("err", errors.New("upload: HTTP 503 Service Unavailable")), slog.Any("list", []string{"a b", "c"}),
		slog.Any("struct", struct {
			A int
			B string
		}{1, "<x&y>"}),
		slog.Any("map", map[string]int{"z": 1, "a": 2}), slog.Any("ip", net.IPv4(127, 0, 0, 1)),
		slog.Any("bytes", []byte("hi")), slog.Any("nil", nil), slog.Any("url", &url.URL{Scheme: "https", Host: "h", Path: "/p"}),
		slog.Any("dur", time.Minute),
		{},
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var plain, ours bytes.Buffer
			ho := &slog.HandlerOptions{Level: slog.LevelDebug}
			want := slog.Handler(slog.NewTextHandler(&plain, ho))
			if format == "json" {
				want = slog.NewJSONHandler(&plain, ho)
			}
			got, err := NewHandler(&ours, Options{Format: format, Level: slog.LevelDebug, Secrets: []string{clientSecret}})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []slog.Handler{want, got} {
				h = h.WithAttrs([]slog.Attr{slog.String("run", "night-1")}).WithGroup("batch")
				rec := slog.NewRecord(at, slog.LevelDebug, "processed 12 files", 0)
				rec.AddAttrs(attrs...)
				if err := h.Handle(context.Background(), rec); err != nil {
					t.Fatal(err)
				}
			}
			if ours.String() != plain.String() {
				t.Errorf("output differs from slog's\n got %s\nwant %s", ours.String(), plain.String())
			}
		})
	}
}

func TestLevelAndFormat(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if log.Enabled(ctx, slog.LevelDebug) || !log.Enabled(ctx, slog.LevelInfo) {
		t.Error("default level is not Info")
	}
	log.Debug("hidden")
	log.Info("shown")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, "level=INFO msg=shown") {
		t.Errorf("default text logger wrote %q", out)
	}

	var lv slog.LevelVar
	lv.Set(slog.LevelWarn)
	log, err = New(io.Discard, Options{Format: "json", Level: &lv})
	if err != nil {
		t.Fatal(err)
	}
	if log.Enabled(ctx, slog.LevelInfo) {
		t.Error("Info enabled at level Warn")
	}
	lv.Set(slog.LevelDebug)
	if !log.WithGroup("g").With("a", 1).Enabled(ctx, slog.LevelDebug) {
		t.Error("Enabled does not follow the Leveler, through With and WithGroup")
	}

	buf.Reset()
	log, err = New(&buf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("login", "token", "", "client_secret", "")
	if out := buf.String(); !strings.Contains(out, `msg=login token="" client_secret=""`) {
		t.Errorf("an empty secret should stay visibly empty: %q", out)
	}

	if _, err := New(io.Discard, Options{Format: "xml"}); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("unknown format: err = %v, want one naming it", err)
	}
}

func TestConcurrentLogging(t *testing.T) {
	var buf syncBuffer
	log, err := New(&buf, Options{Format: "json", Secrets: []string{clientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			l := log.With("worker", i)
			for range 20 {
				l.Info("upload", "url", presigned, "secret", clientSecret)
			}
		})
	}
	wg.Wait()
	out := buf.String()
	if n := strings.Count(out, "\n"); n != 160 {
		t.Errorf("%d lines, want 160", n)
	}
	for _, s := range allSecrets {
		if strings.Contains(out, s) {
			t.Fatalf("output holds %q", s)
		}
	}
}

// FuzzJSONValid: whatever is logged, each JSON line stays valid JSON.
func FuzzJSONValid(f *testing.F) {
	for _, s := range []string{presigned, `{"token":"x1234"}`, "X-Amz-Security-Token: a\r\n", "\u2028\x00\"\\", `token=\"a`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		log, err := New(&buf, Options{Format: "json", Secrets: []string{clientSecret}})
		if err != nil {
			t.Fatal(err)
		}
		log.Info(s, s, s, "m", map[string]any{s: s, "token": s, "l": []string{s}}, "b", []byte(s), "e", errors.New(s))
		if line := bytes.TrimSuffix(buf.Bytes(), []byte("\n")); !json.Valid(line) || bytes.Count(line, []byte("\n")) != 0 {
			t.Errorf("not one line of valid JSON: %s", buf.Bytes())
		}
	})
}
