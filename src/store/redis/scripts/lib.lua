-- Shared by the scripts that write: scripts.rs puts it in front of them.

-- The fence. Every write of a server carries a token that only grows (the
-- writer numbers its scripts in the order it sends them) and the token of
-- the write it follows. A token at or below the last one applied is late
-- (a batch that timed out, a cut connection's bytes delivered afterwards)
-- and must do nothing: nil. Else the token is recorded, and the answer is 1
-- when the last token applied is not the one this write follows (Redis lost
-- writes: restarted, flushed, gone back to an older dump or a lagging
-- replica; or a write of this server was lost), 0 when all is in order.
--
-- One command in the usual case: GETSET records the token and answers the
-- last one (GETSET rather than SET ... GET, which Redis before 6.2 lacks);
-- a late write puts the last one back.
local function fence(key, token, prev)
  local was = redis.call('GETSET', key, token)
  local last = tonumber(was or '0')
  if tonumber(token) <= last then
    redis.call('SET', key, was)
    return nil
  end
  if last ~= tonumber(prev) then
    return 1
  end
  return 0
end

-- A peer's hash holds, per record, rfc -> "seq cost weight": what the
-- record cost the shared budget and its weight in the server's digest
-- stay with the record, so a removal (by the owner, a reconcile or a
-- reaper) gives back exactly what the ADD took, with no other key to
-- keep in step. Returns the sequences, and the sums of cost and weight.
local function peer_records(ph)
  local seqs, cost, weight = {}, 0, 0
  for i, v in ipairs(redis.call('HVALS', ph)) do
    local n, c, w = string.match(v, '^(%d+) (%d+) (%d+)$')
    if n then
      seqs[#seqs + 1] = n
      cost = cost + tonumber(c)
      weight = weight + tonumber(w)
    end
  end
  return seqs, cost, weight
end

-- Removes one peer of server `srv`: its records, its place in the server's
-- set, what it cost the shared budget and its share of the server's
-- digest; logs the removal if it held records. `g` holds the shared keys
-- (seq, rec, log, bytes) and the prefix the per-server keys are built
-- from. Returns whether it logged.
local function remove_peer(g, srv, conn)
  local ph = g.prefix..'peer:'..srv..':'..conn
  local seqs, cost, weight = peer_records(ph)
  redis.call('SREM', g.prefix..'peers:'..srv, conn)
  if #seqs == 0 then
    redis.call('DEL', ph)
    return false
  end
  redis.call('DECRBY', g.bytes, cost)
  local dig = g.prefix..'dig:'..srv
  redis.call('HINCRBY', dig, 'n', -#seqs)
  redis.call('HINCRBY', dig, 's', -weight)
  for j = 1, #seqs, 1000 do
    redis.call('HDEL', g.rec, unpack(seqs, j, math.min(j + 999, #seqs)))
  end
  redis.call('DEL', ph)
  local n = redis.call('INCR', g.seq)
  redis.call('XADD', g.log, '*', 'n', n, 'd', srv..' '..conn)
  return true
end
