package cutout

import (
	"testing"
)

func BenchmarkCut(b *testing.B) {
	img := productShot(2000, 1500, 3)
	b.ResetTimer()
	for b.Loop() {
		Cut(img)
	}
	px := float64(2000 * 1500)
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/image")
	b.ReportMetric(px*float64(b.N)/b.Elapsed().Seconds()/1e6, "MP/s")
}
