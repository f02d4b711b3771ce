-- append: ARGV[4..] event-blob bytes max-docs max-session-bytes max-retained nonce
--   document-id shared-by purged-blob preview-sha256s
local h = load(id, now, expired)
if not h then return {'NOT_FOUND'} end
if h.nonce ~= ARGV[9] then return {'STARTED_AGAIN'} end
if h.state ~= 'active' then return {'STATE', h.state} end
local bytes = tonumber(ARGV[5])
if h.docs >= tonumber(ARGV[6]) then return {'DOCS', s(h.docs)} end
local max_session = tonumber(ARGV[7])
if bytes > max_session - math.min(h.bytes, max_session) then
  return {'SESSION_BYTES', s(h.bytes)}
end
local retained = tonumber(redis.call('GET', P .. 'retained') or '0')
local max_retained = tonumber(ARGV[8])
if bytes > max_retained - math.min(retained, max_retained) then
  return {'RETAINED', s(retained)}
end
local S = skey(id)
local seq = redis.call('HINCRBY', S, 'seq', 1)
redis.call('HINCRBY', S, 'docs', 1)
redis.call('HINCRBY', S, 'bytes', ARGV[5])
retained = add(P .. 'retained', bytes)
local L = lkey(id, h.nonce)
redis.call('XADD', L, s(seq) .. '-1', 'e', ARGV[4])
local D = dkey(id, h.nonce)
local docid = ARGV[10]
redis.call('HSET', D, docid, s(seq) .. ' ' .. ARGV[11] .. ' ' .. ARGV[5] .. ' 0',
           docid .. ':purged', ARGV[12], docid .. ':sha', ARGV[13])
local pttl = redis.call('PTTL', S)
if pttl > 0 then
  redis.call('PEXPIRE', L, pttl)
  redis.call('PEXPIRE', D, pttl)
end
-- Announced without its previews: replicas with a watcher of the session
-- read it from the log, the others never receive its bytes.
redis.call('PUBLISH', P .. 'events:' .. id, h.nonce .. ' ' .. s(seq))
return {'OK', s(seq), s(retained)}
