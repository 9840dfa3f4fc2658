-- The batch write: BATCH in scripts.rs says what it does.
--
-- KEYS: seq, rec, this server's peers, servers, log, lease, bytes, fence,
-- dig, then one peer hash per change. ARGV: prefix, server, log length,
-- lease ms, memory budget, token, previous token, then eight per change:
-- kind, conn, rfc, port, host, title, cost, weight. The kind is `a` for
-- an ADD Redis has never been sent (the server sends each record once),
-- `r` for one it may hold already (a reconcile's rewrite: checked, and
-- answered with the sequence it has), `d` for a peer's removal.
local lost = fence(KEYS[8], ARGV[6], ARGV[7])
if not lost then
  return {-1}
end
local FIXED, ARGS, EACH = 9, 7, 8
local g = {prefix = ARGV[1], seq = KEYS[1], rec = KEYS[2], log = KEYS[5], bytes = KEYS[7]}
local srv = ARGV[2]
if redis.call('EXISTS', KEYS[6]) == 0 then
  redis.call('SET', KEYS[6], '1', 'PX', ARGV[4])
  redis.call('SADD', KEYS[4], srv)
end
local budget = tonumber(ARGV[5])
local used = tonumber(redis.call('GET', KEYS[7]) or '0')
local before = used
local out, new, first, dup = {lost}, {}, {}, {}
local count = #KEYS - FIXED
for i = 1, count do
  local a = ARGS + (i - 1) * EACH
  local kind = ARGV[a + 1]
  out[i + 1] = 0
  if kind == 'a' or kind == 'r' then
    local ph, rfc = KEYS[FIXED + i], ARGV[a + 3]
    local held = kind == 'r' and redis.call('HGET', ph, rfc)
    if held then
      out[i + 1] = tonumber(string.match(held, '^%d+'))
    elseif kind == 'r' and first[ph..' '..rfc] then
      dup[i] = first[ph..' '..rfc]
    elseif used + tonumber(ARGV[a + 7]) <= budget then
      used = used + tonumber(ARGV[a + 7])
      if kind == 'r' then first[ph..' '..rfc] = i end
      new[#new + 1] = i
    end
  end
end
local removed = false
if #new > 0 then
  local base = redis.call('INCRBY', KEYS[1], #new) - #new
  local recs, conns, seen, added, wtotal = {}, {}, {}, 0, 0
  for j, i in ipairs(new) do
    local a = ARGS + (i - 1) * EACH
    local n = base + j
    local ph, conn, rfc, cost, w = KEYS[FIXED + i], ARGV[a + 2], ARGV[a + 3], ARGV[a + 7], ARGV[a + 8]
    -- Not over a record the peer holds, should an `a` ever be one: that
    -- record would be left in `rec` with nothing to remove it. Its
    -- sequence stays unused (a follower reads it as gone already).
    if redis.call('HSETNX', ph, rfc, n..' '..cost..' '..w) == 1 then
      added = added + 1
      recs[2 * added - 1] = n
      recs[2 * added] = srv..' '..conn..' '..rfc..' '..ARGV[a + 4]..' '..ARGV[a + 5]..' '..ARGV[a + 6]
      if not seen[conn] then
        seen[conn] = true
        conns[#conns + 1] = conn
      end
      wtotal = wtotal + tonumber(w)
      out[i + 1] = n
    else
      used = used - tonumber(cost)
      out[i + 1] = tonumber(string.match(redis.call('HGET', ph, rfc), '^%d+'))
    end
  end
  if added > 0 then
    redis.call('HSET', KEYS[2], unpack(recs))
    redis.call('SADD', KEYS[3], unpack(conns))
    redis.call('INCRBY', KEYS[7], used - before)
    redis.call('HINCRBY', KEYS[9], 'n', added)
    redis.call('HINCRBY', KEYS[9], 's', wtotal)
  end
  -- One log entry for the batch's records: sequences f to n, all this
  -- server's (its own follower need not fetch them). It trims the log as
  -- it goes in; removals' entries are trimmed after them, below.
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[3], '*', 'n', base + #new, 'f', base + 1, 's', srv, 'a', '')
end
for i, f in pairs(dup) do out[i + 1] = out[f + 1] end
for i = 1, count do
  local a = ARGS + (i - 1) * EACH
  if ARGV[a + 1] == 'd' and remove_peer(g, srv, ARGV[a + 2]) then
    removed = true
  end
end
if removed then
  redis.call('XTRIM', KEYS[5], 'MAXLEN', '~', ARGV[3])
end
return out
