package redisquota

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"hotfolder/ratelimit"
)

// Config configures [Open] (and [ReadStatus], which needs only URL,
// Password and Group).
type Config struct {
	// URL is the Redis server: redis://[user:password@]host:port[/db],
	// rediss://… (TLS) or unix:///path/to.sock[?db=N].
	URL string
	// Password is used when URL has none (hotfolder reads it from
	// REDIS_PASSWORD). It never appears in an error or a log line.
	Password string
	// Group names the quota the processes share: every process of one
	// Adobe organization uses the same. Any string; required.
	Group string
	// Profile holds the limits to keep. Every process of a group must use
	// the same limits, margin and horizon: the sequence in Redis spaces
	// each grant by the interval of the process that booked it.
	Profile ratelimit.Profile
	// Margin is the fraction of each window added as margin, as
	// ratelimit.Options.Margin: grants are (Window+margin)/N apart. It
	// absorbs the spread of the delay from grant to arrival at Adobe,
	// Redis round trips included. Default 0.02.
	Margin float64
	// MinMargin is the least margin whatever the window. Default 20ms.
	MinMargin time.Duration
	// MaxPause caps any 429 pause, Retry-After included. Default 60s.
	MaxPause time.Duration
	// Horizon is the furthest ahead a reservation may lie (H). It bounds
	// how long Redis coming back empty holds a bucket (H+Window+margin).
	// Default 2×(Window+margin) of each bucket.
	Horizon time.Duration
	// DailyPosts, when positive, caps the group's POSTs (post and
	// remove-background.post together) per UTC day of the Redis clock,
	// counted in Redis for all processes: Wait then fails at once with
	// ratelimit.ErrDailyCapReached. Each process holds the shared count to
	// its own cap, so all should pass the same. 0: no cap (the day is
	// still counted, for ReadStatus).
	DailyPosts int64
	// MaxPosts, when positive, caps this process's POSTs over its life,
	// as ratelimit.Options.MaxPosts: Wait then fails with
	// ratelimit.ErrPostBudgetSpent.
	MaxPosts int64
	// Process is what this process's heartbeat tells the others.
	Process Process
	// Logger receives warnings (Redis unreachable, and again) and notes
	// (a bucket fenced after Redis lost its state). Nil: discard.
	Logger *slog.Logger

	// Test seams.
	heartbeat time.Duration                                // heartbeat period; default 5s
	onFire    func(b ratelimit.Bucket, late time.Duration) // each grant and how late it fired
}

// Process is what a heartbeat tells others about this process.
type Process struct {
	Host    string
	PID     int
	In, Out string // the folders it watches and writes
	Version string
}

// Defaults and fixed settings.
const (
	// slowdown, minRate and recovery are ratelimit.Options' defaults, so
	// that a shared bucket slows and recovers as a private one does.
	slowdown = 0.7
	minRate  = 0.1
	recovery = 0.05

	callTimeout = 3 * time.Second // one script call, go-redis's own retries included
	openTimeout = 10 * time.Second
	maxBackoff  = 5 * time.Second // between attempts while Redis cannot be reached
	warnEvery   = time.Minute

	heartbeatEvery = 5 * time.Second
	heartbeatTTL   = 15 * time.Second
	pendKeep       = time.Minute // a reservation past its slot is kept this long, for retried requests

	// waitGrace is how long a client refused for lack of room keeps its
	// place in line beyond the time it was told to come back.
	waitGrace = 2 * time.Second
)

// A Limiter paces this process's requests against quotas it shares, through
// Redis, with every process of its group: the same API as
// [ratelimit.Set], and the same guarantees for the union of the processes.
// See the package documentation for how.
//
// Create one with [Open] and Close it when done. A Limiter is safe for
// concurrent use by multiple goroutines.
type Limiter struct {
	rdb      *redis.Client
	keys     keys
	id       string // this process's client id in Redis
	log      *slog.Logger
	cfg      Config
	buckets  map[ratelimit.Bucket]*bucket
	started  time.Time
	record   string // the heartbeat's JSON
	maxPause time.Duration

	posts   atomic.Int64 // POSTs granted or being waited for, against MaxPosts
	reqSeq  atomic.Int64 // request ids: increasing, so Redis can tell a stale retry
	onGrant atomic.Pointer[func(ratelimit.Bucket, time.Time)]

	health health
	sub    subscription
	ps     atomic.Pointer[redis.PubSub] // the listener's; Close closes it to end a blocked read

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add against Close's wg.Wait
	closed bool
	wg     sync.WaitGroup
	abrupt atomic.Bool // tests' kill: leave Redis as a crashed process would
	once   sync.Once
	err    error
}

// quietLogger drops go-redis's own log lines (a failed dial each retry):
// the Limiter reports an unreachable Redis itself, once a minute.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

