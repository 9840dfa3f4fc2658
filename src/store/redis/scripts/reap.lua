-- The reaper: REAP in scripts.rs says what it does.
--
-- KEYS: servers, seq, rec, log, bytes. ARGV: prefix,
-- log length, how long a dead server's fence is kept (ms).
local g = {prefix = ARGV[1], seq = KEYS[2], rec = KEYS[3], log = KEYS[4], bytes = KEYS[5]}
local reaped, logged = 0, false
for _, srv in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1]..'lease:'..srv) == 0 then
    for _, conn in ipairs(redis.call('SMEMBERS', ARGV[1]..'peers:'..srv)) do
      if remove_peer(g, srv, conn) then
        logged = true
      end
    end
    redis.call('DEL', ARGV[1]..'peers:'..srv, ARGV[1]..'dig:'..srv)
    -- Kept a while, so that a write of it delivered late is still fenced.
    redis.call('PEXPIRE', ARGV[1]..'fence:'..srv, ARGV[3])
    redis.call('SREM', KEYS[1], srv)
    reaped = reaped + 1
  end
end
if logged then
  redis.call('XTRIM', KEYS[4], 'MAXLEN', '~', ARGV[2])
end
return reaped
