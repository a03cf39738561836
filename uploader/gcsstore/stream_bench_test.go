package gcsstore

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"hotfolder/ratelimit"
	"hotfolder/uploader"
	"hotfolder/uploader/gcsstore/gcstest"
	"hotfolder/uploader/storetest"
)

// BenchmarkUploadLarge uploads a 512 MiB sparse file to fake-gcs-server the
// way a worker does (uploader.Client.Upload: one streamed request with no
// chunk buffer, then a signed URL) and reports hotfolder's peak resident
// set, which must stay flat however large the file. (fake-gcs-server holds
// an upload in its own memory, hence the smaller file than Azure's.)
func BenchmarkUploadLarge(b *testing.B) {
	srv := gcstest.Start(b)
	ctx := context.Background()
	const size = 512 << 20
	path := filepath.Join(b.TempDir(), "scan.tif")
	if err := os.WriteFile(path, []byte("II*\x00\x08\x00\x00\x00"), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		b.Fatal(err)
	}
	store, err := New(ctx, Config{Bucket: srv.Bucket, Prefix: "bench", Endpoint: srv.Endpoint, ServiceAccountJSON: srv.ServiceAccountJSON})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	client, err := uploader.New(uploader.Config{ClientID: "id", ClientSecret: "secret", Storage: store,
		Limiter: ratelimit.New(ratelimit.Soft(), ratelimit.Options{})})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
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
}
