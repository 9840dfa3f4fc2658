-- The cheap check: CHECK in scripts.rs says what it does.
--
-- KEYS: fence, dig. ARGV: token, previous token, records, weight.
local lost = fence(KEYS[1], ARGV[1], ARGV[2])
if not lost then
  return {-1, 0}
end
local d = redis.call('HMGET', KEYS[2], 'n', 's')
local same = 0
if tonumber(d[1] or '0') == tonumber(ARGV[3]) and tonumber(d[2] or '0') == tonumber(ARGV[4]) then
  same = 1
end
return {lost, same}
