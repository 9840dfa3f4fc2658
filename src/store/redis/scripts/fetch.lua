-- The follower's read of records: FETCH in scripts.rs says what it does.
--
-- KEYS: seq, rec. ARGV: the sequences of the records.
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('HMGET', KEYS[2], unpack(ARGV))}
