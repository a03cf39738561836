package pipeline

import (
	"reflect"
	"sync"
	"testing"
	"time"
)

// fakeJobTimes records what it is seeded with and keeps its OnLearn.
type fakeJobTimes struct {
	mu     sync.Mutex
	seeded map[string][]time.Duration
	fn     func(string, time.Duration)
}

func (f *fakeJobTimes) Seed(key string, ds []time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seeded == nil {
		f.seeded = map[string][]time.Duration{}
	}
	f.seeded[key] = append(f.seeded[key], ds...)
}

func (f *fakeJobTimes) OnLearn(fn func(string, time.Duration)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fn = fn
}

// What polling learns in one run seeds it in the next, through the journal.
func TestJobTimesOutliveTheRun(t *testing.T) {
	e := newEnv(t)
	first := &fakeJobTimes{}
	cfg := e.config(1)
	cfg.JobTimes = first
	p := e.pipeline(cfg, &fakeSource{}, &fakeRemote{})
	learned := []time.Duration{3 * time.Second, 4 * time.Second}
	for _, d := range learned {
		first.fn("api remove-background", d)
	}
	p.Close()
	if first.fn != nil {
		t.Error("Close left OnLearn set")
	}

	second := &fakeJobTimes{}
	cfg.JobTimes = second
	e.pipeline(cfg, &fakeSource{}, &fakeRemote{})
	if want := map[string][]time.Duration{"api remove-background": learned}; !reflect.DeepEqual(second.seeded, want) {
		t.Errorf("seeded with %v, want %v", second.seeded, want)
	}
}
