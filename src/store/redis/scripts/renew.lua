-- The lease renewal: RENEW in scripts.rs says what it does.
--
-- KEYS: this server's lease, servers. ARGV: server, lease ms.
local had = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return had
