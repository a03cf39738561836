package emulator

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"hotfolder/ratelimit"
)

// Command is the command line of the standalone emulator (hotfolder
// emulator): where to listen, and the emulator to serve there.
type Command struct {
	Addr   string
	Config Config // Limits, latencies and Faults set; the caller adds a Logger
}

// ParseCommand reads the standalone emulator's flags. It returns
// flag.ErrHelp for -h, and any other mistake as an error whose text says
// what to fix (the flag package has printed its own complaints to stderr
// already).
func ParseCommand(args []string, stderr io.Writer) (Command, error) {
	var c Command
	fs := flag.NewFlagSet("hotfolder emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "listen `address`")
	limits := fs.String("limits", "soft", "rate limits to enforce: soft or hard")
	var overrides overrideList
	fs.Var(&overrides, "limit", "override one limit, `NAME=N/DURATION`; repeatable")
	latency := fs.String("latency", "500ms-2s", "job duration `MIN-MAX`")
	f := &c.Config.Faults
	fs.Float64Var(&f.ServerErrorRate, "fail-5xx", 0, "answer this `fraction` of API requests with 502, 503 or 504")
	fs.Float64Var(&f.TooManyRate, "fail-429", 0, "answer this `fraction` of API requests with 429, as when another client shares the quota")
	fs.BoolVar(&f.OmitRetryAfter, "no-retry-after", false, "send 429s without Retry-After")
	fs.BoolVar(&f.EmptyBodies, "empty-bodies", false, "send 429 and 5xx answers with empty bodies")
	fs.Float64Var(&f.JobFailureRate, "fail-jobs", 0, "end this `fraction` of jobs as failed")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for _, r := range []float64{f.ServerErrorRate, f.TooManyRate, f.JobFailureRate} {
		if r < 0 || r > 1 {
			return c, fmt.Errorf("fault rates are fractions from 0 to 1, not %v", r)
		}
	}
	var err error
	if c.Config.Limits, err = ratelimit.ProfileWith(*limits, overrides); err != nil {
		return c, err
	}
	if c.Config.MinLatency, c.Config.MaxLatency, err = parseRange(*latency); err != nil {
		return c, fmt.Errorf("-latency: %w", err)
	}
	return c, nil
}

// overrideList is the repeatable -limit flag.
type overrideList []string

func (o *overrideList) String() string     { return strings.Join(*o, ",") }
func (o *overrideList) Set(v string) error { *o = append(*o, v); return nil }

// parseRange reads "MIN-MAX" durations, e.g. "2s-10s", or a single duration.
func parseRange(s string) (lo, hi time.Duration, err error) {
	a, b, found := strings.Cut(s, "-")
	if lo, err = time.ParseDuration(a); err != nil {
		return 0, 0, err
	}
	hi = lo
	if found {
		if hi, err = time.ParseDuration(b); err != nil {
			return 0, 0, err
		}
	}
	if lo < 0 || hi < lo {
		return 0, 0, fmt.Errorf("%q: want MIN-MAX with 0 <= MIN <= MAX", s)
	}
	return lo, hi, nil
}
