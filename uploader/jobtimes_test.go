package uploader

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// statusFor answers the status of a job that ends d after start, with
// Adobe's createdTime and modifiedTime unless bare.
func statusFor(e *testEnv, start time.Time, d time.Duration, bare bool) reply {
	return reply{do: func(w http.ResponseWriter, r *http.Request) {
		if e.clock.Now().Sub(start) < d {
			fmt.Fprint(w, `{"status":"running"}`)
			return
		}
		times := ""
		if !bare {
			times = fmt.Sprintf(`"createdTime":%q,"modifiedTime":%q,`, start.UTC().Format("2006-01-02T15:04:05.000Z"),
				start.Add(d).UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		fmt.Fprintf(w, `{"status":"succeeded",%s"result":{"outputs":[{"destination":{"url":"https://r.example/o.png"},"mediaType":"image/png"}]}}`, times)
	}}
}

// waitJob runs one job of duration d to its end and returns the GETs it
// took and how late its end was seen.
func waitJob(t *testing.T, e *testEnv, d time.Duration, bare bool) (int, time.Duration) {
	t.Helper()
	start := e.clock.Now()
	before := len(e.adobe.requests("GET /v2/status/"))
	e.adobe.on("GET /v2/status/", statusFor(e, start, d, bare))
	if _, err := e.c.Wait(context.Background(), Job{ID: jobID, Op: OpRemoveBackground, Submitted: start}); err != nil {
		t.Fatal(err)
	}
	return len(e.adobe.requests("GET /v2/status/")) - before, e.clock.Now().Sub(start) - d
}

func median[T int | float64](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// Once it has seen a few jobs, polling asks near their end: for jobs of
// 2–10 s and of 20–60 s (spread evenly over the range), the median job
// takes at most 2 status GETs and is seen done at most 15 % of its
// duration late. Before, Adobe's guidance (2 s, ×1.5) took 4 GETs for a
// 10 s job and saw it 63 % late.
func TestPollingLearnsJobDurations(t *testing.T) {
	for _, tc := range []struct {
		name     string
		min, max time.Duration
	}{{"2-10s", 2 * time.Second, 10 * time.Second}, {"20-60s", 20 * time.Second, 60 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.JobTimeout = time.Hour; c.JobTimes = NewJobTimes() })
			const n = 41
			var gets []int
			var late []float64
			for i := range n {
				// An even spread, in an order that is not sorted.
				d := tc.min + (tc.max-tc.min)*time.Duration((i*17)%n)/time.Duration(n-1)
				g, l := waitJob(t, e, d, false)
				if i >= minSamples {
					gets, late = append(gets, g), append(late, float64(l)/float64(d))
				}
			}
			t.Logf("median GETs %d, median lateness %.1f%%", median(gets), 100*median(late))
			if m := median(gets); m > 2 {
				t.Errorf("median %d status GETs per job, want at most 2 (all: %v)", m, gets)
			}
			if m := median(late); m > 0.15 {
				t.Errorf("median job seen %.0f%% of its duration late, want at most 15%% (all: %.2f)", 100*m, late)
			}
		})
	}
}

// Without createdTime and modifiedTime, a job's duration is taken as the
// middle between the last GET that saw it running and the one that saw it
// done; every duration learned is handed to OnLearn.
func TestPollingLearnsWithoutAdobesTimes(t *testing.T) {
	jt := NewJobTimes()
	var learned []time.Duration
	jt.OnLearn(func(key string, d time.Duration) { learned = append(learned, d) })
	e := newEnv(t, func(c *Config) { c.JobTimes = jt })
	// Polled at 2, 5, 9.5 and 16.25 s: running at 9.5, done at 16.25.
	if g, _ := waitJob(t, e, 10*time.Second, true); g != 4 {
		t.Fatalf("%d GETs, want 4", g)
	}
	if want := (9500 + 16250) * time.Millisecond / 2; len(learned) != 1 || learned[0] != want {
		t.Errorf("learned %v, want [%v]", learned, want)
	}
}

// Seeded with an earlier run's durations, the very first job is polled by
// them: the first GET at fineRatio × the quickest (10 s here), not at 2 s.
func TestPollingSeededFromAnEarlierRun(t *testing.T) {
	jt := NewJobTimes()
	e := newEnv(t, func(c *Config) { c.JobTimes = jt })
	jt.Seed(e.c.apiName(OpRemoveBackground)+" "+OpRemoveBackground, slices.Repeat([]time.Duration{10 * time.Second}, minSamples))
	g, late := waitJob(t, e, 10*time.Second, false)
	ratio := fineRatio
	want := time.Duration(ratio * float64(10*time.Second))
	if first := e.clock.Waits()[0]; first != want {
		t.Errorf("first GET after %v, want %v", first, want)
	}
	if g != 1 || late != want-10*time.Second {
		t.Errorf("%d GETs, seen %v late; want 1, %v", g, late, want-10*time.Second)
	}
}

func TestQuantile(t *testing.T) {
	ds := []time.Duration{1, 2, 3, 4, 5}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.5, 3}, {1, 5}, {0.25, 2}, {0.1, 1}} {
		if got := quantile(ds, tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
}

// A job submitted before anything was learned (the first of a run, all
// in flight at once) switches to the learned plan as soon as other jobs
// have taught it: here after its first GET, at 2 s, the next comes at
// fineRatio × 10 s, not at Adobe's 5 s and 9.5 s.
func TestPollingSwitchesToWhatOthersTaught(t *testing.T) {
	jt := NewJobTimes()
	e := newEnv(t, func(c *Config) { c.JobTimes = jt })
	key := e.c.apiName(OpRemoveBackground) + " " + OpRemoveBackground
	start := e.clock.Now()
	done := statusFor(e, start, 10*time.Second, false)
	taught := false
	e.adobe.on("GET /v2/status/", reply{do: func(w http.ResponseWriter, r *http.Request) {
		if !taught {
			taught = true
			jt.Seed(key, slices.Repeat([]time.Duration{10 * time.Second}, minSamples))
		}
		done.do(w, r)
	}})
	if _, err := e.c.Wait(context.Background(), Job{ID: jobID, Op: OpRemoveBackground, Submitted: start}); err != nil {
		t.Fatal(err)
	}
	ratio := fineRatio
	want := []time.Duration{2 * time.Second, time.Duration(ratio*float64(10*time.Second)) - 2*time.Second}
	if got := e.clock.Waits(); !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
}
