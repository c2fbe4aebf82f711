-- headcount-redis: every operation on a group is one run of this script, so
-- each is atomic on the server (Redis runs a script with nothing interleaved).
--
-- KEYS (all share the hash tag `{NAME}`, so they live in one Redis Cluster slot):
--   1 state    hash   inst, ver, count, gen, claimed, bgen, bkind, bwho, bowed,
--                     bdetail, exp, idle, one field `s:<session>` per session
--                     (`<number of its last applied call>:<minute of it>`),
--                     and `p:<participant>` = the session of each live lease
--   2 events   stream zero / broken events, read by waiters from a saved id
--   3 leases   zset   participant -> lease expiry (ms, Redis clock)
--   4 members  hash   participant -> dones it still owes
--   5 fenced   hash   participant -> why it was fenced (lost / failed), this round
--   6 failures list   human-readable failures of the current round (for `status`)
--   7 sessions zset   session -> time of its last call (ms, Redis clock), moved
--                     at most once a minute (when the record's minute changes)
-- ARGV: 1 op, 2 session id ('' = not remembered), 3 sequence number in the session,
--       4 expected instance ('' = unknown), 5 highest `ver` the client has seen,
--       6 idle expiry (ms), 7 wake ('1': a Redis Cluster client, Redis 7: every
--       event appended to `events` is also published with `SPUBLISH` on the shard
--       channel `headcount:{NAME}:wake`, in the group's slot, for the client's
--       watcher; see `wake` below), then the op's arguments (8..).
--
-- Invariants (the crate README's "State and invariants" explains them):
--   * Every key exists while the group does. Keys that Redis would delete when
--     empty hold a sentinel: leases and sessions the member '' at +inf, members
--     and fenced the field '', failures a first element ''. Each run checks that
--     all seven exist; one missing key (evicted, DEL, partial restore) is
--     `statelost`, never read as "no leases" or "nothing owed".
--   * `ver` counts the changes of the group's counting state (not heartbeats, not
--     session bookkeeping) and never goes down. Every reply carries it; a client
--     sends the highest it saw, and a state older than that (a promoted replica
--     that missed writes, a restart from an older snapshot) is `statelost`.
--   * Every key expires at `exp`, refreshed to now + idle whenever more than 1% of
--     the idle period has passed since the last refresh.
--   * Bounded work: no step looks at more than a fixed number of sessions (8),
--     expired leases (64), leases or failures listed (100) per run.
--
-- Replies are named fields, a flat array {name1, value1, name2, value2, ...}:
-- one table per reply (a table with string keys arrives empty; Redis 7's
-- `{map = {...}}` costs a second table and reaches a RESP2 client as the same flat
-- array). The client reads fields by name (`field` in script.rs mirrors this
-- table), in any order. Names are short: they travel with every reply.
--   name  field                                   in replies of
--   e     refusal code (only in refusals)         every refusal
--   i     instance id of the group                every success
--   v     `ver` of the group's counting state     every success
--   c     counter                                 check, status; negative,
--                                                 overflow, unclaimed
--   g     round (`gen`)                           check, status
--   bg    last broken round (0: none)             check, status
--   bk    how it broke: lost / failed             check, status
--   bw    the participant that broke it           check, status
--   bo    the dones it owed                       check, status
--   bd    its own account of its failure          check, status
--   id    last id of the events stream            check, status
--   nx    earliest lease expiry (ms, -1: none)    check, status
--   t     Redis's clock (ms)                      check, status
--   x     a lease's expiry (ms)                   beat; each of L
--   L     live leases (first 100), each a reply   status
--         of its own: m, o, x
--   nl    how many leases are live                status
--   F     failures of the round (first 100)       status
--   nf    how many failures the round has         status
--   m     participant                             each of L; fenced, nolease,
--                                                 joined
--   o     dones owed                              each of L; unclaimed
--   cl    dones owed by all live leases           unclaimed
--   d     the change refused                      negative, overflow
--   s     the call's number in its session        stale
--   ls    the session's last applied call         stale
--   op    the operation refused                   badop
-- A refusal writes nothing (except reaping expired leases, which any observer
-- may do, and collecting idle sessions).
-- Numbers are formatted with %d: Lua numbers are doubles, exact up to 2^53.
--
-- Cost: besides its redis.calls, a run pays for every closure and table it
-- creates (each `local function` below is a new closure on every run, and garbage
-- for Lua's collector). So the hot path, a plain add/done in a round of a group
-- without leases, comes first and creates none. Anything else falls through to
-- the general code, which decides every case the fast path decides the same way.
--
-- Exactly once: a client runs at most one call at a time in each of its sessions,
-- with increasing sequence numbers, and resends a call whose reply was lost with
-- the same session and number. The session's field holds the number of its last
-- applied call: a resent call is answered {i, inst, v, ver} again and changes
-- nothing; a straggler older than that (a call its client gave up on) is refused
-- as `stale`. (Raft's client sessions do the same.) A client ends a session whose
-- calls all got their reply at the first attempt (no straggler can exist) with
-- `forget`; any other session is collected an hour after its last call, a few
-- per run (see collect). A lease runs in a session of its own, dropped when the
-- lease is reaped: its process is dead or fenced, and a late call of it is
-- refused as fenced or not joined whatever its number.
local S, EV, LE, ME, FE, FA, SE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
-- Not a declared key: a key that never exists would make every multi-key call
-- during a slot migration fail with TRYAGAIN. It is in the keys' slot.
local WAKE = false
if ARGV[7] == '1' then WAKE = string.sub(S, 1, -6) .. 'wake' end
local op, sid, seq, expect = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local seen, idle = tonumber(ARGV[5]) or 0, tonumber(ARGV[6]) or 604800000
local MAXC = 9007199254740991
local SESSION_IDLE_MS = 3600000
-- A session's score in `sessions` may lag its last call by up to a minute.
local COLLECT_AFTER_MS = SESSION_IDLE_MS + 60000
local STREAM_LEN = 100
local sfield = false
if sid ~= '' then sfield = 's:' .. sid end

-- Ends the client's sessions (ARGV 8..): no call of theirs can still arrive.
if op == 'forget' then
  for i = 8, #ARGV do
    -- '' is the sentinel of `sessions`, never a session.
    if ARGV[i] ~= '' then
      redis.call('HDEL', S, 's:' .. ARGV[i])
      redis.call('ZREM', SE, ARGV[i])
    end
  end
  return { 'i', expect, 'v', '0' }
end

-- The fast path (see Cost above). It decides only when the group exists whole and
-- is this client's instance at a version it has not seen overtaken, has no leases
-- (nothing to reap), the counter is not at zero (no new round), the expiry needs
-- no refresh, and the arguments are valid; otherwise it falls through.
if seq and sfield and (op == 'add' or (op == 'done' and ARGV[8] == '')) then
  local delta = -1
  if op == 'add' then delta = tonumber(ARGV[8]) end
  if delta and delta == math.floor(delta) and math.abs(delta) <= MAXC then
    local v = redis.call('HMGET', S, 'inst', 'count', 'claimed', sfield, 'gen', 'bgen', 'ver', 'exp', 'idle')
    local count, ver = tonumber(v[2]), tonumber(v[7])
    if v[1] and (expect == '' or v[1] == expect) and v[3] == '0' and count > 0 and ver and ver >= seen
        and redis.call('EXISTS', EV, LE, ME, FE, FA, SE) == 6 then
      local last, lmin
      if v[4] then
        last, lmin = string.match(v[4], '^(%d+):(%d+)$')
        last = tonumber(last)
      end
      if last == seq then
        -- Rewritten so that a `WAIT` after the resend covers the original write.
        redis.call('HSET', S, sfield, v[4])
        return { 'i', v[1], 'v', v[7] }
      end
      if last and last > seq then
        return { 'e', 'stale', 's', ARGV[3], 'ls', string.format('%d', last) }
      end
      local t = redis.call('TIME')
      local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      if tonumber(v[9]) == idle and tonumber(v[8]) - now >= idle - math.floor(idle / 100) then
        local new = count + delta
        if new < 0 then
          return { 'e', 'negative', 'c', v[2], 'd', string.format('%d', delta) }
        end
        if new > MAXC then
          return { 'e', 'overflow', 'c', v[2], 'd', string.format('%d', delta) }
        end
        ver = string.format('%d', ver + 1)
        if new == 0 then
          local broken = '0'
          if v[6] == v[5] then broken = '1' end
          -- Not trimmed here (this is on the released waiters' path): the next
          -- round's first `add` trims the stream.
          local id = redis.call('XADD', EV, '*', 'inst', v[1], 'type', 'zero', 'gen', v[5], 'broken', broken)
          if WAKE then
            -- As `wake` below does (no closure on the fast path).
            redis.call('SPUBLISH', WAKE, #id .. ':' .. id .. '4:inst' .. #v[1] .. ':' .. v[1]
              .. '4:type4:zero3:gen' .. #v[5] .. ':' .. v[5] .. '6:broken1:' .. broken)
          end
        end
        local minute = string.format('%d', math.floor(now / 60000))
        redis.call('HSET', S, 'count', string.format('%d', new), sfield, ARGV[3] .. ':' .. minute, 'ver', ver)
        if lmin ~= minute then
          redis.call('ZADD', SE, now, sid)
          -- A new record: collect up to 8 idle ones (see collect below).
          if not last then
            local old = redis.call('ZRANGEBYSCORE', SE, '-inf', now - COLLECT_AFTER_MS, 'LIMIT', 0, 8)
            for _, o in ipairs(old) do
              redis.call('HDEL', S, 's:' .. o)
              redis.call('ZREM', SE, o)
            end
          end
        end
        return { 'i', v[1], 'v', ver }
      end
    end
  end
end

local function d(n) return string.format('%d', n) end

-- Time comes from Redis, never from client clocks.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- Fields of the state hash to write, all in one HSET at the end (flush).
local put = {}
local all_keys = { S, EV, LE, ME, FE, FA, SE }

local st
-- The hot fields; the failure record (bkind, bwho, bowed, bdetail) is read only
-- by the operations that report it (`need_failure`).
local function load()
  local v
  if sfield then
    v = redis.call('HMGET', S, 'inst', 'count', 'gen', 'claimed', 'bgen', 'ver', 'exp', 'idle', sfield)
  else
    v = redis.call('HMGET', S, 'inst', 'count', 'gen', 'claimed', 'bgen', 'ver', 'exp', 'idle')
  end
  if not v[1] then return nil end
  local last, lmin
  if v[9] then
    last, lmin = string.match(v[9], '^(%d+):(%d+)$')
    last = tonumber(last)
  end
  return { inst = v[1], count = tonumber(v[2]), gen = tonumber(v[3]), claimed = tonumber(v[4]),
           bgen = tonumber(v[5]), ver = tonumber(v[6]) or 0, exp = tonumber(v[7]),
           idle = tonumber(v[8]), last = last, lmin = lmin, rec = v[9],
           bkind = '', bwho = '', bowed = 0, bdetail = '' }
end

local function need_failure()
  if st.bgen > 0 and st.bwho == '' then
    local v = redis.call('HMGET', S, 'bkind', 'bwho', 'bowed', 'bdetail')
    st.bkind, st.bwho, st.bowed, st.bdetail = v[1] or '', v[2] or '', tonumber(v[3] or '0'), v[4] or ''
  end
end

-- A change of the counting state: `ver` goes up once per run.
local bumped = false
local function changed()
  if not bumped then
    bumped = true
    st.ver = st.ver + 1
    put.ver = d(st.ver)
  end
end

-- A success: the instance and version, then the named fields given.
local function ok(...)
  return { 'i', st.inst, 'v', d(st.ver), ... }
end

-- Publishes the event just appended (stream id `id`, then its fields) on the
-- wake channel, when the client asked for it (ARGV[7]: a Redis Cluster client,
-- whose watcher is subscribed to it on the node that owns the group's slot). Each part
-- is written as its length, a colon and its bytes, so any text survives.
local function wake(id, ...)
  if not WAKE then return id end
  local parts = { #id .. ':' .. id }
  for i = 1, select('#', ...) do
    local part = tostring((select(i, ...)))
    parts[#parts + 1] = #part .. ':' .. part
  end
  redis.call('SPUBLISH', WAKE, table.concat(parts))
  return id
end

local function emit(...)
  return wake(redis.call('XADD', EV, 'MAXLEN', '~', STREAM_LEN, '*', 'inst', st.inst, ...), 'inst', st.inst, ...)
end

-- Empties a key down to its sentinel (UNLINK frees a large value off the main
-- thread); its expiry is set again at flush.
local function reset(key, ...)
  redis.call('UNLINK', key)
  redis.call(...)
  st.exp = nil
end

-- The only place the counter changes. A round (generation) starts when the
-- counter leaves zero and ends, with a `zero` event naming it, when it returns.
local function set_count(new)
  local old = st.count
  changed()
  if old == 0 and new > 0 then
    -- Failures and fences belong to the round that ended: a fenced participant's
    -- late call is refused as not joined from now on.
    if redis.call('LLEN', FA) > 1 then reset(FA, 'RPUSH', FA, '') end
    if redis.call('HLEN', FE) > 1 then reset(FE, 'HSET', FE, '', '') end
    st.gen = st.gen + 1
    put.gen = d(st.gen)
    redis.call('XTRIM', EV, 'MAXLEN', '~', STREAM_LEN)
  end
  st.count = new
  put.count = d(new)
  if old > 0 and new == 0 then
    local broken = '0'
    if st.bgen == st.gen then broken = '1' end
    emit('type', 'zero', 'gen', d(st.gen), 'broken', broken)
  end
end

-- A participant is lost (lease expired) or failed: fence it, mark the round
-- broken, tell the waiters, and take the dones it owed off the counter so the
-- round can still end and the group be reused.
local function lose(m, kind, detail)
  local owed = tonumber(redis.call('HGET', ME, m) or '0')
  redis.call('HDEL', ME, m)
  redis.call('ZREM', LE, m)
  local psid = redis.call('HGET', S, 'p:' .. m)
  if psid then
    redis.call('HDEL', S, 'p:' .. m)
    -- A failing participant's `fail` runs in that session: its record stays.
    if kind == 'lost' then
      redis.call('HDEL', S, 's:' .. psid)
      redis.call('ZREM', SE, psid)
    end
  end
  redis.call('HSET', FE, m, kind)
  st.claimed = math.max(0, st.claimed - owed)
  put.claimed = d(st.claimed)
  local line = kind .. ' ' .. m .. ' owed=' .. d(owed)
  if detail ~= '' then line = line .. ' ' .. detail end
  redis.call('RPUSH', FA, line)
  if st.bgen ~= st.gen then
    st.bgen, st.bkind, st.bwho, st.bowed, st.bdetail = st.gen, kind, m, owed, detail
    put.bgen, put.bkind, put.bwho, put.bowed, put.bdetail = d(st.gen), kind, m, d(owed), detail
  end
  emit('type', 'broken', 'gen', d(st.gen), 'kind', kind, 'who', m, 'owed', d(owed), 'detail', detail)
  set_count(st.count - math.min(owed, st.count))
end

-- `claimed` is the sum of the dones live leases owe: zero means no leases, so
-- nothing to reap. At most 64 per run: a waiter's next check reaps the rest at
-- once (the earliest expiry it is told about has passed).
local function reap()
  if st.claimed == 0 and op ~= 'check' and op ~= 'status' then return end
  local expired = redis.call('ZRANGEBYSCORE', LE, '-inf', now, 'LIMIT', 0, 64)
  for _, m in ipairs(expired) do lose(m, 'lost', '') end
end

-- Collects up to 8 sessions idle for SESSION_IDLE_MS: O(log n) whatever their
-- number. Run by each call that creates a record, so records cannot pile up.
local function collect()
  local old = redis.call('ZRANGEBYSCORE', SE, '-inf', now - COLLECT_AFTER_MS, 'LIMIT', 0, 8)
  for _, o in ipairs(old) do
    if o ~= sid then
      redis.call('HDEL', S, 's:' .. o)
      redis.call('ZREM', SE, o)
    end
  end
end

-- Records an applied call in its session (see the header); the session's score
-- moves when the record's minute changes.
local function remember()
  if sfield then
    local minute = d(math.floor(now / 60000))
    put[sfield] = ARGV[3] .. ':' .. minute
    if st.lmin ~= minute then
      redis.call('ZADD', SE, now, sid)
      if not st.last then collect() end
    end
  end
  return ok()
end

-- Every key expires at `exp`; refreshed when over 1% of the idle period passed
-- since the last refresh (or the caller's idle period differs, or a key was
-- recreated without one).
local function flush()
  local exp
  if not (st.exp and st.idle == idle and st.exp - now >= idle - math.floor(idle / 100)) then
    exp = now + idle
    put.exp, put.idle = d(exp), d(idle)
  end
  local args = {}
  for f, v in pairs(put) do
    args[#args + 1] = f
    args[#args + 1] = v
  end
  if #args > 0 then redis.call('HSET', S, unpack(args)) end
  -- After the HSET: a new group's state hash exists only from there on.
  if exp then
    for _, k in ipairs(all_keys) do redis.call('PEXPIREAT', k, exp) end
  end
end

local function check_reply()
  need_failure()
  local lastid = '0-0'
  local last = redis.call('XREVRANGE', EV, '+', '-', 'COUNT', 1)
  if last[1] then lastid = last[1][1] end
  local nexp = '-1'
  local first = redis.call('ZRANGE', LE, 0, 0, 'WITHSCORES')
  if first[1] and first[1] ~= '' then nexp = d(tonumber(first[2])) end
  return ok('c', d(st.count), 'g', d(st.gen), 'bg', d(st.bgen), 'bk', st.bkind, 'bw', st.bwho,
            'bo', d(st.bowed), 'bd', st.bdetail, 'id', lastid, 'nx', nexp, 't', d(now))
end

-- Validate arguments before anything is written.
local delta = 0
if op == 'add' then
  delta = tonumber(ARGV[8])
  if not delta or delta ~= math.floor(delta) or math.abs(delta) > MAXC then
    return { 'e', 'overflow', 'c', '0', 'd', ARGV[8] }
  end
end
if sfield and not seq then return { 'e', 'badop', 'op', op } end
if (op == 'join' or op == 'beat' or op == 'fail') and ARGV[8] == '' then
  return { 'e', 'badop', 'op', op }
end

st = load()
-- How many of the other six keys exist: all of them, or none, or the state is lost.
local present = redis.call('EXISTS', EV, LE, ME, FE, FA, SE)

if op == 'delete' then
  if not st and present == 0 then return { 'e', 'nosuch' } end
  -- Wakes blocked waiters at once where the server serves them (they re-check
  -- and find the group gone); at the latest they find it at their next check.
  if st and present == 6 then emit('type', 'deleted', 'gen', d(st.gen)) end
  redis.call('UNLINK', S, EV, LE, ME, FE, FA, SE)
  return { 'i', expect, 'v', '0' }
end

if not st then
  if expect ~= '' or present > 0 then return { 'e', 'statelost' } end
  if op == 'add' and delta > 0 and sfield then
    -- A new incarnation: its id is the creating call's (random) session and number.
    st = { inst = sid .. '.' .. d(seq), count = 0, gen = 0, claimed = 0, bgen = 0, ver = 0,
           bkind = '', bwho = '', bowed = 0, bdetail = '' }
    put.inst, put.count, put.gen, put.claimed, put.bgen = st.inst, '0', '0', '0', '0'
    put.bkind, put.bwho, put.bowed, put.bdetail = '', '', '0', ''
    -- Every key exists from now on, with its sentinel (see the header).
    wake(redis.call('XADD', EV, '*', 'inst', st.inst, 'type', 'created', 'gen', '0'),
      'inst', st.inst, 'type', 'created', 'gen', '0')
    redis.call('ZADD', LE, '+inf', '')
    redis.call('HSET', ME, '', '')
    redis.call('HSET', FE, '', '')
    redis.call('RPUSH', FA, '')
    redis.call('ZADD', SE, '+inf', '')
  else
    return { 'e', 'nosuch' }
  end
elseif present ~= 6 or (expect ~= '' and st.inst ~= expect) or st.ver < seen then
  return { 'e', 'statelost' }
end

-- A resent call: answer it again, change nothing (see the header); the field is
-- rewritten so that a `WAIT` after the resend covers the original write.
if st.last and st.last == seq then
  redis.call('HSET', S, sfield, st.rec)
  return ok()
end
if st.last and st.last > seq then return { 'e', 'stale', 's', ARGV[3], 'ls', d(st.last) } end

local function main()
  reap()

  if op == 'add' then
    local new = st.count + delta
    if new < 0 then return { 'e', 'negative', 'c', d(st.count), 'd', d(delta) } end
    if new > MAXC then return { 'e', 'overflow', 'c', d(st.count), 'd', d(delta) } end
    set_count(new)
    return remember()
  elseif op == 'done' then
    local m = ARGV[8]
    if m ~= '' then
      local why = redis.call('HGET', FE, m)
      if why then return { 'e', 'fenced', 'm', m } end
      local owed = redis.call('HGET', ME, m)
      if not owed then return { 'e', 'nolease', 'm', m } end
      if st.count < 1 then return { 'e', 'negative', 'c', d(st.count), 'd', '-1' } end
      owed = tonumber(owed) - 1
      if owed <= 0 then
        redis.call('HDEL', ME, m)
        redis.call('ZREM', LE, m)
        redis.call('HDEL', S, 'p:' .. m)
      else
        redis.call('HSET', ME, m, d(owed))
      end
      st.claimed = math.max(0, st.claimed - 1)
      put.claimed = d(st.claimed)
    elseif st.count < 1 then
      return { 'e', 'negative', 'c', d(st.count), 'd', '-1' }
    end
    set_count(st.count - 1)
    return remember()
  elseif op == 'join' then
    local m, ttl, owed = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
    local why = redis.call('HGET', FE, m)
    if why then return { 'e', 'fenced', 'm', m } end
    if redis.call('HEXISTS', ME, m) == 1 then return { 'e', 'joined', 'm', m } end
    if st.count - st.claimed < owed then
      return { 'e', 'unclaimed', 'c', d(st.count), 'cl', d(st.claimed), 'o', d(owed) }
    end
    redis.call('HSET', ME, m, d(owed))
    redis.call('ZADD', LE, d(now + ttl), m)
    if sfield then put['p:' .. m] = sid end
    st.claimed = st.claimed + owed
    put.claimed = d(st.claimed)
    changed()
    return remember()
  elseif op == 'beat' then
    local m, ttl = ARGV[8], tonumber(ARGV[9])
    local why = redis.call('HGET', FE, m)
    if why then return { 'e', 'fenced', 'm', m } end
    if redis.call('HEXISTS', ME, m) == 0 then return { 'e', 'nolease', 'm', m } end
    redis.call('ZADD', LE, 'XX', d(now + ttl), m)
    return ok('x', d(now + ttl))
  elseif op == 'fail' then
    local m, detail = ARGV[8], ARGV[9]
    local why = redis.call('HGET', FE, m)
    if why then return { 'e', 'fenced', 'm', m } end
    if redis.call('HEXISTS', ME, m) == 0 then return { 'e', 'nolease', 'm', m } end
    lose(m, 'failed', detail)
    return remember()
  elseif op == 'check' then
    return check_reply()
  elseif op == 'status' then
    -- At most 100 leases and 100 failures are listed, with their totals.
    local r = check_reply()
    local leases = {}
    local all = redis.call('ZRANGE', LE, 0, 100, 'WITHSCORES')
    for i = 1, #all, 2 do
      local m = all[i]
      if m ~= '' and #leases < 100 then
        leases[#leases + 1] = { 'm', m, 'o', redis.call('HGET', ME, m) or '0', 'x', d(tonumber(all[i + 1])) }
      end
    end
    local n = #r
    r[n + 1], r[n + 2] = 'L', leases
    r[n + 3], r[n + 4] = 'F', redis.call('LRANGE', FA, 1, 100)
    r[n + 5], r[n + 6] = 'nl', d(redis.call('ZCARD', LE) - 1)
    r[n + 7], r[n + 8] = 'nf', d(redis.call('LLEN', FA) - 1)
    return r
  end
  return { 'e', 'badop', 'op', op }
end

local reply = main()
flush()
return reply
