package redisquota

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"hotfolder/ratelimit"
)

// Status is the group as a person checks it (hotfolder status -redis).
// Times are on the Redis server's clock.
type Status struct {
	Group      string
	Processes  []ProcessStatus                   // alive now (heartbeat not expired), oldest first
	Buckets    map[ratelimit.Bucket]BucketStatus // the buckets the group has used
	PostsToday int64                             // POSTs granted today, all processes
	DailyCap   int64                             // the cap the processes keep today; 0 if none set one
	Day        string                            // the UTC day counted, YYYY-MM-DD
}

// ProcessStatus is one live process of the group.
type ProcessStatus struct {
	ID, Host string
	PID      int
	In, Out  string
	Version  string
	Started  time.Time // on the process's clock
	Seen     time.Time // its last heartbeat
}

// BucketStatus is one quota of the group.
type BucketStatus struct {
	GrantsLastMinute int       // slots granted in the last 60 s, all processes
	PausedUntil      time.Time // end of the 429 pause in force; zero if none
	Rate             float64   // fraction of the limit allowed now: below 1 while slowed after a 429
}

// ReadStatus reads the group's state from Redis without changing it. It
// needs only cfg's URL, Password and Group. Its errors are [*Error] values.
func ReadStatus(ctx context.Context, cfg Config) (Status, error) {
	opt, secrets, err := options(cfg)
	if err != nil {
		err.(*Error).Op = "status"
		return Status{}, err
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	st, err := readStatus(ctx, rdb, groupKeys(cfg.Group))
	if err != nil {
		return Status{}, classify("status", fmt.Errorf("read the quota group from Redis at %s: %w", opt.Addr, err), secrets)
	}
	st.Group = cfg.Group
	return st, nil
}

// rawStatus is statusScript's JSON.
type rawStatus struct {
	Now     string            `json:"now"`
	Day     string            `json:"day"`
	Procs   map[string]string `json:"procs"` // client id -> heartbeat expiry
	D       string            `json:"d"`
	N       string            `json:"n"`
	Cap     string            `json:"cap"`
	Buckets map[string]struct {
		Pause    string `json:"pause"`
		SlowTo   string `json:"slow_to"`
		SlowFrom string `json:"slow_from"`
		W        string `json:"w"`
		Rec      string `json:"rec"`
		Known    string `json:"known"`
		Grants   string `json:"grants"`
	} `json:"buckets"`
}

func readStatus(ctx context.Context, rdb *redis.Client, k keys) (Status, error) {
	bs := ratelimit.Buckets()
	ks := []string{k.procs(), k.day()}
	args := make([]any, 0, len(bs))
	for _, b := range bs {
		ks = append(ks, k.st(b), k.log(b))
		args = append(args, string(b))
	}
	raw, err := statusScript.Run(ctx, rdb, ks, args...).Text()
	if err != nil {
		return Status{}, err
	}
	var r rawStatus
	// cjson writes an empty table as {}, which suits the maps.
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return Status{}, fmt.Errorf("read the status script's reply: %w", err)
	}
	num := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	flt := func(s string) float64 { f, _ := strconv.ParseFloat(s, 64); return f }
	now := num(r.Now)
	st := Status{Buckets: make(map[ratelimit.Bucket]BucketStatus)}
	day := num(r.Day)
	st.Day = time.Unix(day*86400, 0).UTC().Format(time.DateOnly)
	if r.D == r.Day {
		st.PostsToday, st.DailyCap = num(r.N), num(r.Cap)
	}
	for name, b := range r.Buckets {
		if b.Known != "1" {
			continue
		}
		g, _ := strconv.Atoi(b.Grants)
		s := BucketStatus{GrantsLastMinute: g, Rate: 1}
		if p := num(b.Pause); p > now {
			s.PausedUntil = time.UnixMicro(p).UTC()
		}
		// The factor as the reserve script works it out.
		f, from, w := flt(b.SlowTo), num(b.SlowFrom), num(b.W)
		if f < 1 && now > from && w > 0 {
			f += flt(b.Rec) * math.Floor(float64(now-from)/float64(w))
		}
		s.Rate = min(f, 1)
		st.Buckets[ratelimit.Bucket(name)] = s
	}

	ids := make([]string, 0, len(r.Procs))
	for id := range r.Procs {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return st, nil
	}
	sort.Strings(ids)
	pk := make([]string, len(ids))
	for i, id := range ids {
		pk[i] = k.proc(id)
	}
	recs, err := rdb.MGet(ctx, pk...).Result()
	if err != nil {
		return Status{}, err
	}
	for i, v := range recs {
		s, ok := v.(string)
		if !ok {
			continue // expired between the two reads
		}
		var pr procRecord
		if json.Unmarshal([]byte(s), &pr) != nil {
			continue
		}
		seen := num(r.Procs[ids[i]]) - heartbeatTTL.Microseconds()
		st.Processes = append(st.Processes, ProcessStatus{
			ID: ids[i], Host: pr.Host, PID: pr.PID, In: pr.In, Out: pr.Out, Version: pr.Version,
			Started: pr.Started, Seen: time.UnixMicro(seen).UTC(),
		})
	}
	sort.SliceStable(st.Processes, func(i, j int) bool { return st.Processes[i].Started.Before(st.Processes[j].Started) })
	return st, nil
}
