package uploader

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"time"
)

// Auxiliary files (actions, presets, XMP, watermarks, ICC profiles…) are
// uploaded to Config.Storage like inputs, once per run and content: they
// are keyed by their content's SHA-256, so two paths with one content are
// uploaded once and a file whose content changes is uploaded again. Each
// URL is presigned for JobTimeout plus an hour and presigned again (not
// uploaded again) when it would expire before a job submitted now could
// finish. They stay in storage until [Client.Close].

// maxAuxSize bounds an auxiliary file, which is read whole into memory.
const maxAuxSize = 256 << 20

// auxStore is a Client's auxiliary uploads.
type auxStore struct {
	mu      sync.Mutex
	sums    map[string]auxSum     // by path: the content last seen there
	uploads map[string]*auxUpload // by hex SHA-256 of the content
}

// auxSum is a file's content hash, valid while its size and modification
// time stay the same.
type auxSum struct {
	size int64
	mod  time.Time
	sum  string
}

// auxUpload is one content in storage.
type auxUpload struct {
	mu      sync.Mutex // held while uploading or presigning
	key     string     // "" until uploaded
	url     string
	expires time.Time
}

// auxURL returns a presigned URL of the file at name's current content,
// uploading it if this content is not in storage yet.
func (c *Client) auxURL(ctx context.Context, name string) (string, error) {
	for range 3 { // a file that changes while it is read is read again
		sum, err := c.auxSum(name)
		if err != nil {
			return "", err
		}
		c.aux.mu.Lock()
		if c.aux.uploads == nil {
			c.aux.uploads = map[string]*auxUpload{}
		}
		up := c.aux.uploads[sum]
		if up == nil {
			up = &auxUpload{}
			c.aux.uploads[sum] = up
		}
		c.aux.mu.Unlock()
		u, changed, err := c.auxUpload(ctx, up, name, sum)
		if changed {
			continue
		}
		return u, err
	}
	return "", fmt.Errorf("upload: %s keeps changing while it is read", name)
}

// auxUpload uploads name (whose content should hash to sum) for up, or
// presigns it again when its URL would expire too soon. changed reports a
// file whose content no longer hashes to sum.
func (c *Client) auxUpload(ctx context.Context, up *auxUpload, name, sum string) (u string, changed bool, err error) {
	up.mu.Lock()
	defer up.mu.Unlock()
	ttl := c.cfg.JobTimeout + presignMargin
	now := c.cfg.Now()
	if up.key != "" {
		if up.expires.After(now.Add(c.cfg.JobTimeout)) {
			return up.url, false, nil
		}
		u, err := c.cfg.Storage.PresignGet(ctx, up.key, ttl)
		if err != nil {
			return "", false, fmt.Errorf("upload: presign %s: %w", name, err)
		}
		up.url, up.expires = u, now.Add(ttl)
		c.log.Debug("auxiliary file presigned again", "key", up.key, "file", name)
		return u, false, nil
	}
	data, err := readAux(name)
	if err != nil {
		return "", false, err
	}
	if got := sha256Hex(data); got != sum {
		c.aux.mu.Lock()
		delete(c.aux.sums, name)
		c.aux.mu.Unlock()
		return "", true, nil
	}
	key := c.key(name)
	start := c.cfg.Now()
	if err := c.cfg.Storage.Put(ctx, key, bytes.NewReader(data), int64(len(data)), sniff(data[:min(len(data), 512)])); err != nil {
		return "", false, fmt.Errorf("upload: %s: %w", name, err)
	}
	expires := c.cfg.Now().Add(ttl)
	u, err = c.cfg.Storage.PresignGet(ctx, key, ttl)
	if err != nil {
		c.discard(ctx, key)
		return "", false, fmt.Errorf("upload: presign %s: %w", name, err)
	}
	c.cfg.Observer.Transferred("up", int64(len(data)), c.cfg.Now().Sub(start))
	c.log.Debug("auxiliary file uploaded", "key", key, "file", name, "size", len(data), "sha256", sum)
	up.key, up.url, up.expires = key, u, expires
	return u, false, nil
}

// auxSum returns the SHA-256 of the file at name, read again only when its
// size or modification time changed.
func (c *Client) auxSum(name string) (string, error) {
	st, err := os.Stat(name)
	if err != nil {
		return "", fmt.Errorf("upload: %w", err)
	}
	c.aux.mu.Lock()
	s, ok := c.aux.sums[name]
	c.aux.mu.Unlock()
	if ok && s.size == st.Size() && s.mod.Equal(st.ModTime()) {
		return s.sum, nil
	}
	data, err := readAux(name)
	if err != nil {
		return "", err
	}
	sum := sha256Hex(data)
	c.aux.mu.Lock()
	if c.aux.sums == nil {
		c.aux.sums = map[string]auxSum{}
	}
	c.aux.sums[name] = auxSum{size: st.Size(), mod: st.ModTime(), sum: sum}
	c.aux.mu.Unlock()
	return sum, nil
}

func readAux(name string) ([]byte, error) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	if st.Size() > maxAuxSize {
		return nil, fmt.Errorf("upload: %s is %d MB, more than an auxiliary file may be (%d MB)", name, st.Size()>>20, maxAuxSize>>20)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	return data, nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Close deletes the auxiliary files the Client uploaded (action files,
// presets, watermarks…), unless Config.KeepUploads. Call it once every
// job that may use them has finished: the jobs fetch them from storage.
// Inputs are not touched (see [Client.Discard]). The Client stays usable:
// a later job uploads its files again.
func (c *Client) Close(ctx context.Context) error {
	c.aux.mu.Lock()
	uploads := c.aux.uploads
	c.aux.uploads, c.aux.sums = nil, nil
	c.aux.mu.Unlock()
	if c.cfg.KeepUploads {
		return nil
	}
	var errs []error
	for _, sum := range slices.Sorted(maps.Keys(uploads)) {
		up := uploads[sum]
		up.mu.Lock()
		if up.key != "" {
			if err := c.cfg.Storage.Delete(ctx, up.key); err != nil {
				errs = append(errs, fmt.Errorf("close: deleting %s: %w", up.key, err))
			}
		}
		up.mu.Unlock()
	}
	return errors.Join(errs...)
}
