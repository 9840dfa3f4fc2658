-- The batch write: BATCH in scripts.rs says what it does.
--
-- KEYS: seq, rec, this server's peers, servers, log, lease, bytes,
-- peerbytes, fence, dig, peerdig, then one peer hash per change. ARGV:
-- prefix, server, log length, lease ms, memory budget, token, previous
-- token, then eight per change: kind (a or d), conn, rfc, port, host,
-- title, cost, weight.
local lost = fence(KEYS[9], ARGV[6], ARGV[7])
if not lost then
  return {-1}
end
local FIXED, ARGS, EACH = 11, 7, 8
local g = {prefix = ARGV[1], seq = KEYS[1], rec = KEYS[2], log = KEYS[5], bytes = KEYS[7],
  peerbytes = KEYS[8], peerdig = KEYS[11]}
local srv = ARGV[2]
if redis.call('EXISTS', KEYS[6]) == 0 then
  redis.call('SET', KEYS[6], '1', 'PX', ARGV[4])
  redis.call('SADD', KEYS[4], srv)
end
local budget = tonumber(ARGV[5])
local used = tonumber(redis.call('GET', KEYS[7]) or '0')
local out, new, first, dup = {lost}, {}, {}, {}
local count = #KEYS - FIXED
for i = 1, count do
  local a = ARGS + (i - 1) * EACH
  out[i + 1] = 0
  if ARGV[a + 1] == 'a' then
    local ph, rfc = KEYS[FIXED + i], ARGV[a + 3]
    local held = redis.call('HGET', ph, rfc)
    if held then
      out[i + 1] = tonumber(held)
    elseif first[ph..' '..rfc] then
      dup[i] = first[ph..' '..rfc]
    elseif used + tonumber(ARGV[a + 7]) <= budget then
      used = used + tonumber(ARGV[a + 7])
      first[ph..' '..rfc] = i
      new[#new + 1] = i
    end
  end
end
local logged = false
if #new > 0 then
  local base = redis.call('INCRBY', KEYS[1], #new) - #new
  local recs, conns, seen, spent, weight, total, wtotal = {}, {}, {}, {}, {}, 0, 0
  for j, i in ipairs(new) do
    local a = ARGS + (i - 1) * EACH
    local n = base + j
    local conn, rfc, cost, w = ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 7]), tonumber(ARGV[a + 8])
    recs[2 * j - 1] = n
    recs[2 * j] = srv..' '..conn..' '..rfc..' '..ARGV[a + 4]..' '..ARGV[a + 5]..' '..ARGV[a + 6]
    redis.call('HSET', KEYS[FIXED + i], rfc, n)
    redis.call('XADD', KEYS[5], '*', 'n', n, 'a', '')
    if not seen[conn] then
      seen[conn] = true
      conns[#conns + 1] = conn
      spent[conn] = 0
      weight[conn] = 0
    end
    spent[conn] = spent[conn] + cost
    weight[conn] = weight[conn] + w
    total = total + cost
    wtotal = wtotal + w
    out[i + 1] = n
  end
  redis.call('HSET', KEYS[2], unpack(recs))
  redis.call('SADD', KEYS[3], unpack(conns))
  redis.call('INCRBY', KEYS[7], total)
  redis.call('HINCRBY', KEYS[10], 'n', #new)
  redis.call('HINCRBY', KEYS[10], 's', wtotal)
  for _, conn in ipairs(conns) do
    redis.call('HINCRBY', KEYS[8], srv..':'..conn, spent[conn])
    redis.call('HINCRBY', KEYS[11], srv..':'..conn, weight[conn])
  end
  logged = true
end
for i, f in pairs(dup) do out[i + 1] = out[f + 1] end
for i = 1, count do
  local a = ARGS + (i - 1) * EACH
  if ARGV[a + 1] == 'd' and remove_peer(g, srv, ARGV[a + 2]) then
    logged = true
  end
end
if logged then
  redis.call('XTRIM', KEYS[5], 'MAXLEN', '~', ARGV[3])
end
return out
