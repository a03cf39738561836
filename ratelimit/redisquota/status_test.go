package redisquota

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"hotfolder/ratelimit"
	"hotfolder/ratelimit/redisquota/redistest"
)

// TestReadStatus: the processes alive, grants in the last minute, a pause
// in force and the POSTs of the day, as a person reads them.
func TestReadStatus(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	p := ratelimit.Profile{
		ratelimit.Post: {N: 10, Window: 200 * time.Millisecond},
		ratelimit.Get:  {N: 10, Window: 200 * time.Millisecond},
	}
	group := "acme {org} / ünïcode" // any string is a group
	prime(t, srv, group, ratelimit.Post, ratelimit.Get)
	procs := []Process{
		{Host: "host-a", PID: 101, In: "/in/a", Out: "/out/a", Version: "v1.2.3"},
		{Host: "host-b", PID: 202, In: "/in/b", Out: "/out/b", Version: "v1.2.4"},
	}
	var ls []*Limiter
	for _, pr := range procs {
		ls = append(ls, openT(t, srv, group, p, func(c *Config) { c.Process = pr; c.DailyPosts = 100 }))
	}
	ctx := context.Background()
	for range 3 {
		if err := ls[0].Wait(ctx, ratelimit.Get); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := ls[1].Wait(ctx, ratelimit.Post); err != nil {
			t.Fatal(err)
		}
	}
	ls[0].Throttled(ratelimit.Post, 10*time.Second)

	st, err := ReadStatus(ctx, Config{URL: srv.URL, Group: group})
	if err != nil {
		t.Fatal(err)
	}
	if st.Group != group || len(st.Processes) != 2 {
		t.Fatalf("status: group %q, %d processes: %+v", st.Group, len(st.Processes), st.Processes)
	}
	for i, ps := range st.Processes {
		want := procs[i]
		if ps.Host != want.Host || ps.PID != want.PID || ps.In != want.In || ps.Out != want.Out || ps.Version != want.Version ||
			ps.ID != ls[i].id || ps.Started.IsZero() || time.Since(ps.Seen).Abs() > 10*time.Second {
			t.Errorf("process %d: %+v, want %+v", i, ps, want)
		}
	}
	if g := st.Buckets[ratelimit.Get]; g.GrantsLastMinute != 3 || !g.PausedUntil.IsZero() || g.Rate != 1 {
		t.Errorf("get: %+v, want 3 grants, no pause, rate 1", g)
	}
	post := st.Buckets[ratelimit.Post]
	if post.GrantsLastMinute != 2 || time.Until(post.PausedUntil) < 5*time.Second || post.Rate > 0.71 || post.Rate < 0.69 {
		t.Errorf("post: %+v, want 2 grants, paused ~10s, rate 0.7", post)
	}
	if _, ok := st.Buckets[ratelimit.RemoveBackgroundPost]; ok {
		t.Errorf("an unused bucket is listed")
	}
	if st.PostsToday != 2 || st.DailyCap != 100 || st.Day != time.Now().UTC().Format(time.DateOnly) {
		t.Errorf("day: %d POSTs, cap %d, day %s", st.PostsToday, st.DailyCap, st.Day)
	}

	if err := ls[1].Close(); err != nil {
		t.Fatal(err)
	}
	st, err = ReadStatus(ctx, Config{URL: srv.URL, Group: group})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Processes) != 1 || st.Processes[0].Host != "host-a" {
		t.Errorf("after one closed: %+v", st.Processes)
	}
	// Another group sees none of it.
	other, err := ReadStatus(ctx, Config{URL: srv.URL, Group: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if len(other.Processes) != 0 || len(other.Buckets) != 0 || other.PostsToday != 0 {
		t.Errorf("another group: %+v", other)
	}
}

// fatalHint is what callers see of an error: uploader.IsFatal and
// uploader.Hint read the same methods.
func fatalHint(err error) (bool, string) {
	var f interface{ Fatal() bool }
	var h interface{ Hint() string }
	fatal := errors.As(err, &f) && f.Fatal()
	hint := ""
	if errors.As(err, &h) {
		hint = h.Hint()
	}
	return fatal, hint
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const pw = "s3cret-Passw0rd"
	p := ratelimit.Profile{ratelimit.Post: {N: 2, Window: time.Second}}
	for _, cfg := range []Config{
		{URL: "redis://:" + pw + "@" + addr, Group: "g", Profile: p},
		{URL: "redis://" + addr, Password: pw, Group: "g", Profile: p},
		{URL: "unix:///nonexistent/redis.sock", Password: pw, Group: "g", Profile: p},
	} {
		began := time.Now()
		l, err := Open(context.Background(), cfg)
		if err == nil {
			l.Close()
			t.Fatalf("Open(%s) succeeded", addr)
		}
		fatal, hint := fatalHint(err)
		if !fatal || !strings.Contains(hint, "redis-server") {
			t.Errorf("Open: %v: fatal %v, hint %q", err, fatal, hint)
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(hint, pw) {
			t.Errorf("the password shows in %q", err)
		}
		if took := time.Since(began); took > 5*time.Second {
			t.Errorf("Open took %v to fail", took)
		}
		t.Logf("%v (hint: %s)", err, hint)
	}
}

func TestOpenPassword(t *testing.T) {
	t.Parallel()
	const right, wrong = "right-Passw0rd", "wrong-Passw0rd"
	srv := redistest.Start(t, redistest.WithPassword(right))
	p := ratelimit.Profile{ratelimit.Post: {N: 2, Window: time.Second}}
	for _, tc := range []struct {
		cfg  Config
		hint string
	}{
		{Config{URL: srv.URL, Password: wrong}, "REDIS_PASSWORD"},
		{Config{URL: "redis://:" + wrong + "@" + srv.Addr}, "REDIS_PASSWORD"},
		{Config{URL: "redis://default:" + wrong + "@" + srv.Addr}, "REDIS_PASSWORD"},
		{Config{URL: srv.URL}, "wants a password"},
	} {
		tc.cfg.Group, tc.cfg.Profile = "g", p
		l, err := Open(context.Background(), tc.cfg)
		if err == nil {
			l.Close()
			t.Fatalf("Open with the wrong password succeeded")
		}
		fatal, hint := fatalHint(err)
		if !fatal || !strings.Contains(hint, tc.hint) {
			t.Errorf("Open: %v: fatal %v, hint %q, want %q", err, fatal, hint, tc.hint)
		}
		if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), right) {
			t.Errorf("a password shows in %q", err)
		}
		t.Logf("%v (hint: %s)", err, hint)
	}
	// The right one, from Password (REDIS_PASSWORD) or the URL.
	for _, cfg := range []Config{
		{URL: srv.URL, Password: right},
		{URL: "redis://:" + right + "@" + srv.Addr, Password: wrong},
	} {
		cfg.Group, cfg.Profile = "g", p
		l, err := Open(context.Background(), cfg)
		if err != nil {
			t.Fatalf("Open with the right password: %v", err)
		}
		l.Close()
	}
}

