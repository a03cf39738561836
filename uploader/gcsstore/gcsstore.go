// Package gcsstore keeps hotfolder's inputs in a Google Cloud Storage
// bucket and hands Adobe V4 signed GET URLs to fetch them from.
//
// A [*Store] implements uploader.Storage. Credentials come from
// Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud
// auth application-default login, the metadata server). Signing a URL
// needs a service account: its key file signs locally; otherwise (the
// metadata server, impersonation) the IAM signBlob API signs, which needs
// the role Service Account Token Creator on that account.
package gcsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
)

// MaxPresignTTL is the longest a V4 signed URL can be valid.
const MaxPresignTTL = 7 * 24 * time.Hour

// putAttempts bounds the tries of one upload: a single-request upload
// is not retried by the client library, so Put seeks back and sends again.
const putAttempts = 3

// Config says which bucket to use and how to reach it.
type Config struct {
	Bucket string // required
	Prefix string // object name prefix; may be empty
	// Endpoint is a GCS-compatible server's URL, e.g. fake-gcs-server's
	// http://127.0.0.1:4443, for tests: requests to it carry no
	// credentials and URLs are signed with ServiceAccountJSON's key.
	// Empty means Google Cloud Storage with Application Default
	// Credentials.
	Endpoint string
	// ServiceAccountJSON is a service account key file's content that
	// signs URLs; empty means what Application Default Credentials
	// provide (with Endpoint: GOOGLE_APPLICATION_CREDENTIALS's file).
	ServiceAccountJSON []byte

	HTTPClient *http.Client // optional
}

// Store is a bucket (and prefix) holding inputs. It is safe for concurrent
// use. Make it with [New]; check it with [Store.Check] before relying on it.
type Store struct {
	bucket, prefix string
	client         *storage.Client
	sign           storage.SignedURLOptions // Method, Scheme and who signs; Expires set per URL
	now            func() time.Time
	wait           func(time.Duration) <-chan time.Time
}

// ParseURL splits "gs://BUCKET[/PREFIX]".
func ParseURL(s string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(s, "gs://")
	if !ok {
		return "", "", fmt.Errorf("gcs: storage %q: want gs://BUCKET[/PREFIX]", s)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	prefix = strings.Trim(prefix, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("gcs: storage %q names no bucket: want gs://BUCKET[/PREFIX]", s)
	}
	if strings.ContainsAny(bucket, "?#:@ ") || strings.ContainsAny(prefix, "?#") {
		return "", "", fmt.Errorf("gcs: storage %q: want gs://BUCKET[/PREFIX], with no query, port or user", s)
	}
	for _, seg := range strings.Split(prefix, "/") {
		if prefix != "" && (seg == "" || seg == "." || seg == "..") {
			return "", "", fmt.Errorf("gcs: storage %q: the prefix has an empty, . or .. segment", s)
		}
	}
	return bucket, prefix, nil
}

// New returns a Store. It sends no request: call [Store.Check].
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("gcs: no bucket configured")
	}
	s := &Store{bucket: cfg.Bucket, prefix: strings.Trim(cfg.Prefix, "/"), now: time.Now, wait: time.After,
		sign: storage.SignedURLOptions{Method: http.MethodGet, Scheme: storage.SigningSchemeV4}}
	var opts []option.ClientOption
	if cfg.HTTPClient != nil && cfg.Endpoint != "" {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	saJSON := cfg.ServiceAccountJSON
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, &Error{Op: "config", Bucket: cfg.Bucket, Err: fmt.Errorf("endpoint %q is not an http(s) URL", cfg.Endpoint), fatal: true,
				hint: "give -gcs-endpoint as http://HOST:PORT"}
		}
		opts = append(opts, option.WithEndpoint(strings.TrimRight(cfg.Endpoint, "/")+"/storage/v1/"), option.WithoutAuthentication())
		s.sign.Hostname, s.sign.Insecure = u.Host, u.Scheme == "http"
		if saJSON == nil {
			if p := os.Getenv("GOOGLE_APPLICATION_CREDENTIALS"); p != "" {
				var err error
				if saJSON, err = os.ReadFile(p); err != nil {
					return nil, &Error{Op: "config", Bucket: cfg.Bucket, Err: err, fatal: true, hint: credsHint}
				}
			}
		}
	}
	if saJSON != nil {
		var sa struct {
			Type        string `json:"type"`
			ClientEmail string `json:"client_email"`
			PrivateKey  string `json:"private_key"`
		}
		if err := json.Unmarshal(saJSON, &sa); err != nil || sa.Type != "service_account" || sa.ClientEmail == "" || sa.PrivateKey == "" {
			return nil, &Error{Op: "config", Bucket: cfg.Bucket, Err: errors.New("the credentials are not a service account key file"), fatal: true, hint: credsHint}
		}
		s.sign.GoogleAccessID, s.sign.PrivateKey = sa.ClientEmail, []byte(sa.PrivateKey)
	}
	client, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, &Error{Op: "config", Bucket: cfg.Bucket, Err: err, fatal: true, hint: credsHint}
	}
	s.client = client
	return s, nil
}