var quietOnce sync.Once

// Open connects to Redis (PING), loads the scripts, subscribes to the
// group's channel and starts the heartbeat. It fails with an [*Error]
// (fatal, with a hint) when the configuration is wrong or Redis cannot be
// used: unreachable, a refused password, commands not allowed.
//
// Open silences go-redis's package-wide logger, whose lines would repeat
// every retry while Redis is down; the Limiter logs that itself.
func Open(ctx context.Context, cfg Config) (*Limiter, error) {
	opt, secrets, err := options(cfg)
	if err != nil {
		return nil, err
	}
	if len(cfg.Profile) == 0 {
		return nil, &Error{Op: "open", Err: errors.New("no limits to keep"), hint: "pass the limits profile"}
	}
	if cfg.Margin <= 0 {
		cfg.Margin = 0.02
	}
	if cfg.MinMargin <= 0 {
		cfg.MinMargin = 20 * time.Millisecond
	}
	if cfg.MaxPause <= 0 {
		cfg.MaxPause = 60 * time.Second
	}
	if cfg.heartbeat <= 0 {
		cfg.heartbeat = heartbeatEvery
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	quietOnce.Do(func() { redis.SetLogger(quietLogger{}) })

	l := &Limiter{
		keys:     groupKeys(cfg.Group),
		id:       crand.Text()[:16],
		log:      log,
		cfg:      cfg,
		buckets:  make(map[ratelimit.Bucket]*bucket, len(cfg.Profile)),
		started:  time.Now(),
		maxPause: cfg.MaxPause,
	}
	l.health.log = log
	for b, lim := range cfg.Profile {
		if lim.N <= 0 || lim.Window <= 0 {
			return nil, &Error{Op: "open", Err: fmt.Errorf("bucket %q: limit %v is not positive", b, lim), hint: "fix -limit"}
		}
		l.buckets[b] = newBucket(l, b, lim)
	}
	rec, _ := json.Marshal(procRecord{
		ID: l.id, Host: cfg.Process.Host, PID: cfg.Process.PID, In: cfg.Process.In, Out: cfg.Process.Out,
		Version: cfg.Process.Version, Started: l.started.UTC(), DailyCap: cfg.DailyPosts,
	})
	l.record = string(rec)

	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	l.rdb = redis.NewClient(opt)
	fail := func(what string, err error) (*Limiter, error) {
		_ = l.rdb.Close()
		return nil, classify("open", fmt.Errorf("%s %s: %w", what, opt.Addr, err), secrets)
	}
	if err := l.rdb.Ping(octx).Err(); err != nil {
		return fail("connect to Redis at", err)
	}
	for _, s := range []*redis.Script{reserveScript, cancelScript, penalizeScript, peekScript, heartbeatScript} {
		if err := s.Load(octx, l.rdb).Err(); err != nil {
			return fail("load scripts into Redis at", err)
		}
	}
	// Scripts read TIME and INFO: make sure this server lets them.
	for _, bk := range l.buckets {
		if _, err := bk.peek(octx); err != nil {
			return fail("run a script on Redis at", err)
		}
		break
	}
	ps := l.rdb.Subscribe(octx, l.keys.channel())
	if err := awaitSubscription(octx, ps); err != nil {
		_ = ps.Close()
		return fail("subscribe on Redis at", err)
	}
	l.sub.up()
	if err := l.heartbeat(octx); err != nil {
		_ = ps.Close()
		return fail("register with Redis at", err)
	}

	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.ps.Store(ps)
	l.wg.Add(2 + len(l.buckets))
	go l.listen(ps)
	go l.beat()
	for _, bk := range l.buckets {
		go bk.run()
	}
	return l, nil
}

// options reads cfg's URL into go-redis options, and returns the secrets
// to keep out of error texts.
func options(cfg Config) (*redis.Options, []string, error) {
	if cfg.Group == "" {
		return nil, nil, &Error{Op: "open", Err: errors.New("no quota group"),
			hint: "name the quota group that every process of the organization shares"}
	}
	if cfg.URL == "" {
		return nil, nil, &Error{Op: "open", Err: errors.New("no Redis URL"), hint: hintURL}
	}
	secrets := []string{cfg.Password}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		// url.Parse's error quotes the whole URL, password and all.
		return nil, nil, &Error{Op: "open", Err: errors.New("the Redis URL cannot be read"), hint: hintURL}
	}
	if p, ok := u.User.Password(); ok {
		secrets = append(secrets, p, url.QueryEscape(p), url.PathEscape(p))
	}
	opt, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, nil, &Error{Op: "open", Err: redact(err, secrets), hint: hintURL}
	}
	if opt.Password == "" {
		opt.Password = cfg.Password
	}
	// Short timeouts: a Wait must notice a lost Redis in seconds (and
	// report it), not hang on a socket. go-redis retries a failed command
	// twice: the reserve script is idempotent per request.
	if opt.DialTimeout == 0 {
		opt.DialTimeout = 2 * time.Second
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = time.Second
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = time.Second
	}
	if opt.MaxRetries == 0 {
		opt.MaxRetries = 2
	}
	opt.DialerRetries = 1
	opt.PoolSize = max(opt.PoolSize, 8)
	opt.ContextTimeoutEnabled = true
	opt.DisableIdentity = true // CLIENT SETINFO: a round trip per connection, for nothing here
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return opt, secrets, nil
}

