-- The snapshot mark: MARK in scripts.rs says what it does.
--
-- KEYS: seq, log.
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
return {seq, id}
