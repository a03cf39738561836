package ratelimit

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestWindowAllow(t *testing.T) {
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	tests := []struct {
		name  string
		l     Limit
		steps []struct {
			at   time.Time
			ok   bool
			wait time.Duration
		}
	}{
		{"2/3s", Limit{2, 3 * time.Second}, []struct {
			at   time.Time
			ok   bool
			wait time.Duration
		}{
			{ms(0), true, 0},
			{ms(1000), true, 0},
			{ms(2000), false, time.Second},             // the one at 0 leaves at 3000
			{ms(3000).Add(-1), false, time.Nanosecond}, // still inside: (t-W, t] holds 0
			{ms(3000), true, 0},                        // t-oldest == W: admitted
			{ms(3500), false, 500 * time.Millisecond},  // now 1000 is oldest
			{ms(4000), true, 0},                        // refusals did not count
			{ms(4000), false, 2 * time.Second},
		}},
		{"1/1s", Limit{1, time.Second}, []struct {
			at   time.Time
			ok   bool
			wait time.Duration
		}{
			{ms(0), true, 0},
			{ms(0), false, time.Second},
			{ms(999), false, time.Millisecond},
			{ms(1000), true, 0},
			{ms(5000), true, 0},
		}},
	}
	for _, tc := range tests {
		w := NewWindow(tc.l)
		if w.Limit() != tc.l {
			t.Errorf("%s: Limit() = %v", tc.name, w.Limit())
		}
		for i, st := range tc.steps {
			ok, wait := w.Allow(st.at)
			if ok != st.ok || wait != st.wait {
				t.Errorf("%s step %d: Allow(+%v) = %v, %v; want %v, %v", tc.name, i, st.at.Sub(t0), ok, wait, st.ok, st.wait)
			}
		}
	}
}

// TestWindowAgreesWithViolations: Window admits exactly the times that keep
// Violations at zero, and the wait it gives on a refusal is exact: refused
// a nanosecond before it, admitted at it.
func TestWindowAgreesWithViolations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, l := range []Limit{{1, time.Second}, {2, 3 * time.Second}, {15, 3 * time.Second}} {
		w := NewWindow(l)
		var admitted []time.Time
		at := t0
		refused := 0
		for range 2000 {
			at = at.Add(time.Duration(rng.Int64N(int64(l.Window) / int64(l.N))))
			// Only the last N admitted can share a window with at.
			recent := admitted[max(0, len(admitted)-l.N):]
			withIt := append(slices.Clone(recent), at)
			ok, wait := w.Allow(at)
			if v := Violations(l, withIt); ok != (v == 0) {
				t.Fatalf("%v: Allow(+%v) = %v, but Violations with it = %d", l, at.Sub(t0), ok, v)
			}
			if ok {
				admitted = append(admitted, at)
				continue
			}
			refused++
			if ok, _ := windowFrom(l, recent).Allow(at.Add(wait - 1)); ok {
				t.Fatalf("%v: refused at +%v with wait %v, but admitted a nanosecond sooner", l, at.Sub(t0), wait)
			}
			if ok, _ := windowFrom(l, recent).Allow(at.Add(wait)); !ok {
				t.Fatalf("%v: refused at +%v with wait %v, but still refused then", l, at.Sub(t0), wait)
			}
		}
		if refused == 0 || len(admitted) < 500 {
			t.Errorf("%v: %d admitted, %d refused: the test shows nothing", l, len(admitted), refused)
		}
	}
}

// windowFrom returns a window that has admitted times (sorted).
func windowFrom(l Limit, times []time.Time) *Window {
	w := NewWindow(l)
	for _, t := range times {
		w.Allow(t)
	}
	return w
}

func TestViolations(t *testing.T) {
	s := func(secs ...float64) []time.Time {
		out := make([]time.Time, len(secs))
		for i, x := range secs {
			out[i] = t0.Add(time.Duration(x * float64(time.Second)))
		}
		return out
	}
	l := Limit{2, 3 * time.Second}
	tests := []struct {
		name  string
		times []time.Time
		want  int
	}{
		{"none", nil, 0},
		{"N at once", s(0, 0), 0},
		{"N+1 at once", s(0, 0, 0), 1},
		{"N+2 at once", s(0, 0, 0, 0), 2},
		{"third exactly a window after the first", s(0, 1, 3), 0},
		{"third a nanosecond early", []time.Time{t0, t0.Add(time.Second), t0.Add(3*time.Second - 1)}, 1},
		{"one a second", s(0, 1, 2, 3, 4, 5), 4},
		{"evenly at the limit", s(0, 1.5, 3, 4.5, 6, 7.5), 0},
	}
	for _, tc := range tests {
		if got := Violations(l, tc.times); got != tc.want {
			t.Errorf("%s: Violations = %d, want %d", tc.name, got, tc.want)
		}
	}
}