// procRecord is a heartbeat's JSON.
type procRecord struct {
	ID       string    `json:"id"`
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	In       string    `json:"in"`
	Out      string    `json:"out"`
	Version  string    `json:"version"`
	Started  time.Time `json:"started"`
	DailyCap int64     `json:"daily_cap,omitempty"`
}

// heartbeat refreshes this process's key (see heartbeatScript).
func (l *Limiter) heartbeat(ctx context.Context) error {
	ks := []string{l.keys.proc(l.id), l.keys.procs()}
	for _, b := range ratelimit.Buckets() {
		ks = append(ks, l.keys.pend(b))
	}
	return heartbeatScript.Run(ctx, l.rdb, ks, l.id, l.record, heartbeatTTL.Milliseconds(), pendKeep.Microseconds()).Err()
}

// beat keeps the heartbeat going until Close. Its failures count, like any
// other, towards Health: an idle process notices a lost Redis too.
func (l *Limiter) beat() {
	defer l.wg.Done()
	t := time.NewTicker(l.cfg.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(l.ctx, callTimeout)
		err := l.heartbeat(ctx)
		cancel()
		switch {
		case l.ctx.Err() != nil:
			return
		case err != nil:
			l.health.fail(err)
		default:
			l.health.ok()
		}
	}
}

// Wait blocks until one request may be sent on b, or ctx is done. This
// process's callers queue first come first served; the one at the head has
// the process's single reservation in Redis at a time, and whoever is at
// the head when the slot comes gets it (a caller that gives up passes the
// slot on). Wait fails with [ratelimit.ErrPostBudgetSpent] once MaxPosts
// POSTs were granted, with [ratelimit.ErrDailyCapReached] once the group
// spent DailyPosts today, and with ctx.Err() when ctx is done first. While
// Redis cannot be reached it grants nothing and keeps trying (see
// [Limiter.Health]).
func (l *Limiter) Wait(ctx context.Context, b ratelimit.Bucket) error {
	bk := l.buckets[b]
	if bk == nil {
		return fmt.Errorf("redisquota: unknown bucket %q", b)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	post := l.cfg.MaxPosts > 0 && bk.post
	if post && l.posts.Add(1) > l.cfg.MaxPosts {
		l.posts.Add(-1)
		return ratelimit.ErrPostBudgetSpent
	}
	w := &waiter{began: time.Now(), done: make(chan error, 1)}
	err := bk.enqueue(w)
	if err == nil {
		select {
		case err = <-w.done:
		case <-ctx.Done():
			if bk.remove(w) {
				err = ctx.Err()
			} else {
				err = <-w.done // answered meanwhile: take the answer
			}
		}
		bk.account(w)
	}
	if err != nil {
		if post {
			l.posts.Add(-1) // not granted: it does not count
		}
		return err
	}
	// Outside every lock: the callback may write to disk.
	if fn := l.onGrant.Load(); fn != nil {
		(*fn)(b, w.at)
	}
	return nil
}

// Throttled reports a 429 on b for the whole group, as
// [ratelimit.Set.Throttled] does for one process: every process's callers
// on b pause until now+retryAfter (or a back-off when retryAfter is 0),
// and b's shared rate drops, then recovers. Processes that hold a slot
// inside the new pause drop it when they hear of the pause, and reserve
// again. If Redis cannot be reached, Throttled keeps trying in the
// background (nothing is granted meanwhile anyway).
func (l *Limiter) Throttled(b ratelimit.Bucket, retryAfter time.Duration) {
	bk := l.buckets[b]
	if bk == nil {
		return
	}
	bk.throttles.Add(1)
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	err := bk.penalize(ctx, retryAfter)
	if err == nil {
		l.health.ok()
		return
	}
	l.health.fail(err)
	began := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for try := 1; ; try++ {
			if !sleepCtx(l.ctx, backoff(try)) || time.Since(began) > l.maxPause {
				return
			}
			ctx, cancel := context.WithTimeout(l.ctx, callTimeout)
			err := bk.penalize(ctx, retryAfter)
			cancel()
			if err == nil {
				l.health.ok()
				return
			}
			l.health.fail(err)
		}
	}()
}

