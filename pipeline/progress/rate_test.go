package progress

import (
	"math"
	"testing"
	"time"
)

func TestRateWindow(t *testing.T) {
	type obs struct {
		at     time.Duration // since t0
		n      int64
		busy   bool
		want   float64 // files/min
		wantOK bool
	}
	tests := []struct {
		name string
		obs  []obs
	}{
		{"unknown until a file is processed", []obs{
			{0, 0, true, 0, false},
			{time.Minute, 0, true, 0, false},
			{2 * time.Minute, 4, true, 2, true},
		}},
		{"idle time does not count", []obs{
			{0, 0, true, 0, false},
			{time.Minute, 6, false, 6, true},   // busy for 1m: 6/min
			{5 * time.Hour, 6, false, 6, true}, // idle all evening: still 6/min
			// A new batch arrives within the next minute: that minute
			// counts as work, the evening before it does not.
			{5*time.Hour + time.Minute, 6, true, 3, true},
			{5*time.Hour + 2*time.Minute, 12, true, 4, true},
		}},
		{"work found after the first look counts from it", []obs{
			{0, 0, false, 0, false}, // the display starts before the watcher hands anything on
			{20 * time.Second, 2, true, 6, true},
			{40 * time.Second, 4, true, 6, true},
		}},
		{"a slow first file counts from the first look", []obs{
			{0, 0, false, 0, false},
			{20 * time.Second, 0, true, 0, false},
			{40 * time.Second, 4, true, 6, true},
		}},
		{"a batch that came and went between two idle looks", []obs{
			{0, 0, false, 0, false},
			{time.Minute, 3, false, 3, true},
			{time.Hour, 3, false, 3, true},
		}},
		{"only the last 10 minutes of work count", []obs{
			{0, 0, true, 0, false},
			{10 * time.Minute, 100, true, 10, true},
			{20 * time.Minute, 120, true, 2, true}, // 20 in the last 10m
		}},
		{"a stall shows as unknown once it fills the window", []obs{
			{0, 0, true, 0, false},
			{5 * time.Minute, 10, true, 2, true},
			{20 * time.Minute, 10, true, 0, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r rateWindow
			for i, o := range tt.obs {
				got, ok := r.observe(t0.Add(o.at), o.n, o.busy)
				if ok != o.wantOK || math.Abs(got-o.want) > 1e-9 {
					t.Errorf("observation %d at %v: rate %v, %v; want %v, %v", i, o.at, got, ok, o.want, o.wantOK)
				}
			}
		})
	}
}

// A redraw every 200ms for a night keeps a bounded number of samples.
func TestRateWindowBounded(t *testing.T) {
	var r rateWindow
	for i := range 12 * 3600 * 5 {
		r.observe(t0.Add(time.Duration(i)*200*time.Millisecond), int64(i/50), true)
	}
	if n := len(r.samples); n > int(rateSpan/rateEvery)+2 {
		t.Errorf("rateWindow keeps %d samples after 12h", n)
	}
}
