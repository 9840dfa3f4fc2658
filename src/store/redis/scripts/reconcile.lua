-- The reconcile: RECONCILE in scripts.rs says what it does.
--
-- KEYS: seq, rec, log, bytes, fence, this server's peers, dig. ARGV: prefix, server, log length, token, previous token,
-- then three per live peer: conn, records, weight. Answers the fence,
-- the peers removed, then the live peers to write again.
local lost = fence(KEYS[5], ARGV[4], ARGV[5])
if not lost then
  return {-1}
end
local g = {prefix = ARGV[1], seq = KEYS[1], rec = KEYS[2], log = KEYS[3], bytes = KEYS[4]}
local srv = ARGV[2]
local live = {}
for i = 6, #ARGV, 3 do
  live[ARGV[i]] = {tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])}
end
-- The digest is counted again from the peers that stay (a removed one
-- leaves nothing).
local out, seen, logged, total, tweight = {lost, 0}, {}, false, 0, 0
for _, conn in ipairs(redis.call('SMEMBERS', KEYS[6])) do
  seen[conn] = true
  local want = live[conn]
  local seqs, _, weight = peer_records(ARGV[1]..'peer:'..srv..':'..conn)
  local n = #seqs
  if not want or n > want[1] or (n == want[1] and weight ~= want[2]) then
    -- Records this server does not have: the peer goes, and comes back
    -- whole if it is live.
    if remove_peer(g, srv, conn) then
      logged = true
    end
    out[2] = out[2] + 1
    if want then
      out[#out + 1] = conn
    end
  else
    total, tweight = total + n, tweight + weight
    if n < want[1] then
      out[#out + 1] = conn
    end
  end
end
for conn, want in pairs(live) do
  if not seen[conn] and want[1] > 0 then
    out[#out + 1] = conn
  end
end
redis.call('HSET', KEYS[7], 'n', total, 's', tweight)
if logged then
  redis.call('XTRIM', KEYS[3], 'MAXLEN', '~', ARGV[3])
end
return out
