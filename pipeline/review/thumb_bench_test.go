package review

import (
	"os"
	"path/filepath"
	"testing"
)

// One thumbnail of a 640×480 photo and of its 640×480 cut-out, from the
// file to the written thumbnail.
func BenchmarkThumbnail(b *testing.B) {
	dir := b.TempDir()
	in, out := filepath.Join(dir, "in.jpg"), filepath.Join(dir, "out.png")
	writeFile(b, in, photo(b, 640, 480, 30, false))
	writeFile(b, out, photo(b, 640, 480, 30, true))
	for _, p := range []string{in, out} {
		b.Run(filepath.Ext(p)[1:], func(b *testing.B) {
			for b.Loop() {
				th := newThumbs(filepath.Join(dir, "thumbs")) // none made yet
				if _, err := th.make(p, ""); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.RemoveAll(th.dir)
				b.StartTimer()
			}
		})
	}
}
