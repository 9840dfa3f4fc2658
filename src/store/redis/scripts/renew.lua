-- The lease renewal: RENEW in scripts.rs says what it does.
--
-- KEYS: this server's lease, servers, epoch. ARGV: server, lease ms,
-- a new epoch in case Redis has none.
local had = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
local e = redis.call('GET', KEYS[3])
if not e then
  redis.call('SET', KEYS[3], ARGV[3])
  e = ARGV[3]
end
return {had, e}
