package uploader

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
)

// Complete reports the format of the image in f, by its content (jpeg,
// png, webp, tiff or psd), after checking that its header reads and its
// structure is whole (for a Photoshop document only the signature and
// header are checked). It is how a result hotfolder did not see written
// is told from any file that happens to have the same name: it reads
// the file once and decodes no pixel.
func Complete(f fs.File) (format string, err error) {
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		return "", fmt.Errorf("%s: not a file that can be read at offsets", st.Name())
	}
	size := st.Size()
	head := make([]byte, 512)
	n, err := ra.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return "", err
	}
	head = head[:n]
	if bytes.HasPrefix(head, []byte("8BPS")) && len(head) >= 26 {
		return "psd", nil
	}
	if format = formatOf(sniff(head)); format == "" {
		return "", fmt.Errorf("%s is not an image of a known format", st.Name())
	}
	if _, err := decodeConfig(format, ra, size); err != nil {
		return "", fmt.Errorf("%s: the %s header does not read: %w", st.Name(), format, err)
	}
	if err := checkComplete(format, ra, size); err != nil {
		return "", fmt.Errorf("%s: %w", st.Name(), err)
	}
	return format, nil
}
