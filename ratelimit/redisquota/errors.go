package redisquota

import (
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Error is the error of [Open] and [ReadStatus] when the shared quota
// cannot be used at all: a wrong configuration, a Redis that cannot be
// reached, or one that refuses the password or the commands. It is fatal
// (the run stops: hotfolder never falls back to a limiter of its own, which
// would ignore the other processes) and carries a hint for a person. Its
// text never holds the password.
type Error struct {
	Op  string // "open" or "status"
	Err error  // what went wrong, with any password already removed from its text

	hint string
}

func (e *Error) Error() string { return "redisquota: " + e.Op + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Fatal reports that the error stops the run: it is always true.
func (e *Error) Fatal() bool { return true }

// Hint says what to do about the error.
func (e *Error) Hint() string { return e.hint }

const (
	hintUnreachable = "check -redis and that redis-server runs and can be reached from this host"
	hintAuth        = "Redis refused the password: set REDIS_PASSWORD (or user:password in the -redis URL) to the password of the Redis user"
	hintNoAuth      = "Redis wants a password: set REDIS_PASSWORD (or user:password in the -redis URL)"
	hintPerm        = "the Redis user may not run what the shared quota needs: allow it EVAL, EVALSHA, SCRIPT, INFO, TIME, PUBLISH, SUBSCRIBE, MGET, GET, SET, DEL and the hash and sorted-set commands on keys hf:*"
	hintURL         = "-redis takes redis://[user:password@]host:port[/db], rediss://… for TLS, or unix:///path/to.sock[?db=N]"
)

// classify wraps err from talking to Redis at start into an *Error with the
// hint that fits it, removing secrets from its text.
func classify(op string, err error, secrets []string) *Error {
	e := &Error{Op: op, Err: redact(err, secrets), hint: hintUnreachable}
	switch {
	case redis.HasErrorPrefix(err, "NOAUTH"):
		e.hint = hintNoAuth
	case redis.IsAuthError(err) || redis.HasErrorPrefix(err, "WRONGPASS") ||
		redis.HasErrorPrefix(err, "AUTH") || strings.Contains(err.Error(), "invalid password"):
		// "ERR AUTH <password> called without any password configured"
		// is a password the server does not expect: also the password's fault.
		e.hint = hintAuth
	case redis.IsPermissionError(err) || redis.HasErrorPrefix(err, "NOPERM"):
		e.hint = hintPerm
	}
	return e
}

// redacted is an error whose text has the secrets blanked out; errors.Is
// and errors.As still see the original.
type redacted struct {
	err     error
	secrets []string
}

func (r *redacted) Error() string { return scrub(r.err.Error(), r.secrets) }
func (r *redacted) Unwrap() error { return r.err }

func redact(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	return &redacted{err: err, secrets: secrets}
}

// scrub blanks every secret out of s.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "xxxxx")
		}
	}
	return s
}

// errClosed is Wait's error once the Limiter is closed.
var errClosed = errors.New("redisquota: the limiter is closed")
