package emulator

import (
	"bytes"
	"errors"
	"image"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"hotfolder/uploader/emulator/cutout"
)

// A job reads the inputs that are the emulator's own signed URLs (an
// upload, or a hosted result of an earlier job) straight from its folders,
// whatever host and port the URL names: an earlier process on the same Dir
// signed them with the same secret, and its port is gone. The job records
// them at submission as local references.
const (
	storageRef = "storage/"
	resultRef  = "results/"
)

// maxPSSide bounds the images of the Photoshop endpoints: a document is at
// most 32000 pixels a side.
const maxPSSide = 32000

// maxAux bounds an auxiliary input (an action file, preset, profile…).
const maxAux = 64 << 20

// localRefs maps each of sources that is one of the emulator's own valid
// signed URLs to its local reference.
func (s *Server) localRefs(sources []string) map[string]string {
	m := make(map[string]string)
	for _, src := range sources {
		if ref := s.localRef(src); ref != "" {
			m[src] = ref
		}
	}
	return m
}

// localRef returns the local reference of source when it is a storage or
// result URL this emulator signed and that has not expired, else "".
func (s *Server) localRef(source string) string {
	u, err := url.Parse(source)
	if err != nil {
		return ""
	}
	switch p := u.EscapedPath(); {
	case strings.HasPrefix(p, storagePrefix):
		key, ok := storageKeyOf(u)
		if ok && s.checkSigned(u.Query(), storagePrefix, key) == nil {
			return storageRef + key
		}
	case strings.HasPrefix(p, resultsPrefix):
		name, err := url.PathUnescape(strings.TrimPrefix(p, resultsPrefix))
		if err == nil && validResultName(name) && s.checkSigned(u.Query(), resultsPrefix, name) == nil {
			return resultRef + name
		}
	}
	return ""
}

func validResultName(name string) bool {
	return name != "" && filepath.Base(name) == name && !strings.HasPrefix(name, ".")
}

// openSource opens an input of j, positioned at its start: from the
// emulator's folders for its own URLs, downloaded otherwise. Closing it
// removes a downloaded copy.
func (s *Server) openSource(j *job, source string) (io.ReadSeekCloser, *jobFailure) {
	ref := j.local[source]
	var path, where string
	switch {
	case strings.HasPrefix(ref, storageRef):
		path, where = s.objectPath(strings.TrimPrefix(ref, storageRef)), "upload store"
	case strings.HasPrefix(ref, resultRef):
		path, where = filepath.Join(s.dir, resultsDir, strings.TrimPrefix(ref, resultRef)), "hosted results"
	default:
		return s.fetch(source)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, failf("input_fetch_failed", "the input %s is no longer in the emulator's %s (it was deleted or expired)", redact(source), where)
	}
	if err != nil {
		return nil, failf("input_fetch_failed", "the input %s could not be read from the emulator's %s: %v", redact(source), where, err)
	}
	return f, nil
}

// notEmulatedRef is the failure of a Creative Cloud or Lightroom reference.
func notEmulatedRef(what string, f fileRef) *jobFailure {
	return failf("unsupported_option", "%s is %s: Creative Cloud and Lightroom storage is not emulated (use a URL)", what, f.describe())
}

// readRef returns the bytes of an auxiliary input: inline content, or the
// file an URL names.
func (s *Server) readRef(j *job, f fileRef, what string) ([]byte, *jobFailure) {
	switch {
	case f.Content != nil:
		return []byte(*f.Content), nil
	case f.URL == "":
		return nil, notEmulatedRef(what, f)
	}
	in, fail := s.openSource(j, f.URL)
	if fail != nil {
		fail.Message = what + ": " + fail.Message
		return nil, fail
	}
	defer in.Close()
	b, err := io.ReadAll(io.LimitReader(in, maxAux+1))
	if err != nil {
		return nil, failf("input_fetch_failed", "%s: %s could not be read: %v", what, f.describe(), err)
	}
	if len(b) > maxAux {
		return nil, failf("input_unreadable", "%s: %s is larger than the emulator's %d MiB for auxiliary files", what, f.describe(), maxAux>>20)
	}
	return b, nil
}

// loadImage reads an image input of a Photoshop endpoint: JPEG, PNG,
// TIFF, WebP or PSD (flat, or the merged image of a layered one). It
// returns the image with its origin at (0, 0) and its format's media type.
func (s *Server) loadImage(j *job, f fileRef, what string) (*image.NRGBA, string, *jobFailure) {
	if f.URL == "" {
		return nil, "", notEmulatedRef(what, f)
	}
	in, fail := s.openSource(j, f.URL)
	if fail != nil {
		return nil, "", fail
	}
	defer in.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(in, head)
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return nil, "", failf("input_unreadable", "%s could not be read: %v", what, err)
	}
	if bytes.Equal(head[:n], psdMagic) {
		img, err := decodePSD(in, maxPSSide)
		if err != nil {
			return nil, "", failf("input_unreadable", "%s (%s) is a PSD the emulator cannot read: %v", what, redact(f.URL), err)
		}
		return toNRGBA(img), mediaPSD, nil
	}
	img, format, err := cutout.Decode(in, maxPSSide)
	var big *cutout.TooLargeError
	switch {
	case err == nil:
		return toNRGBA(img), format.MediaType(), nil
	case errors.As(err, &big):
		return nil, "", failf("input_too_large", "%s is %d×%d pixels; a document has at most %d a side", what, big.Width, big.Height, big.Max)
	case errors.Is(err, cutout.ErrUnsupportedFormat):
		return nil, "", failf("unsupported_input", "%s (%s) is not a JPEG, PNG, TIFF, WebP or PSD image", what, redact(f.URL))
	}
	return nil, "", failf("input_unreadable", "%s (%s) could not be decoded: %v", what, redact(f.URL), err)
}
