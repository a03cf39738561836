package metrics_test

import (
	"fmt"
	"time"

	"hotfolder/pipeline"
	"hotfolder/pipeline/metrics"
)

// A run where four files have been held for 17 minutes and nothing
// finished: /healthz answers 503 with this reason, and hotfolder_healthy
// is 0.
func ExampleMetrics_Health() {
	started := time.Date(2026, 3, 14, 22, 0, 0, 0, time.UTC)
	m := metrics.New(metrics.Options{
		Stats: func() pipeline.Stats {
			return pipeline.Stats{
				Started: started, Found: 40, Done: 12, Active: 4,
				LastDone: started.Add(3 * time.Minute), LastSuccess: started.Add(3 * time.Minute),
			}
		},
		Now: func() time.Time { return started.Add(20 * time.Minute) },
	})
	fmt.Println(m.Health())
	// Output: false stalled: no file finished for 17m0s while 28 wait (4 active)
}
