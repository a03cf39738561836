package uploader

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// presignMargin is how long an input's URL outlives the job deadline.
const presignMargin = time.Hour

// Upload puts the file at path into [Storage] and presigns a GET URL for
// Adobe, valid for JobTimeout plus an hour. The key is KeyPrefix, 16 random
// hex digits and the sanitized file name, so inputs never collide.
//
// The file is streamed: Storage.Put gets a ReadSeeker over exactly the size
// measured at the start, and the SHA-256 of the bytes it read on its last
// full pass becomes Upload.SHA256, so the file is not read an extra time
// unless Put read it in an unusual order.
func (c *Client) Upload(ctx context.Context, path string) (Upload, error) {
	f, err := os.Open(path)
	if err != nil {
		return Upload{}, fmt.Errorf("upload: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Upload{}, fmt.Errorf("upload: %w", err)
	}
	size := st.Size()
	head := make([]byte, 512)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return Upload{}, fmt.Errorf("upload: %w", err)
	}
	contentType := sniff(head[:n])
	key := c.key(path)

	body := newHashingReader(io.NewSectionReader(f, 0, size))
	start := c.cfg.Now()
	if err := c.cfg.Storage.Put(ctx, key, body, size, contentType); err != nil {
		return Upload{}, fmt.Errorf("upload: %w", err)
	}
	sum, ok := body.sum(size)
	if !ok {
		c.log.Debug("upload: storage read the file out of order; hashing it again", "key", key)
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
			c.discard(ctx, key)
			return Upload{}, fmt.Errorf("upload: hashing: %w", err)
		}
		sum = hex.EncodeToString(h.Sum(nil))
	}

	ttl := c.cfg.JobTimeout + presignMargin
	expires := c.cfg.Now().Add(ttl) // before presigning: the URL lasts at least this long
	u, err := c.cfg.Storage.PresignGet(ctx, key, ttl)
	if err != nil {
		c.discard(ctx, key)
		return Upload{}, fmt.Errorf("upload: presign: %w", err)
	}
	c.cfg.Observer.Transferred("up", size, c.cfg.Now().Sub(start))
	c.log.Debug("uploaded", "key", key, "size", size, "content_type", contentType, "duration", c.cfg.Now().Sub(start))
	return Upload{
		Path:        path,
		Key:         key,
		URL:         u,
		Expires:     expires,
		Size:        size,
		SHA256:      sum,
		ContentType: contentType,
	}, nil
}

// Discard deletes the uploaded input up from storage. A missing object is
// not an error.
func (c *Client) Discard(ctx context.Context, up Upload) error {
	if up.Key == "" {
		return nil
	}
	if err := c.cfg.Storage.Delete(ctx, up.Key); err != nil {
		return fmt.Errorf("discard: %w", err)
	}
	return nil
}

// discard removes an upload that cannot be used, even if ctx is done.
func (c *Client) discard(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := c.cfg.Storage.Delete(ctx, key); err != nil {
		c.log.Warn("could not delete an unused upload", "key", key, "err", err)
	}
}

// key returns a new storage key for the file at path.
func (c *Client) key(path string) string {
	var r [8]byte
	rand.Read(r[:]) // never fails (crypto/rand)
	k := hex.EncodeToString(r[:]) + "/" + safeName(filepath.Base(path))
	if c.cfg.KeyPrefix != "" {
		k = c.cfg.KeyPrefix + "/" + k
	}
	return k
}

// safeName keeps a file name readable in storage keys and URLs: ASCII
// letters, digits, '.', '-' and '_', at most 100 bytes, extension kept.
func safeName(name string) string {
	var b strings.Builder
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
		switch {
		case ok:
			b.WriteRune(r)
		case !strings.HasSuffix(b.String(), "_"):
			b.WriteByte('_')
		}
	}
	s := strings.TrimLeft(b.String(), ".") // no hidden files
	ext := filepath.Ext(s)
	if len(ext) > 10 {
		ext = ""
	}
	stem := strings.TrimSuffix(s, ext)
	if strings.Trim(stem, "_-.") == "" {
		stem = "image"
	}
	if len(stem) > 100-len(ext) {
		stem = stem[:100-len(ext)]
	}
	return stem + ext
}

// sniff returns the media type of a file from its first bytes.
// http.DetectContentType does not know TIFF or PSD.
func sniff(head []byte) string {
	if bytes.HasPrefix(head, []byte("II*\x00")) || bytes.HasPrefix(head, []byte("MM\x00*")) {
		return "image/tiff"
	}
	if bytes.HasPrefix(head, []byte("8BPS")) {
		return "image/vnd.adobe.photoshop"
	}
	return http.DetectContentType(head)
}

// hashingReader hashes what is read through it. Seeking to 0 starts the
// hash over, so after a reader that reads the body twice (once to sign it,
// once to send it) the hash covers the last full pass. It is locked because
// net/http reads request bodies on its own goroutine.
type hashingReader struct {
	mu  sync.Mutex
	r   io.ReadSeeker
	h   hash.Hash
	pos int64 // offset of the next byte
	ok  bool  // h holds exactly the bytes [0, pos)
}

func newHashingReader(r io.ReadSeeker) *hashingReader {
	return &hashingReader{r: r, h: sha256.New(), ok: true}
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	n, err := hr.r.Read(p)
	if hr.ok {
		hr.h.Write(p[:n])
	}
	hr.pos += int64(n)
	return n, err
}

func (hr *hashingReader) Seek(offset int64, whence int) (int64, error) {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	pos, err := hr.r.Seek(offset, whence)
	if err != nil {
		hr.ok = false
		return pos, err
	}
	switch {
	case pos == 0:
		hr.h.Reset()
		hr.ok = true
	case pos == hr.pos:
		// Seek(0, io.SeekCurrent): nothing skipped, nothing read twice.
	default:
		hr.ok = false
	}
	hr.pos = pos
	return pos, nil
}

// sum returns the hex SHA-256 of the bytes [0, size) if the last pass read
// exactly those.
func (hr *hashingReader) sum(size int64) (string, bool) {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	if !hr.ok || hr.pos != size {
		return "", false
	}
	return hex.EncodeToString(hr.h.Sum(nil)), true
}
