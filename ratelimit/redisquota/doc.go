// Package redisquota shares Adobe's per-organization quotas among every
// hotfolder process of a group, through Redis. A [Limiter] has the API of
// [ratelimit.Set] and keeps its guarantees for the union of the processes:
// no window of length W ever holds more than N of their requests on a
// bucket, a 429 seen by any of them pauses and slows the bucket for all,
// and busy processes share the rate fairly.
//
// # The sequencer
//
// Each (group, bucket) is one GCRA sequence with burst 1 in Redis, stamped
// with the Redis server's clock (TIME inside the scripts), never a host's.
// A script reserves the next slot, slot = max(now, tat, pause), and moves
// tat to slot + T, T = (W+margin)/N rounded up as ratelimit.Set does (longer
// while slowed after a 429); it answers how long to wait, and the process
// sleeps that long on its monotonic clock from the moment the reply
// arrived: a send later than the slot, never earlier. Any N+1 grants then
// span N·T = W+margin on the Redis clock, so no window of W holds more than
// N as long as the delays from slot to arrival at Adobe differ by less than
// the margin; half of the margin is kept for the Redis round trip, and a
// slot that would fire later than that (a slow reply, a retried request) is
// not used but reserved again.
//
// # Fairness
//
// A process holds at most one reservation per bucket at a time: its
// callers of Wait queue first come first served, and the reservation goes
// to whoever is at the head when the slot comes. The script enforces it
// per client id too. Busy processes therefore take turns, each about 1/k of
// the grants; an idle one reserves nothing, so a lone busy one runs at the
// full rate. A slot never lies further ahead than the horizon H; a process
// refused for lack of room is put on a wait list and served before newcomers,
// so processes that reserve the instant their slot fires cannot starve it.
//
// # 429s
//
// [Limiter.Throttled] runs a script that pauses the bucket for the group
// (Retry-After, or a back-off doubling with consecutive 429s), lowers its
// rate by ×0.7 (never below 0.1 of the limit) and lets it recover by 5% of
// the limit per quiet window, all worked out from the Redis clock, as
// ratelimit.Set does for one process; it publishes the new pause on the
// group's channel. A process that holds a slot inside the pause drops it
// and reserves again. Should the subscription have been down since the
// slot was reserved, the process asks Redis before firing instead.
//
// # Failures
//
// Nothing is granted without Redis: a Wait keeps trying with a jittered
// back-off capped at 5 s, logs a warning at most once a minute and one line
// when Redis answers again, and [Limiter.Health] reports it. There is no
// fallback to a private limiter, which would ignore the other processes.
//
// A Redis that comes back without the group's state (a restart without
// persistence, a failover to a replica that missed writes) could otherwise
// grant at once while slots it forgot are still being sent. The scripts
// store the run_id of the server that wrote a bucket's state; when the
// state is missing or another server wrote it, the bucket is fenced: its
// next slot is no sooner than now + H + W + margin, after every slot booked
// before the loss (at most H ahead) has left the window. The cost is one
// such pause per bucket and incident, and also at the very first use of a
// bucket in a fresh Redis. Run Redis with appendonly and maxmemory-policy
// noeviction, and keep its host's clock from stepping (chrony slewing):
// TIME is not monotonic. A daily count kept in a Redis that lost it starts
// again from zero, so keep DailyPosts a little below the real budget.
//
// go-redis resends a script after a timeout, so the reserve script is
// idempotent per (client id, request id): a resent request gets its slot
// again and books nothing more.
//
// # Keys
//
// Every key of a group starts with hf:{tag}:, the tag being the group's
// safe characters and a hash of its name, so that a Redis Cluster keeps the
// group in one slot. Per bucket: b:NAME:st (HASH: tat, pause, run_id, rate),
// b:NAME:pend (HASH: each client's latest reservation), b:NAME:wl (HASH:
// the wait list), b:NAME:log (ZSET: the last minute's slots). For the
// group: day (HASH: the UTC day of the Redis clock and its POST count),
// proc:ID (a process's heartbeat, expiring after 15 s), procs (ZSET: the
// live processes) and the channel ev. Every script is O(1) or O(k) in the
// group's processes; none uses KEYS or SCAN.
package redisquota
