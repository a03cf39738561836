package progress

import (
	"strings"
	"testing"
	"time"

	"hotfolder/ratelimit"
	"hotfolder/ratelimit/redisquota"
)

func TestWriteGroup(t *testing.T) {
	now := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	st := redisquota.Status{
		Group: "org-3f2a", PostsToday: 412, DailyCap: 20000, Day: "2026-12-06",
		Processes: []redisquota.ProcessStatus{
			{Host: "studio-a", PID: 4121, In: "/srv/hot", Out: "/srv/done", Version: "v1.4.0", Started: now.Add(-3 * time.Hour), Seen: now.Add(-2 * time.Second)},
			{Host: "studio-b", PID: 77, In: "/srv/hot\nb", Out: "/srv/done-b", Version: "(devel)", Started: now.Add(-time.Minute), Seen: now},
		},
		Buckets: map[ratelimit.Bucket]redisquota.BucketStatus{
			ratelimit.RemoveBackgroundPost: {GrantsLastMinute: 39, Rate: 0.7, PausedUntil: now.Add(4 * time.Second)},
			ratelimit.Get:                  {GrantsLastMinute: 120, Rate: 1},
		},
	}
	var b strings.Builder
	WriteGroup(&b, st, now)
	want := "quota group org-3f2a: 2 hotfolders alive, 412 POSTs today (2026-12-06, cap 20000)\n" +
		"  studio-a pid 4121, /srv/hot → /srv/done, v1.4.0, up 3h00m, seen 2s ago\n" +
		"  studio-b pid 77, \"/srv/hot\\nb\" → /srv/done-b, (devel), up 1m00s, seen 0s ago\n" +
		"  get: 120 grants in the last minute, rate 100%\n" +
		"  remove-background.post: 39 grants in the last minute, rate 70%\n" +
		"  remove-background.post: paused for 4s more after a 429\n"
	if got := b.String(); got != want {
		t.Errorf("WriteGroup:\n%s\nwant\n%s", got, want)
	}
}
