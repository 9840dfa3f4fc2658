-- Shared by the scripts that write: scripts.rs puts it in front of them.

-- The fence. Every write of a server carries a token that only grows (the
-- writer numbers its scripts in the order it sends them) and the token of
-- the write it follows. A token at or below the last one applied is late
-- (a batch that timed out, a cut connection's bytes delivered afterwards)
-- and must do nothing: nil. Else the token is recorded, and the answer is 1
-- when the last token applied is not the one this write follows (Redis lost
-- writes: restarted, flushed, gone back to an older dump or a lagging
-- replica; or a write of this server was lost), 0 when all is in order.
local function fence(key, token, prev)
  local last = tonumber(redis.call('GET', key) or '0')
  if tonumber(token) <= last then
    return nil
  end
  redis.call('SET', key, token)
  if last ~= tonumber(prev) then
    return 1
  end
  return 0
end

-- Removes one peer of server `srv`: its records, its place in the server's
-- set, what it cost the shared budget and its share of the server's
-- digest; logs the removal if it held records. `g` holds the shared keys
-- (seq, rec, log, bytes, peerbytes, peerdig) and the prefix the per-server
-- keys are built from. Returns whether it logged.
local function remove_peer(g, srv, conn)
  local field = srv..':'..conn
  local ph = g.prefix..'peer:'..srv..':'..conn
  local seqs = redis.call('HVALS', ph)
  redis.call('SREM', g.prefix..'peers:'..srv, conn)
  local spent = tonumber(redis.call('HGET', g.peerbytes, field) or '0')
  if spent > 0 then
    redis.call('DECRBY', g.bytes, spent)
    redis.call('HDEL', g.peerbytes, field)
  end
  local weight = tonumber(redis.call('HGET', g.peerdig, field) or '0')
  redis.call('HDEL', g.peerdig, field)
  if #seqs == 0 then
    return false
  end
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
