package uploader

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Ways a Storage may read a body; each must end with the whole file read.
func readOnce(r io.ReadSeeker) ([]byte, error) { return io.ReadAll(r) }

// readLikeASigner reads some of the body (to hash it), learns the length by
// seeking to the end, then rewinds and sends it all.
func readLikeASigner(r io.ReadSeeker) ([]byte, error) {
	if _, err := io.CopyN(io.Discard, r, 50); err != nil {
		return nil, err
	}
	cur, _ := r.Seek(0, io.SeekCurrent)
	if _, err := r.Seek(0, io.SeekEnd); err != nil {
		return nil, err
	}
	if _, err := r.Seek(cur, io.SeekStart); err != nil {
		return nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// readOutOfOrder reads the second half first: the pass is not a plain one
// and the hash must come from reading the file again.
func readOutOfOrder(r io.ReadSeeker) ([]byte, error) {
	size, _ := r.Seek(0, io.SeekEnd)
	r.Seek(size/2, io.SeekStart)
	tail, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	r.Seek(0, io.SeekStart)
	head := make([]byte, size/2)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, err
	}
	return append(head, tail...), nil
}

func TestUpload(t *testing.T) {
	dir := t.TempDir()
	png := writePNG(t, dir, "Café au lait (1).png", 40, 30)
	content, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		read func(io.ReadSeeker) ([]byte, error)
	}{
		{"one pass", readOnce},
		{"signed then sent", readLikeASigner},
		{"out of order", readOutOfOrder},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.JobTimeout = 10 * time.Minute })
			e.storage.read = tc.read
			now := e.clock.Now()
			src, err := e.c.Upload(context.Background(), png)
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`^hotfolder/[0-9a-f]{16}/Caf_au_lait_1_.png$`).MatchString(src.Key) {
				t.Errorf("key %q", src.Key)
			}
			if src.Size != int64(len(content)) || src.ContentType != "image/png" || src.Path != png {
				t.Errorf("source %+v", src)
			}
			if src.SHA256 != sha(content) {
				t.Errorf("SHA256 %s, want %s", src.SHA256, sha(content))
			}
			stored := e.storage.objects[src.Key]
			if sha(stored) != sha(content) || e.storage.types[src.Key] != "image/png" {
				t.Errorf("stored %d bytes of %s", len(stored), e.storage.types[src.Key])
			}
			if len(e.storage.presigns) != 1 || e.storage.presigns[0].key != src.Key {
				t.Fatalf("presigns %+v", e.storage.presigns)
			}
			ttl := e.storage.presigns[0].ttl
			if ttl < 10*time.Minute+time.Hour {
				t.Errorf("presigned for %v, want at least the job timeout plus an hour", ttl)
			}
			if !src.Expires.Equal(now.Add(ttl)) || !strings.HasPrefix(src.URL, "https://") {
				t.Errorf("URL expires %v (want %v)", src.Expires, now.Add(ttl))
			}
		})
	}
}

// The running hash covers exactly the last full pass from offset 0.
func TestHashingReaderLastPass(t *testing.T) {
	data := []byte(strings.Repeat("hotfolder ", 1000))
	hr := newHashingReader(strings.NewReader(string(data)))
	io.CopyN(io.Discard, hr, 100)
	if _, ok := hr.sum(int64(len(data))); ok {
		t.Error("a partial pass gave a hash")
	}
	hr.Seek(0, io.SeekStart)
	io.ReadAll(hr)
	if got, ok := hr.sum(int64(len(data))); !ok || got != sha(data) {
		t.Errorf("after a full pass: %s %v, want %s", got, ok, sha(data))
	}
	hr.Seek(10, io.SeekStart)
	io.ReadAll(hr)
	if _, ok := hr.sum(int64(len(data))); ok {
		t.Error("a pass from offset 10 gave a hash")
	}
}

// fatalStorageError is what a storage's rejected credentials look like.
type fatalStorageError struct{}

func (fatalStorageError) Error() string { return "s3: access denied" }
func (fatalStorageError) Fatal() bool   { return true }

func TestUploadFailures(t *testing.T) {
	dir := t.TempDir()
	png := writePNG(t, dir, "a.png", 2, 2)
	t.Run("put fails: the storage's error is kept", func(t *testing.T) {
		e := newEnv(t, nil)
		e.storage.putErr = fatalStorageError{}
		_, err := e.c.Upload(context.Background(), png)
		if !errors.Is(err, fatalStorageError{}) || !IsFatal(err) || !strings.HasPrefix(err.Error(), "upload: ") {
			t.Errorf("error %v (fatal %v)", err, IsFatal(err))
		}
	})
	t.Run("presign fails: the upload is deleted", func(t *testing.T) {
		e := newEnv(t, nil)
		e.storage.presignErr = errors.New("presign broke")
		_, err := e.c.Upload(context.Background(), png)
		if err == nil || len(e.storage.deleted) != 1 || len(e.storage.objects) != 0 {
			t.Errorf("error %v, deleted %v, left %d objects", err, e.storage.deleted, len(e.storage.objects))
		}
	})
	t.Run("missing file", func(t *testing.T) {
		e := newEnv(t, nil)
		_, err := e.c.Upload(context.Background(), filepath.Join(dir, "gone.png"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error %v", err)
		}
	})
}

func TestUploadContentTypes(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		head []byte
		want string
	}{
		{[]byte("II*\x00\x08\x00\x00\x00"), "image/tiff"},
		{[]byte("MM\x00*\x00\x00\x00\x08"), "image/tiff"},
		{[]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), "image/jpeg"},
		{[]byte("RIFF\x24\x00\x00\x00WEBPVP8X"), "image/webp"},
	}
	for i, tc := range tests {
		e := newEnv(t, nil)
		p := filepath.Join(dir, "f"+string(rune('a'+i)))
		if err := os.WriteFile(p, append(tc.head, make([]byte, 100)...), 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := e.c.Upload(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if src.ContentType != tc.want {
			t.Errorf("%q: content type %s, want %s", tc.head, src.ContentType, tc.want)
		}
	}
}

func TestDiscard(t *testing.T) {
	e := newEnv(t, nil)
	png := writePNG(t, t.TempDir(), "a.png", 2, 2)
	src, err := e.c.Upload(context.Background(), png)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.c.Discard(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.storage.objects[src.Key]; ok {
		t.Error("object still stored")
	}
}

func TestSafeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"red.jpg", "red.jpg"},
		{"Red Shoe (2).JPG", "Red_Shoe_2_.JPG"},
		{"café.png", "caf_.png"},
		{"../../etc/passwd", "passwd"},
		{".hidden.png", "hidden.png"},
		{"日本.tif", "image.tif"},
		{"...", "image"},
		{"a?b&c=d#e.webp", "a_b_c_d_e.webp"},
		{strings.Repeat("x", 300) + ".jpeg", strings.Repeat("x", 95) + ".jpeg"},
	}
	for _, tc := range tests {
		if got := safeName(filepath.Base(tc.in)); got != tc.want {
			t.Errorf("safeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
