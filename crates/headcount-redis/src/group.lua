-- headcount-redis: every operation on a group is one run of this script, so
-- each is atomic on the server (Redis runs a script with nothing interleaved).
--
-- KEYS (all share the hash tag `{NAME}`, so they live in one Redis Cluster slot):
--   1 state    hash   inst, count, gen, claimed, bgen, bkind, bwho, bowed, bdetail,
--                     mark, and one field `s:<session>` per client session
--   2 events   stream zero / broken events, read by waiters from a saved id
--   3 leases   zset   participant -> lease expiry (ms, Redis clock)
--   4 members  hash   participant -> dones it still owes
--   5 fenced   hash   participant -> why it was fenced (lost / failed)
--   6 failures list   human-readable failures of the current round (for `status`)
--   7 idle     hash   the sessions' fields as they were at the last collection (gc)
-- ARGV: 1 op, 2 session id ('' = not remembered), 3 sequence number in the session,
--       4 expected instance ('' = unknown), then the op's arguments.
--
-- Replies are arrays: {'ok', inst, ...} or {'err', code, ...}. A refusal writes
-- nothing (except reaping expired leases, which any observer may do, and
-- collecting idle sessions).
-- Numbers are formatted with %d: Lua numbers are doubles, exact up to 2^53.
--
-- Cost: besides its redis.calls, a run pays for every closure and table it
-- creates (each `local function` below is a new closure on every run, and garbage
-- for Lua's collector). So the hot path, a plain add/done in a round of a group
-- without leases, comes first and creates none: one HMGET of the state (the
-- session's field included), one HSET of every changed field, and an XADD when the
-- counter reaches zero. Anything else falls through to the general code, which
-- decides every case the fast path decides the same way.
--
-- Exactly once: a client runs at most one call at a time in each of its sessions,
-- with increasing sequence numbers, and resends a call whose reply was lost with
-- the same session and number. The session's field holds the number of its last
-- applied call: a resent call is answered {'ok', inst} again and changes nothing; a
-- straggler older than that (a call its client gave up on) is refused as `stale`.
-- (Raft's client sessions do the same.) Remembered calls reply {'ok', inst} alone,
-- so there is no reply to keep. Sessions idle for an hour are collected (see gc).
local S, EV, LE, ME, FE, FA, IDLE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local op, sid, seq, expect = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local MAXC = 9007199254740991
local SESSION_IDLE_MS = 3600000
local STREAM_LEN = 1000
local sfield = false
if sid ~= '' then sfield = 's:' .. sid end

-- The fast path (see Cost above). It decides only when the group exists and is
-- this client's instance, has no leases (nothing to reap), the counter is not at
-- zero (no new round), and the arguments are valid; otherwise it falls through.
if seq and sfield and (op == 'add' or (op == 'done' and ARGV[5] == '')) then
  local delta = -1
  if op == 'add' then delta = tonumber(ARGV[5]) end
  if delta and delta == math.floor(delta) and math.abs(delta) <= MAXC then
    local v = redis.call('HMGET', S, 'inst', 'count', 'claimed', sfield, 'gen', 'bgen')
    local count = tonumber(v[2])
    if v[1] and (expect == '' or v[1] == expect) and v[3] == '0' and count > 0 then
      local last = tonumber(v[4])
      if last == seq then return { 'ok', v[1] } end
      if last and last > seq then
        return { 'err', 'stale', ARGV[3], v[4] }
      end
      local new = count + delta
      if new < 0 then
        return { 'err', 'negative', v[2], string.format('%d', delta) }
      end
      if new > MAXC then
        return { 'err', 'overflow', v[2], string.format('%d', delta) }
      end
      redis.call('HSET', S, 'count', string.format('%d', new), sfield, ARGV[3])
      if new == 0 then
        local broken = '0'
        if v[6] == v[5] then broken = '1' end
        -- Not trimmed here (this is on the released waiters' path): the next
        -- round's first `add` trims the stream.
        redis.call('XADD', EV, '*', 'inst', v[1], 'type', 'zero', 'gen', v[5], 'broken', broken)
      end
      return { 'ok', v[1] }
    end
  end
end

local function d(n) return string.format('%d', n) end

-- Time comes from Redis, never from client clocks. Read only when needed: a plain
-- add/done on a group without leases does not look at the clock.
local now
local function clock()
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now
end

-- Fields of the state hash to write, all in one HSET at the end (flush).
local put = {}

local st
-- The hot fields; the failure record (bkind, bwho, bowed, bdetail) is read only
-- by the operations that report it (`need_failure`).
local function load()
  local v
  if sfield then
    v = redis.call('HMGET', S, 'inst', 'count', 'gen', 'claimed', 'bgen', 'mark', sfield)
  else
    v = redis.call('HMGET', S, 'inst', 'count', 'gen', 'claimed', 'bgen', 'mark')
  end
  if not v[1] then return nil end
  return { inst = v[1], count = tonumber(v[2]), gen = tonumber(v[3]), claimed = tonumber(v[4]),
           bgen = tonumber(v[5]), mark = tonumber(v[6]), last = tonumber(v[7]),
           bkind = '', bwho = '', bowed = 0, bdetail = '' }
end

local function need_failure()
  if st.bgen > 0 and st.bwho == '' then
    local v = redis.call('HMGET', S, 'bkind', 'bwho', 'bowed', 'bdetail')
    st.bkind, st.bwho, st.bowed, st.bdetail = v[1] or '', v[2] or '', tonumber(v[3] or '0'), v[4] or ''
  end
end

local function emit(...)
  return redis.call('XADD', EV, 'MAXLEN', '~', STREAM_LEN, '*', 'inst', st.inst, ...)
end

-- The only place the counter changes. A round (generation) starts when the
-- counter leaves zero and ends, with a `zero` event naming it, when it returns.
local function set_count(new)
  local old = st.count
  if old == 0 and new > 0 then
    -- The failures list only has entries when the round that ends was broken.
    if st.bgen == st.gen and st.gen > 0 then redis.call('DEL', FA) end
    st.gen = st.gen + 1
    put.gen = d(st.gen)
    redis.call('XTRIM', EV, 'MAXLEN', '~', STREAM_LEN)
    clock() -- once per round: lets gc() run
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
-- nothing to reap (and no need for the clock).
local function reap()
  if st.claimed == 0 and op ~= 'check' and op ~= 'status' then return end
  local expired = redis.call('ZRANGEBYSCORE', LE, '-inf', clock())
  for _, m in ipairs(expired) do lose(m, 'lost', '') end
end

-- Records an applied call in its session (see the header).
local function remember()
  if sfield then put[sfield] = ARGV[3] end
  return { 'ok', st.inst }
end

-- Collects sessions idle for SESSION_IDLE_MS, at most once per that period and
-- only when this call read the clock anyway. `mark` is the time of the last
-- collection, and the `idle` hash a copy of the session fields then: a session
-- whose field has not changed since was idle for SESSION_IDLE_MS at least.
local function gc()
  if not now then return end
  if st.mark and now - st.mark < SESSION_IDLE_MS then return end
  local snap = {}
  if st.mark then
    local old = redis.call('HGETALL', IDLE)
    for i = 1, #old, 2 do snap[old[i]] = old[i + 1] end
  end
  local all = redis.call('HGETALL', S)
  local dead, keep = {}, {}
  for i = 1, #all, 2 do
    local f, v = all[i], all[i + 1]
    if string.sub(f, 1, 2) == 's:' and put[f] == nil then
      if snap[f] == v then
        dead[#dead + 1] = f
      else
        keep[#keep + 1] = f
        keep[#keep + 1] = v
      end
    end
  end
  for i = 1, #dead, 500 do
    redis.call('HDEL', S, unpack(dead, i, math.min(i + 499, #dead)))
  end
  redis.call('DEL', IDLE)
  for i = 1, #keep, 1000 do
    redis.call('HSET', IDLE, unpack(keep, i, math.min(i + 999, #keep)))
  end
  put.mark = d(now)
end

local function flush()
  if not st then return end
  gc()
  local args = {}
  for f, v in pairs(put) do
    args[#args + 1] = f
    args[#args + 1] = v
  end
  if #args > 0 then redis.call('HSET', S, unpack(args)) end
end

local function check_reply()
  need_failure()
  local lastid = '0-0'
  local last = redis.call('XREVRANGE', EV, '+', '-', 'COUNT', 1)
  if last[1] then lastid = last[1][1] end
  local nexp = '-1'
  local first = redis.call('ZRANGE', LE, 0, 0, 'WITHSCORES')
  if first[2] then nexp = d(tonumber(first[2])) end
  return { 'ok', st.inst, d(st.count), d(st.gen), d(st.bgen), st.bkind, st.bwho, d(st.bowed), st.bdetail,
           lastid, nexp, d(clock()) }
end

-- Validate arguments before anything is written.
local delta = 0
if op == 'add' then
  delta = tonumber(ARGV[5])
  if not delta or delta ~= math.floor(delta) or math.abs(delta) > MAXC then
    return { 'err', 'overflow', '0', ARGV[5] }
  end
end
if sfield and not seq then return { 'err', 'badop', op } end

st = load()
if not st then
  if expect ~= '' then return { 'err', 'statelost' } end
  if op == 'add' and delta > 0 and sfield then
    -- A new incarnation: its id is the creating call's (random) session and number.
    st = { inst = sid .. '.' .. d(seq), count = 0, gen = 0, claimed = 0, bgen = 0,
           bkind = '', bwho = '', bowed = 0, bdetail = '' }
    put.inst, put.count, put.gen, put.claimed, put.bgen = st.inst, '0', '0', '0', '0'
    put.bkind, put.bwho, put.bowed, put.bdetail = '', '', '0', ''
  else
    return { 'err', 'nosuch' }
  end
elseif expect ~= '' and st.inst ~= expect then
  return { 'err', 'statelost' }
end

-- A resent call: answer it again, change nothing (see the header).
if st.last and st.last == seq then return { 'ok', st.inst } end
if st.last and st.last > seq then return { 'err', 'stale', ARGV[3], d(st.last) } end

local function main()
  reap()

  if op == 'add' then
    local new = st.count + delta
    if new < 0 then return { 'err', 'negative', d(st.count), d(delta) } end
    if new > MAXC then return { 'err', 'overflow', d(st.count), d(delta) } end
    set_count(new)
    return remember()
  elseif op == 'done' then
    local m = ARGV[5]
    if m ~= '' then
      local why = redis.call('HGET', FE, m)
      if why then return { 'err', 'fenced', m, why } end
      local owed = redis.call('HGET', ME, m)
      if not owed then return { 'err', 'nolease', m } end
      if st.count < 1 then return { 'err', 'negative', d(st.count), '-1' } end
      owed = tonumber(owed) - 1
      if owed <= 0 then
        redis.call('HDEL', ME, m)
        redis.call('ZREM', LE, m)
      else
        redis.call('HSET', ME, m, d(owed))
      end
      st.claimed = math.max(0, st.claimed - 1)
      put.claimed = d(st.claimed)
    elseif st.count < 1 then
      return { 'err', 'negative', d(st.count), '-1' }
    end
    set_count(st.count - 1)
    return remember()
  elseif op == 'join' then
    local m, ttl, owed = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
    local why = redis.call('HGET', FE, m)
    if why then return { 'err', 'fenced', m, why } end
    if redis.call('HEXISTS', ME, m) == 1 then return { 'err', 'joined', m } end
    if st.count - st.claimed < owed then
      return { 'err', 'unclaimed', d(st.count), d(st.claimed), d(owed) }
    end
    redis.call('HSET', ME, m, d(owed))
    redis.call('ZADD', LE, d(clock() + ttl), m)
    st.claimed = st.claimed + owed
    put.claimed = d(st.claimed)
    return remember()
  elseif op == 'beat' then
    local m, ttl = ARGV[5], tonumber(ARGV[6])
    local why = redis.call('HGET', FE, m)
    if why then return { 'err', 'fenced', m, why } end
    if redis.call('HEXISTS', ME, m) == 0 then return { 'err', 'nolease', m } end
    redis.call('ZADD', LE, 'XX', d(clock() + ttl), m)
    return { 'ok', st.inst, d(clock() + ttl) }
  elseif op == 'fail' then
    local m, detail = ARGV[5], ARGV[6]
    local why = redis.call('HGET', FE, m)
    if why then return { 'err', 'fenced', m, why } end
    if redis.call('HEXISTS', ME, m) == 0 then return { 'err', 'nolease', m } end
    lose(m, 'failed', detail)
    return remember()
  elseif op == 'check' then
    return check_reply()
  elseif op == 'status' then
    local r = check_reply()
    local leases = {}
    local all = redis.call('ZRANGE', LE, 0, -1, 'WITHSCORES')
    for i = 1, #all, 2 do
      local m = all[i]
      table.insert(leases, m)
      table.insert(leases, redis.call('HGET', ME, m) or '0')
      table.insert(leases, d(tonumber(all[i + 1])))
    end
    table.insert(r, leases)
    table.insert(r, redis.call('LRANGE', FA, 0, -1))
    return r
  end
  return { 'err', 'badop', op }
end

local reply = main()
flush()
return reply
