package emulator

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"hotfolder/ratelimit"
)

func TestParseCommand(t *testing.T) {
	c, err := ParseCommand([]string{"-addr", "127.0.0.1:0", "-limits", "hard", "-limit", "post=4/1s",
		"-latency", "2s-10s", "-fail-5xx", "0.1", "-fail-jobs", "0.02", "-no-retry-after"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := ratelimit.Hard()
	want[ratelimit.Post] = ratelimit.Limit{N: 4, Window: time.Second}
	if c.Addr != "127.0.0.1:0" || c.Config.Limits[ratelimit.Post] != want[ratelimit.Post] ||
		c.Config.Limits[ratelimit.RemoveBackgroundPost] != want[ratelimit.RemoveBackgroundPost] ||
		c.Config.MinLatency != 2*time.Second || c.Config.MaxLatency != 10*time.Second ||
		c.Config.Faults.ServerErrorRate != 0.1 || c.Config.Faults.JobFailureRate != 0.02 || !c.Config.Faults.OmitRetryAfter {
		t.Errorf("ParseCommand = %+v", c)
	}
	if c, err := ParseCommand(nil, io.Discard); err != nil || c.Config.MinLatency != 500*time.Millisecond || c.Config.MaxLatency != 2*time.Second {
		t.Errorf("defaults = %+v, %v", c, err)
	}
	if _, err := ParseCommand([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, args := range [][]string{
		{"-fail-429", "1.5"}, {"-latency", "10s-2s"}, {"-latency", "soon"}, {"-limits", "medium"}, {"-limit", "put=1/1s"}, {"-frob"},
	} {
		if _, err := ParseCommand(args, io.Discard); err == nil || strings.TrimSpace(err.Error()) == "" {
			t.Errorf("ParseCommand(%q) = %v, want an error", args, err)
		}
	}
}
