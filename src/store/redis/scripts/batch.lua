-- The batch write: BATCH in scripts.rs says what it does.
--
-- KEYS: seq, rec, this server's peers, servers, log, lease, bytes,
-- peerbytes, then one peer hash per change. ARGV: server, log length,
-- lease ms, memory budget, then seven per change: kind (a or d), conn,
-- rfc, port, host, title, cost.
if redis.call('EXISTS', KEYS[6]) == 0 then
  redis.call('SET', KEYS[6], '1', 'PX', ARGV[3])
  redis.call('SADD', KEYS[4], ARGV[1])
end
local budget = tonumber(ARGV[4])
local used = tonumber(redis.call('GET', KEYS[7]) or '0')
local out, new, first, dup = {}, {}, {}, {}
for i = 1, #KEYS - 8 do
  local a = 4 + (i - 1) * 7
  out[i] = 0
  if ARGV[a + 1] == 'a' then
    local ph, rfc = KEYS[8 + i], ARGV[a + 3]
    local held = redis.call('HGET', ph, rfc)
    if held then
      out[i] = tonumber(held)
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
  local recs, conns, seen, spent, total = {}, {}, {}, {}, 0
  for j, i in ipairs(new) do
    local a = 4 + (i - 1) * 7
    local n = base + j
    local conn, rfc, cost = ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 7])
    local v = ARGV[1]..' '..conn..' '..rfc..' '..ARGV[a + 4]..' '..ARGV[a + 5]..' '..ARGV[a + 6]
    recs[2 * j - 1] = n
    recs[2 * j] = v
    redis.call('HSET', KEYS[8 + i], rfc, n)
    redis.call('XADD', KEYS[5], '*', 'n', n, 'a', '')
    if not seen[conn] then
      seen[conn] = true
      conns[#conns + 1] = conn
      spent[conn] = 0
    end
    spent[conn] = spent[conn] + cost
    total = total + cost
    out[i] = n
  end
  redis.call('HSET', KEYS[2], unpack(recs))
  redis.call('SADD', KEYS[3], unpack(conns))
  redis.call('INCRBY', KEYS[7], total)
  for _, conn in ipairs(conns) do
    redis.call('HINCRBY', KEYS[8], ARGV[1]..':'..conn, spent[conn])
  end
  logged = true
end
for i, f in pairs(dup) do out[i] = out[f] end
for i = 1, #KEYS - 8 do
  local a = 4 + (i - 1) * 7
  if ARGV[a + 1] == 'd' then
    local conn, ph = ARGV[a + 2], KEYS[8 + i]
    local seqs = redis.call('HVALS', ph)
    redis.call('SREM', KEYS[3], conn)
    local spent = tonumber(redis.call('HGET', KEYS[8], ARGV[1]..':'..conn) or '0')
    if spent > 0 then
      redis.call('DECRBY', KEYS[7], spent)
      redis.call('HDEL', KEYS[8], ARGV[1]..':'..conn)
    end
    if #seqs > 0 then
      for j = 1, #seqs, 1000 do
        redis.call('HDEL', KEYS[2], unpack(seqs, j, math.min(j + 999, #seqs)))
      end
      redis.call('DEL', ph)
      local n = redis.call('INCR', KEYS[1])
      redis.call('XADD', KEYS[5], '*', 'n', n, 'd', ARGV[1]..' '..conn)
      logged = true
    end
  end
end
if logged then
  redis.call('XTRIM', KEYS[5], 'MAXLEN', '~', ARGV[2])
end
return out
