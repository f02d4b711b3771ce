-- Shared by every script (prepended to each): key names, ending a session,
-- lazy expiry and forgetting. Integers are formatted with %d: Lua's default
-- %.14g would print large ones in exponent form.
-- ARGV[1] id, ARGV[2] now (unix ms), ARGV[3] the encoded SessionEnded{expired}.
local P = 'docshare:'
local MARGIN = 60000
local function s(n) return string.format('%d', n) end
local function skey(id) return P .. 'session:' .. id end
local function lkey(id, nonce) return P .. 'log:' .. id .. ':' .. nonce end
-- docs: per document id "<seq> <role> <preview bytes> <withdrawn 0|1>", and
-- "<id>:purged" (its DocumentShared without previews) and "<id>:sha" (its
-- previews' SHA-256s) until it is withdrawn. acks: "<id> <role> <ack>".
local function dkey(id, nonce) return P .. 'docs:' .. id .. ':' .. nonce end
local function akey(id, nonce) return P .. 'acks:' .. id .. ':' .. nonce end
local function wkey(id) return P .. 'watchers:' .. id end
-- A document's entry in docs, or nil (an id with ':' names no document).
local function doc_meta(id, nonce, docid)
  if string.find(docid, ':', 1, true) then return nil end
  local meta = redis.call('HGET', dkey(id, nonce), docid)
  if not meta then return nil end
  local seq, role, bytes, w = string.match(meta, '^(%d+) (%d+) (%d+) ([01])$')
  if not seq then return nil end
  return {seq = tonumber(seq), role = role, bytes = tonumber(bytes), withdrawn = w == '1'}
end
local function add(key, n)
  local v = tonumber(redis.call('GET', key) or '0') + n
  if v < 0 then v = 0 end
  redis.call('SET', key, s(v))
  return v
end
local function end_session(id, h, now, state, blob)
  local S = skey(id)
  local seq = redis.call('HINCRBY', S, 'seq', 1)
  local L = lkey(id, h.nonce)
  -- The previews go; the log keeps only SessionEnded, for replicas that
  -- catch up after missing the live message.
  redis.call('DEL', L, dkey(id, h.nonce), akey(id, h.nonce))
  redis.call('XADD', L, s(seq) .. '-1', 'e', blob)
  local forget = now + h.ttl
  redis.call('HSET', S, 'state', state, 'forget', s(forget), 'bytes', '0')
  local retained = add(P .. 'retained', -h.bytes)
  local active = add(P .. 'active', -1)
  redis.call('ZREM', P .. 'expiring', id)
  redis.call('ZADD', P .. 'forget', s(forget), id)
  redis.call('PEXPIRE', S, s(h.ttl + MARGIN))
  redis.call('PEXPIRE', L, s(h.ttl + MARGIN))
  redis.call('PUBLISH', P .. 'events:' .. id, h.nonce .. ' ' .. s(seq) .. ' ' .. blob)
  h.state = state
  h.forget = forget
  h.seq = seq
  h.bytes = 0
  return retained, active
end
local function load(id, now, expired_blob)
  local S = skey(id)
  local v = redis.call('HMGET', S, 'nonce', 'ttl', 'cms', 'exp', 'state', 'forget',
                       'seq', 'docs', 'bytes')
  if not v[1] then
    redis.call('ZREM', P .. 'expiring', id)
    redis.call('ZREM', P .. 'forget', id)
    return nil
  end
  local h = {nonce = v[1], ttl = tonumber(v[2]), cms = v[3], exp = tonumber(v[4]),
             state = v[5], forget = tonumber(v[6]), seq = tonumber(v[7]),
             docs = tonumber(v[8]), bytes = tonumber(v[9])}
  if h.state == 'active' and h.exp <= now then
    end_session(id, h, now, 'expired', expired_blob)
  end
  if h.state ~= 'active' and now >= h.forget then
    redis.call('DEL', S)
    redis.call('ZREM', P .. 'forget', id)
    return nil
  end
  return h
end
local id, now, expired = ARGV[1], tonumber(ARGV[2]), ARGV[3]
