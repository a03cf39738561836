package redisquota

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/redis/go-redis/v9"

	"hotfolder/ratelimit"
)

// keys names a group's Redis keys. Every key carries the same hash tag, so a
// Redis Cluster keeps the whole group in one slot and the scripts may touch
// any of them.
type keys struct {
	prefix string
}

func groupKeys(group string) keys {
	return keys{prefix: "hf:{" + groupTag(group) + "}:"}
}

// groupTag turns any group name into a hash tag: its safe characters (at
// most 32, for a person reading the keys) and a hash of the whole name (so
// that names differing only in the characters left out stay apart). A tag
// never holds '{' or '}', which would end it early.
func groupTag(group string) string {
	var b strings.Builder
	for _, r := range group {
		if b.Len() >= 32 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		}
	}
	sum := sha256.Sum256([]byte(group))
	return b.String() + "~" + hex.EncodeToString(sum[:6])
}

func (k keys) st(b ratelimit.Bucket) string   { return k.prefix + "b:" + string(b) + ":st" }
func (k keys) pend(b ratelimit.Bucket) string { return k.prefix + "b:" + string(b) + ":pend" }
func (k keys) log(b ratelimit.Bucket) string  { return k.prefix + "b:" + string(b) + ":log" }
func (k keys) wl(b ratelimit.Bucket) string   { return k.prefix + "b:" + string(b) + ":wl" }
func (k keys) day() string                    { return k.prefix + "day" }
func (k keys) procs() string                  { return k.prefix + "procs" }
func (k keys) proc(id string) string          { return k.prefix + "proc:" + id }
func (k keys) channel() string                { return k.prefix + "ev" }

// Reply codes of reserveScript.
const (
	codeGranted = 1 // a slot: wait µs from the script's now
	codeAhead   = 2 // no room within the horizon: ask again after wait µs
	codeHold    = 3 // the client still holds a live slot: ask again after wait µs
	codeDaily   = 4 // the daily POST cap is reached
	codeStale   = 5 // an older request than the client's latest: ignored
)

// All times in the scripts are integer microseconds of the Redis server's
// clock (TIME), never a host's: the client only ever turns a difference
// (slot - now) into a local sleep. Numbers are written with %.0f, since Lua
// 5.1's tostring keeps only 14 significant digits.
//
// Bucket state (HASH st): tat (the earliest next slot), pause (end of the
// 429 pause), srv (run_id of the server that wrote the state), gen (bumped
// by every 429 that changes the pause or rate), slow_to and slow_from (the
// rate factor after the last slowdown, and when its recovery starts), streak
// (consecutive 429s), w and rec (for ReadStatus to work out the factor).
//
// pend (HASH): client id -> "req:slot:tat_after:gen:day", the client's
// latest reservation. wl (HASH): client id -> "enqueued:deadline", clients
// waiting for room within the horizon, served in order. log (ZSET): the
// slots of the last minute, for ReadStatus. day (HASH): d (days since the
// epoch on the Redis clock), n (POSTs reserved that day), cap.

// reserveScript books the next slot of a bucket for one client.
//
// KEYS: st, pend, log, day, wl.
// ARGV: client, req, unfired (the client fired no slot of its requests
// from this id on; 0: none), T, W, M, H (µs), post (1/0), cap, recovery,
// grace (µs a waiting client has beyond its retry time to come back).
//
// Returns {code, wait, slot, now, pause, factor, srv, fenced}.
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local srv = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or 'unknown'
local client = ARGV[1]
local req, unfired = tonumber(ARGV[2]), tonumber(ARGV[3])
local T, W, M, H = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local post, cap, rec, grace = ARGV[8] == '1', tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local function s(x) return string.format('%.0f', x) end

local st = redis.call('HMGET', KEYS[1], 'tat', 'pause', 'srv', 'gen', 'slow_to', 'slow_from')
local tat = tonumber(st[1]) or 0
local pause = tonumber(st[2]) or 0
local gen = tonumber(st[4]) or 0
local f = tonumber(st[5]) or 1
local slow_from = tonumber(st[6]) or 0
if f < 1 and now > slow_from then f = f + rec * math.floor((now - slow_from) / W) end
if f > 1 then f = 1 end

