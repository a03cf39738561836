package emulator

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Store is the client side of the emulator's upload store; it satisfies
// uploader.Storage. It is safe for concurrent use; the zero value is not
// usable, create one with [NewStore].
type Store struct {
	base string
	hc   *http.Client
}

// NewStore returns a Store for the upload store at storageURL (see
// [Server.StorageURL]). hc nil means http.DefaultClient.
func NewStore(storageURL string, hc *http.Client) *Store {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Store{base: strings.TrimRight(storageURL, "/"), hc: hc}
}

// StoreError is a refusal by the upload store.
type StoreError struct {
	Op, Key    string
	StatusCode int
	Body       string // the store's answer, trimmed
}

func (e *StoreError) Error() string {
	return fmt.Sprintf("emulator store: %s %s: HTTP %d %s: %s", e.Op, e.Key, e.StatusCode, http.StatusText(e.StatusCode), e.Body)
}

// Put uploads size bytes of body under key in one streamed PUT with a
// Content-Length. On a redirect or retry inside net/http it re-reads body
// from the start.
func (s *Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, contentType string) error {
	open := func() (io.ReadCloser, error) {
		if _, err := body.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		return io.NopCloser(io.LimitReader(body, size)), nil
	}
	rc, err := open()
	if err != nil {
		return fmt.Errorf("emulator store: put %s: %w", key, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, s.base+"/"+escapeKey(key), rc)
	if err != nil {
		return fmt.Errorf("emulator store: put %s: %w", key, err)
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	req.GetBody = open
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	_, err = s.do(req, "put", key)
	return err
}

// PresignGet returns a URL from which anyone may GET key until at least
// ttl from now (whole seconds, rounded up).
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	secs := int64((ttl + time.Second - 1) / time.Second)
	u := s.base + "/" + escapeKey(key) + "?presign=" + strconv.FormatInt(max(1, secs), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return "", fmt.Errorf("emulator store: presign %s: %w", key, err)
	}
	b, err := s.do(req, "presign", key)
	return strings.TrimSpace(string(b)), err
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.base+"/"+escapeKey(key), nil)
	if err != nil {
		return fmt.Errorf("emulator store: delete %s: %w", key, err)
	}
	_, err = s.do(req, "delete", key)
	return err
}

// do sends req and returns the body of a 2xx answer, or a *StoreError.
func (s *Store) do(req *http.Request, op, key string) ([]byte, error) {
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("emulator store: %s %s: %w", op, key, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return nil, &StoreError{Op: op, Key: key, StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	if err != nil {
		return nil, fmt.Errorf("emulator store: %s %s: %w", op, key, err)
	}
	return b, nil
}
