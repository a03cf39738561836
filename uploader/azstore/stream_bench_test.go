package azstore

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"hotfolder/ratelimit"
	"hotfolder/uploader"
	"hotfolder/uploader/azstore/aztest"
	"hotfolder/uploader/storetest"
)

// sparseTIFF writes a sparse file of size bytes that starts like a TIFF:
// nearly all of it a hole, so the disk is not the bottleneck.
func sparseTIFF(tb testing.TB, size int64) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "scan.tif")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("II*\x00\x08\x00\x00\x00")); err != nil {
		tb.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkUploadLarge uploads a 1 GiB file to Azurite the way a worker
// does (uploader.Client.Upload: one streamed Put Blob, then a SAS URL), and
// then the same file staged in 8 MiB blocks (the path of files over Put
// Blob's 5000 MiB). It reports the peak resident set of each, which must
// stay flat (tens of MB) however large the file.
func BenchmarkUploadLarge(b *testing.B) {
	srv := aztest.Start(b)
	ctx := context.Background()
	path := sparseTIFF(b, 1<<30)
	for _, mode := range []struct {
		name      string
		singleMax int64
	}{{"put-blob", 0}, {"staged-blocks", 1 << 20}} {
		b.Run(mode.name, func(b *testing.B) {
			store, err := New(Config{Account: srv.Account, Container: srv.Container, Prefix: "bench", Endpoint: srv.Endpoint,
				AccountKey: srv.Key, SinglePutMax: mode.singleMax})
			if err != nil {
				b.Fatal(err)
			}
			client, err := uploader.New(uploader.Config{ClientID: "id", ClientSecret: "secret", Storage: store,
				Limiter: ratelimit.New(ratelimit.Soft(), ratelimit.Options{})})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(1 << 30)
			var peak float64
			for b.Loop() {
				runtime.GC()
				storetest.ResetPeakRSS(b)
				before := storetest.PeakRSS(b)
				up, err := client.Upload(ctx, path)
				if err != nil {
					b.Fatal(err)
				}
				peak = max(peak, storetest.PeakRSS(b))
				b.Logf("%d bytes uploaded; peak RSS %.1f MB (%.1f MB before the upload)", up.Size, storetest.PeakRSS(b)/1e6, before/1e6)
				if err := client.Discard(ctx, up); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(peak/1e6, "peak-rss-MB")
		})
	}
}
