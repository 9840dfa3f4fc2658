-- The reaper: REAP in scripts.rs says what it does.
--
-- KEYS: servers, seq, rec, log, bytes, peerbytes. ARGV: prefix, log length.
local reaped = 0
for _, srv in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1]..'lease:'..srv) == 0 then
    local set = ARGV[1]..'peers:'..srv
    for _, conn in ipairs(redis.call('SMEMBERS', set)) do
      local spent = tonumber(redis.call('HGET', KEYS[6], srv..':'..conn) or '0')
      if spent > 0 then
        redis.call('DECRBY', KEYS[5], spent)
        redis.call('HDEL', KEYS[6], srv..':'..conn)
      end
      local ph = ARGV[1]..'peer:'..srv..':'..conn
      local seqs = redis.call('HVALS', ph)
      for i = 1, #seqs, 1000 do
        redis.call('HDEL', KEYS[3], unpack(seqs, i, math.min(i + 999, #seqs)))
      end
      redis.call('DEL', ph)
      if #seqs > 0 then
        local n = redis.call('INCR', KEYS[2])
        redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', 'n', n, 'd', srv..' '..conn)
      end
    end
    redis.call('DEL', set)
    redis.call('SREM', KEYS[1], srv)
    reaped = reaped + 1
  end
end
return reaped
