-- headcount-redis: every operation on a group is one run of this script, so
-- each is atomic on the server (Redis runs a script with nothing interleaved).
--
-- KEYS (all share the hash tag `{NAME}`, so they live in one Redis Cluster slot):
--   1 state    hash   inst, count, gen, claimed, bgen, bkind, bwho, bowed, bdetail
--   2 events   stream zero / broken events, read by waiters from a saved id
--   3 leases   zset   participant -> lease expiry (ms, Redis clock)
--   4 members  hash   participant -> dones it still owes
--   5 fenced   hash   participant -> why it was fenced (lost / failed)
--   6 failures list   human-readable failures of the current round (for `status`)
--   7 op       string the reply of an applied operation, kept for retries
-- ARGV: 1 op, 2 op id ('' = none), 3 expected instance ('' = unknown), then op args.
--
-- Replies are arrays: {'ok', inst, ...} or {'err', code, ...}. A refusal writes
-- nothing (except reaping expired leases, which any observer may do).
-- Numbers are formatted with %d: Lua numbers are doubles, exact up to 2^53.
local S, EV, LE, ME, FE, FA, OP = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local op, opid, expect = ARGV[1], ARGV[2], ARGV[3]
local MAXC = 9007199254740991
local OP_TTL_MS = 3600000
local STREAM_LEN = 1000

-- Exactly once: a retried operation returns the reply of its first application.
-- Replies of remembered operations are plain strings without spaces, stored joined
-- by spaces (cheaper than cjson on the hot path).
if opid ~= '' then
  local prev = redis.call('GET', OP)
  if prev then
    local reply = { 'ok' }
    for part in string.gmatch(prev, '%S+') do table.insert(reply, part) end
    return reply
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

local st
-- The hot fields; the failure record (bkind, bwho, bowed, bdetail) is read only
-- by the operations that report it (`need_failure`).
local function load()
  local v = redis.call('HMGET', S, 'inst', 'count', 'gen', 'claimed', 'bgen')
  if not v[1] then return nil end
  return { inst = v[1], count = tonumber(v[2]), gen = tonumber(v[3]), claimed = tonumber(v[4]),
           bgen = tonumber(v[5]), bkind = '', bwho = '', bowed = 0, bdetail = '' }
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
    st.gen = st.gen + 1
    redis.call('HSET', S, 'gen', d(st.gen))
    redis.call('DEL', FA)
  end
  st.count = new
  redis.call('HSET', S, 'count', d(new))
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
  redis.call('HSET', S, 'claimed', d(st.claimed))
  local line = kind .. ' ' .. m .. ' owed=' .. d(owed)
  if detail ~= '' then line = line .. ' ' .. detail end
  redis.call('RPUSH', FA, line)
  if st.bgen ~= st.gen then
    st.bgen, st.bkind, st.bwho, st.bowed, st.bdetail = st.gen, kind, m, owed, detail
    redis.call('HSET', S, 'bgen', d(st.gen), 'bkind', kind, 'bwho', m, 'bowed', d(owed), 'bdetail', detail)
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

local function remember(reply)
  if opid ~= '' then
    redis.call('SET', OP, table.concat(reply, ' ', 2), 'PX', OP_TTL_MS)
  end
  return reply
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
  delta = tonumber(ARGV[4])
  if not delta or delta ~= math.floor(delta) or math.abs(delta) > MAXC then
    return { 'err', 'overflow', '0', ARGV[4] }
  end
end

st = load()
if not st then
  if expect ~= '' then return { 'err', 'statelost' } end
  if op == 'add' and delta > 0 then
    st = { inst = ARGV[5], count = 0, gen = 0, claimed = 0, bgen = 0, bkind = '', bwho = '', bowed = 0, bdetail = '' }
    redis.call('HSET', S, 'inst', st.inst, 'count', '0', 'gen', '0', 'claimed', '0', 'bgen', '0',
      'bkind', '', 'bwho', '', 'bowed', '0', 'bdetail', '')
  else
    return { 'err', 'nosuch' }
  end
elseif expect ~= '' and st.inst ~= expect then
  return { 'err', 'statelost' }
end

reap()

if op == 'add' then
  local new = st.count + delta
  if new < 0 then return { 'err', 'negative', d(st.count), d(delta) } end
  if new > MAXC then return { 'err', 'overflow', d(st.count), d(delta) } end
  set_count(new)
  return remember({ 'ok', st.inst, d(st.count), d(st.gen) })
elseif op == 'done' then
  local m = ARGV[4]
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
    redis.call('HSET', S, 'claimed', d(st.claimed))
  elseif st.count < 1 then
    return { 'err', 'negative', d(st.count), '-1' }
  end
  set_count(st.count - 1)
  return remember({ 'ok', st.inst, d(st.count), d(st.gen) })
elseif op == 'join' then
  local m, ttl, owed = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
  local why = redis.call('HGET', FE, m)
  if why then return { 'err', 'fenced', m, why } end
  if redis.call('HEXISTS', ME, m) == 1 then return { 'err', 'joined', m } end
  if st.count - st.claimed < owed then
    return { 'err', 'unclaimed', d(st.count), d(st.claimed), d(owed) }
  end
  redis.call('HSET', ME, m, d(owed))
  redis.call('ZADD', LE, d(clock() + ttl), m)
  st.claimed = st.claimed + owed
  redis.call('HSET', S, 'claimed', d(st.claimed))
  return remember({ 'ok', st.inst, d(clock() + ttl) })
elseif op == 'beat' then
  local m, ttl = ARGV[4], tonumber(ARGV[5])
  local why = redis.call('HGET', FE, m)
  if why then return { 'err', 'fenced', m, why } end
  if redis.call('HEXISTS', ME, m) == 0 then return { 'err', 'nolease', m } end
  redis.call('ZADD', LE, 'XX', d(clock() + ttl), m)
  return { 'ok', st.inst, d(clock() + ttl) }
elseif op == 'fail' then
  local m, detail = ARGV[4], ARGV[5]
  local why = redis.call('HGET', FE, m)
  if why then return { 'err', 'fenced', m, why } end
  if redis.call('HEXISTS', ME, m) == 0 then return { 'err', 'nolease', m } end
  lose(m, 'failed', detail)
  return remember({ 'ok', st.inst, d(st.count), d(st.gen) })
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
