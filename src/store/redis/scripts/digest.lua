-- The servers' digests: DIGEST in scripts.rs says what it does.
--
-- KEYS: seq, servers. ARGV: prefix.
local out = {tonumber(redis.call('GET', KEYS[1]) or '0')}
for _, srv in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local d = redis.call('HMGET', ARGV[1]..'dig:'..srv, 'n', 's')
  out[#out + 1] = srv
  out[#out + 1] = tonumber(d[1] or '0')
  out[#out + 1] = tonumber(d[2] or '0')
end
return out