func TestOpenBadConfig(t *testing.T) {
	t.Parallel()
	const pw = "s3cret-Passw0rd"
	p := ratelimit.Profile{ratelimit.Post: {N: 2, Window: time.Second}}
	for _, cfg := range []Config{
		{URL: "redis://:" + pw + "@127.0.0.1:notaport", Group: "g", Profile: p},
		{URL: "redis://:" + pw + "@127.0.0.1:6379/notadb", Group: "g", Profile: p},
		{URL: "http://:" + pw + "@127.0.0.1:6379", Group: "g", Profile: p},
		{URL: "redis://127.0.0.1:6379", Group: "", Profile: p},
		{URL: "", Group: "g", Profile: p},
		{URL: "redis://127.0.0.1:6379", Group: "g"},
	} {
		_, err := Open(context.Background(), cfg)
		fatal, hint := fatalHint(err)
		if err == nil || !fatal || hint == "" {
			t.Errorf("Open(%+v): %v, fatal %v, hint %q", cfg.Group, err, fatal, hint)
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("the password shows in %q", err)
		}
	}
}

// TestGroupTag: any group name makes one well-formed hash tag, and
// different names different tags.
func TestGroupTag(t *testing.T) {
	seen := map[string]string{}
	for _, g := range []string{"acme", "Acme", "acme}", "{acme}", "ac{me", "a c m e", "ünïcode", "", strings.Repeat("x", 500), "acme\x00"} {
		k := groupKeys(g).st(ratelimit.Post)
		open, close := strings.Index(k, "{"), strings.Index(k, "}")
		if strings.Count(k, "{") != 1 || strings.Count(k, "}") != 1 || open > close || close-open > 64 {
			t.Errorf("group %q: key %q", g, k)
		}
		tag := k[open+1 : close]
		if other, ok := seen[tag]; ok {
			t.Errorf("groups %q and %q share the tag %q", g, other, tag)
		}
		seen[tag] = g
	}
}