-- The fence: no state, or state another server wrote (a restart without
-- persistence, a failover to a replica that missed writes). Grants booked
-- before the loss may still be sent up to H ahead of the old server's now,
-- so nothing is granted until they are all a window behind.
local fenced = 0
if st[3] ~= srv then
  tat = math.max(tat, now + H + W + M)
  fenced = 1
  redis.call('HSET', KEYS[1], 'tat', s(tat), 'srv', srv)
  redis.call('DEL', KEYS[2], KEYS[5])
end

local day = math.floor(now / 86400000000)
local function out(code, wait, slot)
  return {code, wait, slot, now, pause, string.format('%.4f', f), srv, fenced}
end
local function uncount(pday)
  local dd = redis.call('HMGET', KEYS[4], 'd', 'n')
  if tonumber(dd[1]) == pday and (tonumber(dd[2]) or 0) > 0 then redis.call('HINCRBY', KEYS[4], 'n', -1) end
end

-- The client's previous reservation: a retried request gets its slot
-- again (go-redis resends a script after a timeout); one the client never
-- fired is given back; a live one it did not give up is kept, and the
-- client must wait for it: at most one outstanding reservation each.
local raw = redis.call('HGET', KEYS[2], client)
if raw then
  local a, b, c, d, e = string.match(raw, '^(%d+):(%d+):(%d+):(%d+):(%d+)$')
  local preq, pslot, ptat, pgen, pday = tonumber(a), tonumber(b), tonumber(c), tonumber(d), tonumber(e)
  if preq == nil then
    redis.call('HDEL', KEYS[2], client)
  else
    -- A 429 since booked pushed the pause past the slot: the client drops
    -- such a slot when it hears of the pause.
    local voided = pgen < gen and pslot < pause
    local giveback = false
    if preq == req then
      if not voided then return out(1, pslot - now, pslot) end
      giveback = true
    elseif req < preq then
      return out(5, 0, 0)
    elseif unfired > 0 and preq >= unfired then
      giveback = true
    elseif pslot > now and not voided then
      return out(3, pslot - now, pslot)
    end
    if giveback then
      -- The tail slot goes back to the sequence; an earlier one is lost,
      -- which only leaves a gap.
      if pslot > now and tat == ptat then
        tat = pslot
        redis.call('HSET', KEYS[1], 'tat', s(tat))
      end
      if post then uncount(pday) end
      redis.call('ZREM', KEYS[3], client .. ':' .. s(preq))
    end
    redis.call('HDEL', KEYS[2], client)
  end
end

local dd = redis.call('HMGET', KEYS[4], 'd', 'n')
local n = 0
if tonumber(dd[1]) == day then n = tonumber(dd[2]) or 0 end
if post and cap > 0 and n >= cap then return out(4, (day + 1) * 86400000000 - now, 0) end

