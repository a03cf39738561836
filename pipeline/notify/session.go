package notify

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"hotfolder/pipeline"
	"hotfolder/ratelimit"
)

// EndBudget is how long the end-of-run summary may take, tries and
// back-off included: what a receiver that is down or hangs can add to a
// run's exit.
const EndBudget = 5 * time.Second

// Defaults of a [Config].
const (
	DefaultFailures = 20              // -notify-failures
	defaultCheck    = 5 * time.Second // how often the failures are counted
	// maxNap bounds one wait for the daily time, so a clock that jumps
	// (a laptop's sleep, a DST change) delays the summary by at most this.
	maxNap = time.Hour
)

// Run is what a Session reads from the running pipeline
// (*pipeline.Pipeline). Both must be safe to call while it runs.
type Run interface {
	Stats() pipeline.Stats
	// Failures returns the inputs that failed so far, skipping the first
	// from of them.
	Failures(from int) []pipeline.Failure
}

// Config configures a [Session]. Sender is required.
type Config struct {
	Sender *Sender
	Log    *slog.Logger // default: discard
	// Host, In and Link go into every summary: the machine, the hot
	// folder and the review page.
	Host, In, Link string
	// Redact hides secrets in the texts of a summary (default: none).
	Redact func(string) string
	// Daily sends a summary of the day every day at DailyAt, local time
	// (watch mode).
	Daily   bool
	DailyAt Clock
	// Failures, when positive, sends a summary at once when this many
	// inputs failed since the run began or the last daily summary: once
	// per crossing, not once per failure.
	Failures int
	// Posts returns the POSTs spent so far, by bucket (nil: none counted).
	Posts func() map[ratelimit.Bucket]int64
	// Now and After are the clock and the timer (default time.Now and
	// time.After); tests move time themselves.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// Check is how often the failures are counted (default 5s).
	Check time.Duration
	// EndBudget overrides [EndBudget].
	EndBudget time.Duration
}

// Session notifies about one run: daily and on failures while it runs
// (from a goroutine of its own), and once at its end.
type Session struct {
	cfg    Config
	about  about
	run    Run
	cancel context.CancelFunc
	done   chan struct{}
	period mark // start of the current period; owned by the loop until done
}

// Start begins watching run. Call End when the run is over.
func Start(ctx context.Context, cfg Config, run Run) *Session {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Redact == nil {
		cfg.Redact = func(s string) string { return s }
	}
	if cfg.Posts == nil {
		cfg.Posts = func() map[ratelimit.Bucket]int64 { return nil }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Check <= 0 {
		cfg.Check = defaultCheck
	}
	if cfg.EndBudget <= 0 {
		cfg.EndBudget = EndBudget
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Session{cfg: cfg, run: run, cancel: cancel, done: make(chan struct{}),
		about: about{host: cfg.Host, in: cfg.In, link: cfg.Link, redact: cfg.Redact}}
	s.period = s.markNow(0)
	go s.loop(ctx)
	return s
}

// markNow is the run's state now, having seen fails failures.
func (s *Session) markNow(fails int) mark {
	return mark{at: s.cfg.Now(), stats: s.run.Stats(), fails: fails, posts: maps.Clone(s.cfg.Posts())}
}

func (s *Session) loop(ctx context.Context) {
	defer close(s.done)
	var daily, check <-chan time.Time
	var due time.Time
	if s.cfg.Daily {
		due = s.cfg.DailyAt.Next(s.cfg.Now())
		daily = s.cfg.After(min(due.Sub(s.cfg.Now()), maxNap))
	}
	if s.cfg.Failures > 0 {
		check = s.cfg.After(s.cfg.Check)
	}
	alerted := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-daily:
			if now := s.cfg.Now(); !now.Before(due) {
				s.sendPeriod(ctx, EventDaily)
				alerted = false
				due = s.cfg.DailyAt.Next(now)
			}
			daily = s.cfg.After(min(due.Sub(s.cfg.Now()), maxNap))
		case <-check:
			st := s.run.Stats()
			if !alerted && st.Failed-s.period.stats.Failed >= int64(s.cfg.Failures) {
				s.sendPeriod(ctx, EventFailures)
				alerted = true
			}
			check = s.cfg.After(s.cfg.Check)
		}
	}
}

// sendPeriod sends the summary of the current period; a daily one starts
// the next period.
func (s *Session) sendPeriod(ctx context.Context, ev Event) {
	fails := s.run.Failures(s.period.fails)
	next := s.markNow(s.period.fails + len(fails))
	sum := s.about.build(ev, s.period, next.at, next.stats, fails, next.posts)
	if ev == EventDaily {
		s.period = next
	}
	if err := s.cfg.Sender.Send(ctx, sum); err != nil {
		s.cfg.Log.Warn("notify: could not send the "+string(ev)+" summary", "error", err)
		return
	}
	s.cfg.Log.Info("notify: sent the "+string(ev)+" summary", "to", Host(s.cfg.Sender.url))
}

// End stops the daily and failure notifications (abandoning one being
// sent) and sends the summary of the whole run, within the end budget.
// stopped, if not "", says why the run ended early (a fatal error). A
// summary that cannot be delivered in time is logged, not returned: the
// run's result does not depend on it.
func (s *Session) End(sum pipeline.Summary, stopped string) {
	s.cancel()
	<-s.done
	start := mark{at: sum.Started}
	out := s.about.build(EventEnd, start, s.cfg.Now(), sum.Stats, sum.Failures, s.cfg.Posts())
	out.Counts.Pending = sum.Pending
	if stopped != "" {
		out.Stopped = s.cfg.Redact(stopped)
	}
	out.Text = text(out)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.EndBudget)
	defer cancel()
	if err := s.cfg.Sender.Send(ctx, out); err != nil {
		s.cfg.Log.Warn(fmt.Sprintf("notify: gave up on the end-of-run summary (it is given %s); the run's result is unchanged", s.cfg.EndBudget),
			"error", err)
		return
	}
	s.cfg.Log.Info("notify: sent the end-of-run summary", "to", Host(s.cfg.Sender.url))
}