// Close releases the client's connections.
func (s *Store) Close() error { return s.client.Close() }

// name returns the object name of a storage key.
func (s *Store) name(k string) string {
	k = strings.TrimLeft(k, "/")
	if s.prefix == "" {
		return k
	}
	return s.prefix + "/" + k
}

// Check makes sure the bucket exists, the credentials may use it and can
// sign URLs. Any failure is fatal: nothing could be uploaded or fetched.
func (s *Store) Check(ctx context.Context) error {
	if _, err := s.client.Bucket(s.bucket).Attrs(ctx); err != nil {
		e := s.wrap("check", "", err)
		if ctx.Err() == nil {
			e.fatal = true
			if e.hint == "" {
				e.hint = "check that the bucket exists, that Google Cloud Storage (or -gcs-endpoint) is reachable and the credentials may use it"
			}
		}
		return e
	}
	if _, err := s.PresignGet(ctx, "hotfolder-check", time.Minute); err != nil {
		var e *Error
		if errors.As(err, &e) && ctx.Err() == nil {
			e.fatal = true
		}
		return err
	}
	return nil
}

// Put uploads size bytes of body to key in one streamed request (no
// chunk buffer), sent again from the start after a transient failure.
func (s *Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, contentType string) error {
	for attempt := 1; ; attempt++ {
		err := s.put(ctx, key, body, size, contentType)
		if err == nil {
			return nil
		}
		if attempt == putAttempts || !storage.ShouldRetry(err) || ctx.Err() != nil {
			return s.wrap("put", key, err)
		}
		select {
		case <-ctx.Done():
			return s.wrap("put", key, ctx.Err())
		case <-s.wait(time.Duration(attempt) * time.Second):
		}
	}
}

func (s *Store) put(ctx context.Context, key string, body io.ReadSeeker, size int64, contentType string) error {
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // an abandoned Writer is cancelled, not committed
	w := s.client.Bucket(s.bucket).Object(s.name(key)).NewWriter(ctx)
	w.ChunkSize = 0 // one request, and no ChunkSize buffer in memory
	w.ContentType = contentType
	if _, err := io.Copy(w, io.LimitReader(body, size)); err != nil {
		cancel()
		w.Close()
		return err
	}
	return w.Close()
}

// PresignGet returns a V4 signed URL anyone can GET key from for ttl (at
// most 7 days, V4's limit).
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if ttl <= 0 || ttl > MaxPresignTTL {
		return "", &Error{Op: "presign", Bucket: s.bucket, Key: key,
			Err: fmt.Errorf("a signed URL's lifetime must be between 0 and 7 days (V4's limit), not %s", ttl)}
	}
	o := s.sign
	o.Expires = s.now().Add(ttl)
	u, err := s.client.Bucket(s.bucket).SignedURL(s.name(key), &o)
	if err != nil {
		e := s.wrap("presign", key, err)
		e.hint = "signing a URL needs a service account: set GOOGLE_APPLICATION_CREDENTIALS to its key file, or run as one " +
			"with the role Service Account Token Creator on itself (user credentials cannot sign)"
		return "", e
	}
	return u, nil
}

// Delete removes key; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	err := s.client.Bucket(s.bucket).Object(s.name(key)).Delete(ctx)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return s.wrap("delete", key, err)
	}
	return nil
}