// Stats returns a snapshot of every bucket, as [ratelimit.Set.Stats]:
// Waiting, LongestWait, Throttles and Waited are this process's; Rate and
// PausedUntil are the group's as this process last heard of them.
func (l *Limiter) Stats() ratelimit.Stats {
	now := time.Now()
	st := make(ratelimit.Stats, len(l.buckets))
	for b, bk := range l.buckets {
		st[b] = bk.stats(now)
	}
	return st
}

// Interval returns the spacing of grants on b, (Window+margin)/N rounded up
// as [ratelimit.Set.Interval] does; 0 if l has no bucket b. While b is
// slowed after a 429, grants come further apart.
func (l *Limiter) Interval(b ratelimit.Bucket) time.Duration {
	if bk := l.buckets[b]; bk != nil {
		return bk.interval
	}
	return 0
}

// Limit returns the limit of bucket b, and whether l has b.
func (l *Limiter) Limit(b ratelimit.Bucket) (ratelimit.Limit, bool) {
	if bk := l.buckets[b]; bk != nil {
		return bk.limit, true
	}
	return ratelimit.Limit{}, false
}

// Restore does nothing. A private limiter needs the last run's grants to
// resume its pacing; here the group's pacing lives in Redis and outlives
// any one process (and a Redis that lost it holds every bucket back until
// the grants it may have forgotten are out of the window). Restoring one
// process's journal into it could only be wrong: those grants are already
// in the sequence.
func (l *Limiter) Restore(b ratelimit.Bucket, grants []time.Time) {}

// OnGrant makes fn be called once for each successful [Limiter.Wait] with
// the bucket and the time of the grant on the local clock, before Wait
// returns, as [ratelimit.Set.OnGrant]: in the Wait's goroutine, outside
// every lock. fn replaces any earlier callback; nil removes it.
func (l *Limiter) OnGrant(fn func(b ratelimit.Bucket, at time.Time)) {
	if fn == nil {
		l.onGrant.Store(nil)
		return
	}
	l.onGrant.Store(&fn)
}

// RestoreSpent does nothing: Redis counts the group's POSTs of the day.
func (l *Limiter) RestoreSpent(day time.Time, n int64) {}

// Health reports whether Redis answers. While it does not, ok is false,
// reason says why and since is when it began; nothing is granted meanwhile.
func (l *Limiter) Health() (ok bool, reason string, since time.Time) {
	return l.health.get()
}

// Close stops the heartbeat and removes this process's key, gives back a
// reservation it holds (the next slot of the group when it is the latest
// booked; an earlier one stays a gap), fails the callers still in Wait and
// closes the connection. Close is idempotent.
func (l *Limiter) Close() error {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.cancel()
		if ps := l.ps.Load(); ps != nil {
			_ = ps.Close() // go-redis does not end a blocked read on ctx
		}
		l.wg.Wait() // the buckets give their reservations back on the way out
		for _, bk := range l.buckets {
			bk.failAll(errClosed, true)
		}
		if !l.abrupt.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			_, err := l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Del(ctx, l.keys.proc(l.id))
				p.ZRem(ctx, l.keys.procs(), l.id)
				return nil
			})
			cancel()
			if err != nil {
				l.log.Debug("redisquota: could not remove this process's heartbeat; it expires by itself", "error", err)
			}
			l.err = l.rdb.Close()
		} else {
			_ = l.rdb.Close()
		}
	})
	return l.err
}

// health tracks whether Redis answers, for Health and the warnings.
type health struct {
	log *slog.Logger

	mu     sync.Mutex
	down   bool
	since  time.Time
	reason string
	warned time.Time
}

func (h *health) fail(err error) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down {
		h.down, h.since = true, now
	}
	h.reason = "Redis cannot be reached: " + err.Error()
	if h.warned.IsZero() || now.Sub(h.warned) >= warnEvery {
		h.warned = now
		h.log.Warn("redisquota: Redis cannot be reached; no request is sent until it answers", "error", err, "since", h.since)
	}
}

func (h *health) ok() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		h.down = false
		h.log.Info("redisquota: Redis answers again", "after", time.Since(h.since).Round(time.Millisecond))
	}
}

func (h *health) get() (bool, string, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		return false, h.reason, h.since
	}
	return true, "", time.Time{}
}

// backoff returns the pause before attempt try (from 1) to reach Redis
// again: doubling from 50ms, capped at maxBackoff, jittered to [½, 1) of it
// so the processes of a group do not come back all at once.
func backoff(try int) time.Duration {
	d := 50 * time.Millisecond
	for i := 1; i < try && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)))
}

// sleepCtx waits d, or until ctx is done: false then.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
