package redisquota

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"hotfolder/ratelimit"
)

// subPoll is how long the listener waits for a message before it pings:
// two unanswered polls in a row and the connection is taken for dead.
const subPoll = 2 * time.Second

// subscription tracks whether the group's channel is heard. Each time the
// subscription is (re)established its epoch grows; a slot reserved while
// it was up, and fired while it is still up in the same epoch, cannot have
// missed a pause published in between (short of a connection that died
// without a sign, within two polls). Otherwise the slot is confirmed with
// Redis before it fires.
type subscription struct {
	mu      sync.Mutex
	healthy bool
	epoch   uint64
}

func (s *subscription) up() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.healthy = true
	s.epoch++
}

func (s *subscription) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.healthy = false
}

// token returns the current epoch, or 0 while the channel is not heard.
func (s *subscription) token() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.healthy {
		return 0
	}
	return s.epoch
}

// trusted reports whether nothing published since token was taken can
// have been missed.
func (s *subscription) trusted(token uint64) bool {
	return token != 0 && s.token() == token
}

// awaitSubscription reads ps until Redis confirms the subscription.
func awaitSubscription(ctx context.Context, ps *redis.PubSub) error {
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			return err
		}
		if s, ok := msg.(*redis.Subscription); ok && s.Kind == "subscribe" {
			return nil
		}
	}
}

// listen hears the group's channel until Close: each message is a 429's
// new pause and rate. go-redis reconnects and subscribes again by itself
// after an error; a connection that goes quiet is replaced.
func (l *Limiter) listen(ps *redis.PubSub) {
	defer l.wg.Done()
	defer func() { _ = ps.Close() }()
	quiet, fails := 0, 0
	for {
		msg, err := ps.ReceiveTimeout(l.ctx, subPoll)
		if l.ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && quiet < 2 {
				quiet++
				// The pong, or an error, comes on the next receive.
				_ = ps.Ping(l.ctx)
				continue
			}
			l.sub.down()
			if quiet >= 2 {
				l.log.Debug("redisquota: the group's channel went quiet; subscribing again")
				_ = ps.Close()
				ps = l.rdb.Subscribe(l.ctx, l.keys.channel())
				l.ps.Store(ps)
			}
			quiet = 0
			fails++
			if !sleepCtx(l.ctx, backoff(fails)) {
				return
			}
			continue
		}
		quiet, fails = 0, 0
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				l.sub.up()
			}
		case *redis.Message:
			l.hear(m.Payload, time.Now())
		}
	}
}

// hear applies a message of penalizeScript: "bucket pause now factor srv".
func (l *Limiter) hear(payload string, recv time.Time) {
	f := strings.Fields(payload)
	if len(f) != 5 {
		return
	}
	bk := l.buckets[ratelimit.Bucket(f[0])]
	pause, err1 := strconv.ParseInt(f[1], 10, 64)
	now, err2 := strconv.ParseInt(f[2], 10, 64)
	factor, err3 := strconv.ParseFloat(f[3], 64)
	if bk == nil || err1 != nil || err2 != nil || err3 != nil {
		return
	}
	bk.learn(pauseInfo{srv: f[4], until: pause, local: recv.Add(micros(pause - now))}, factor)
}