-- Room within the horizon, served in order of first refusal so that a
-- client refused for lack of room is not overtaken forever by those that
-- reserve the moment their slot fires.
local Teff = math.ceil(T / f)
local base = math.max(now, tat, pause)
local avail = 0
if base - now <= H then avail = math.floor((now + H - base) / Teff) + 1 end
local ahead, queued, enq = 0, false, now
if redis.call('HLEN', KEYS[5]) > 0 then
  local all = redis.call('HGETALL', KEYS[5])
  local list = {}
  for i = 1, #all, 2 do
    local e, dl = string.match(all[i + 1], '^(%d+):(%d+)$')
    e, dl = tonumber(e), tonumber(dl)
    if dl == nil or dl < now then
      redis.call('HDEL', KEYS[5], all[i])
    else
      list[#list + 1] = {all[i], e}
    end
  end
  table.sort(list, function(x, y)
    if x[2] ~= y[2] then return x[2] < y[2] end
    return x[1] < y[1]
  end)
  ahead = #list
  for i, x in ipairs(list) do
    if x[1] == client then ahead, queued, enq = i - 1, true, x[2]; break end
  end
end
if ahead >= avail then
  local retry = math.max(1000, base + ahead * Teff - H - now)
  redis.call('HSET', KEYS[5], client, s(enq) .. ':' .. s(now + retry + grace))
  redis.call('PEXPIRE', KEYS[5], math.ceil((retry + grace) / 1000) + 1000)
  return out(2, retry, 0)
end
if queued then redis.call('HDEL', KEYS[5], client) end

local slot = base
tat = slot + Teff
redis.call('HSET', KEYS[1], 'tat', s(tat), 'srv', srv, 'w', s(W), 'rec', ARGV[10])
redis.call('HSET', KEYS[2], client, s(req) .. ':' .. s(slot) .. ':' .. s(tat) .. ':' .. s(gen) .. ':' .. s(day))
redis.call('PEXPIRE', KEYS[2], math.ceil((H + W + M) / 1000) + 120000)
redis.call('ZADD', KEYS[3], s(slot), client .. ':' .. s(req))
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. s(now - 60000000))
redis.call('PEXPIRE', KEYS[3], math.ceil(H / 1000) + 120000)
if post then
  if tonumber(dd[1]) ~= day then redis.call('HDEL', KEYS[4], 'cap') end
  redis.call('HSET', KEYS[4], 'd', s(day), 'n', s(n + 1))
  if cap > 0 then redis.call('HSET', KEYS[4], 'cap', s(cap)) end
  redis.call('EXPIRE', KEYS[4], 172800)
end
return out(1, slot - now, slot)
`)

// cancelScript gives back a client's reservation that it will not use,
// and takes it off the wait list.
//
// KEYS: st, pend, log, day, wl. ARGV: client, unfired (the client fired no
// slot of its requests from this id on; 0: only leave the wait list), post
// (1/0).
var cancelScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local srv = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or 'unknown'
local client, req = ARGV[1], tonumber(ARGV[2])
redis.call('HDEL', KEYS[5], client)
if req == 0 then return 0 end
local raw = redis.call('HGET', KEYS[2], client)
if not raw then return 0 end
local a, b, c, d, e = string.match(raw, '^(%d+):(%d+):(%d+):(%d+):(%d+)$')
if tonumber(a) == nil or tonumber(a) < req then return 0 end
local pslot, ptat, pday = tonumber(b), tonumber(c), tonumber(e)
local st = redis.call('HMGET', KEYS[1], 'tat', 'srv')
if st[2] == srv and pslot > now and tonumber(st[1]) == ptat then
  redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', pslot))
end
if ARGV[3] == '1' then
  local dd = redis.call('HMGET', KEYS[4], 'd', 'n')
  if tonumber(dd[1]) == pday and (tonumber(dd[2]) or 0) > 0 then redis.call('HINCRBY', KEYS[4], 'n', -1) end
end
redis.call('ZREM', KEYS[3], client .. ':' .. a)
redis.call('HDEL', KEYS[2], client)
return 1
`)

// penalizeScript records a 429 for the whole group, as
// (*ratelimit.Set).Throttled does for one process: the pause grows to
// now+retry-after (or a back-off doubling with the streak), the rate drops
// by the slowdown factor unless the 429 answers a request sent before the
// pause began, and every process hears of it on the group's channel.
//
// KEYS: st. ARGV: W, N, retry-after (µs, 0: back off), max pause (µs),
// jitter in [0,1), slowdown, min rate, recovery, channel, bucket.
//
// Returns {pause, now, factor, srv}.
var penalizeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local srv = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or 'unknown'
local W, N, RA, maxP, r = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local slowdown, minRate, rec = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local function s(x) return string.format('%.0f', x) end
local st = redis.call('HMGET', KEYS[1], 'tat', 'pause', 'gen', 'slow_to', 'slow_from', 'streak')
local tat = tonumber(st[1]) or 0
local pause = tonumber(st[2]) or 0
local gen = tonumber(st[3]) or 0
local slow_to = tonumber(st[4]) or 1
local slow_from = tonumber(st[5]) or 0
local streak = tonumber(st[6]) or 0
if now >= pause + W then streak = 0 end
-- A 429 during a pause answers a request sent before it began.
local counted = now >= pause
if counted then streak = streak + 1 end
local p
if RA > 0 then
  p = math.min(RA, maxP)
