package s3store

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"hotfolder/ratelimit"
	"hotfolder/uploader"
	"hotfolder/uploader/s3store/s3test"
	"hotfolder/uploader/storetest"
)

// bigPSD writes a sparse, structurally valid flat PSD of w×h px, RGB,
// uncompressed: 26 + 12 + 2 + 3·w·h bytes, nearly all of them a hole.
func bigPSD(tb testing.TB, w, h int64) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "poster.psd")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var hdr [26 + 12 + 2]byte
	copy(hdr[:], "8BPS")
	be := binary.BigEndian
	be.PutUint16(hdr[4:], 1)  // version: PSD
	be.PutUint16(hdr[12:], 3) // channels
	be.PutUint32(hdr[14:], uint32(h))
	be.PutUint32(hdr[18:], uint32(w))
	be.PutUint16(hdr[22:], 8) // depth
	be.PutUint16(hdr[24:], 3) // RGB; the three section lengths and the compression stay 0
	if _, err := f.Write(hdr[:]); err != nil {
		tb.Fatal(err)
	}
	if err := f.Truncate(int64(len(hdr)) + 3*w*h); err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkUploadLargePSD takes a 2 GB Photoshop document the way a
// worker does: the local checks for edit (header and section scan), then
// the single-part streamed upload to a real S3 server (versitygw). It
// reports the process's peak resident set during that, which must stay
// flat (well under 64 MB) however large the file.
func BenchmarkUploadLargePSD(b *testing.B) {
	srv := s3test.Start(b)
	ctx := context.Background()
	store, err := New(ctx, Config{Bucket: srv.Bucket, Prefix: "bench", Endpoint: srv.Endpoint,
		Region: srv.Region, PathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		b.Fatal(err)
	}
	client, err := uploader.New(uploader.Config{ClientID: "id", ClientSecret: "secret", Storage: store,
		Limiter: ratelimit.New(ratelimit.Soft(), ratelimit.Options{})})
	if err != nil {
		b.Fatal(err)
	}
	path := bigPSD(b, 30000, 23000) // 2.07 GB, the largest flat RGB PSD
	st, _ := os.Stat(path)
	edit := uploader.Step{Op: uploader.OpEdit, Edit: &uploader.Edit{AutoTone: true},
		Outputs: []uploader.Rendition{{Format: "jpeg"}}}
	b.SetBytes(st.Size())
	var peak, heap float64
	for b.Loop() {
		runtime.GC()
		storetest.ResetPeakRSS(b)
		before := storetest.PeakRSS(b)
		if err := client.Check(ctx, edit, path); err != nil {
			b.Fatal(err)
		}
		up, err := client.Upload(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, storetest.PeakRSS(b))
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = max(heap, float64(ms.HeapSys))
		b.Logf("%d bytes uploaded; peak RSS %.1f MB (%.1f MB before the upload)", up.Size, storetest.PeakRSS(b)/1e6, before/1e6)
		if err := client.Discard(ctx, up); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(peak/1e6, "peak-rss-MB")
	b.ReportMetric(heap/1e6, "heap-sys-MB")
}
