package gcsstore

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"hotfolder/ratelimit"
	"hotfolder/uploader"
	"hotfolder/uploader/gcsstore/gcstest"
)

// peakRSS is the process's peak resident set since resetPeakRSS, in bytes.
func peakRSS(tb testing.TB) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb * 1024
		}
	}
	tb.Skip("no VmHWM in /proc/self/status")
	return 0
}

// resetPeakRSS sets the peak resident set back to the current one.
func resetPeakRSS(tb testing.TB) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Skipf("cannot reset the peak RSS: %v", err)
	}
}

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
		resetPeakRSS(b)
		before := peakRSS(b)
		up, err := client.Upload(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, peakRSS(b))
		b.Logf("%d bytes uploaded; peak RSS %.1f MB (%.1f MB before the upload)", up.Size, peakRSS(b)/1e6, before/1e6)
		if err := client.Discard(ctx, up); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(peak/1e6, "peak-rss-MB")
}