else
  local d = math.max(math.floor(2 * W / N), 1000000)
  local i = 1
  while i < streak and d < maxP do d = d * 2; i = i + 1 end
  p = math.min(math.floor(d * (1 + 0.25 * r)), maxP)
end
local changed = false
if now + p > pause then pause = now + p; changed = true end
local f = slow_to
if f < 1 and now > slow_from then f = f + rec * math.floor((now - slow_from) / W) end
if f > 1 then f = 1 end
if counted and slowdown < 1 then
  slow_to = math.max(minRate, f * slowdown)
  slow_from = pause
  f = slow_to
  changed = true
end
redis.call('HSET', KEYS[1], 'streak', s(streak))
if changed then
  gen = gen + 1
  tat = math.max(tat, pause)
  redis.call('HSET', KEYS[1], 'pause', s(pause), 'gen', s(gen), 'slow_to', string.format('%.6f', slow_to),
    'slow_from', s(slow_from), 'tat', s(tat), 'w', s(W), 'rec', ARGV[8])
  redis.call('PUBLISH', ARGV[9], ARGV[10] .. ' ' .. s(pause) .. ' ' .. s(now) .. ' ' .. string.format('%.4f', f) .. ' ' .. srv)
end
return {pause, now, string.format('%.4f', f), srv}
`)

// peekScript reads a bucket's pause, to confirm a slot when a pause might
// have been missed (the subscription was down).
//
// KEYS: st. Returns {now, pause, srv}.
var peekScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local srv = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or 'unknown'
local pause = tonumber(redis.call('HGET', KEYS[1], 'pause')) or 0
return {now, pause, srv}
`)

// heartbeatScript refreshes a process's key and its entry in the group's
// index, drops expired entries, and prunes reservations long past from the
// buckets' pend hashes (dead clients' records; the live ones are replaced
// with each reservation).
//
// KEYS: proc, procs, then the buckets' pend keys. ARGV: client, record
// (JSON), ttl (ms), keep (µs a past reservation is kept).
//
// Returns now.
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ttl, keep = tonumber(ARGV[3]), tonumber(ARGV[4])
local function s(x) return string.format('%.0f', x) end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
redis.call('ZADD', KEYS[2], s(now + ttl * 1000), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. s(now))
redis.call('PEXPIRE', KEYS[2], 2 * ttl)
for i = 3, #KEYS do
  local all = redis.call('HGETALL', KEYS[i])
  for j = 1, #all, 2 do
    local slot = tonumber(string.match(all[j + 1], '^%d+:(%d+):'))
    if slot == nil or slot < now - keep then redis.call('HDEL', KEYS[i], all[j]) end
  end
end
return now
`)

// statusScript reads what ReadStatus shows, in one round trip.
//
// KEYS: procs, day, then st and log of each bucket in ARGV's order.
// ARGV: bucket names. Returns JSON (numbers as strings: cjson keeps only 14
// digits).
var statusScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function s(x) return string.format('%.0f', x) end
local res = {now = s(now), day = s(math.floor(now / 86400000000)), procs = {}, buckets = {}}
local p = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. s(now), '+inf', 'WITHSCORES')
for i = 1, #p, 2 do res.procs[p[i]] = p[i + 1] end
local dd = redis.call('HMGET', KEYS[2], 'd', 'n', 'cap')
res.d, res.n, res.cap = dd[1] or '', dd[2] or '0', dd[3] or '0'
for i = 1, #ARGV do
  local st = redis.call('HMGET', KEYS[1 + 2 * i], 'pause', 'slow_to', 'slow_from', 'w', 'rec', 'srv')
  res.buckets[ARGV[i]] = {
    pause = st[1] or '0', slow_to = st[2] or '1', slow_from = st[3] or '0', w = st[4] or '0', rec = st[5] or '0',
    known = st[6] and '1' or '0',
    grants = s(redis.call('ZCOUNT', KEYS[2 + 2 * i], '(' .. s(now - 60000000), s(now))),
  }
end
return cjson.encode(res)
`)
