-- acknowledge: ARGV[4..] document-id by(role number) acknowledgement(number) blob
local h = load(id, now, expired)
if not h then return {'NOT_FOUND'} end
if h.state ~= 'active' then return {'STATE', h.state} end
local docid = ARGV[4]
local d = doc_meta(id, h.nonce, docid)
if not d then return {'NO_DOC'} end
if d.withdrawn then return {'WITHDRAWN'} end
local A = akey(id, h.nonce)
if redis.call('SADD', A, docid .. ' ' .. ARGV[5] .. ' ' .. ARGV[6]) == 0 then
  return {'ALREADY'}
end
local S = skey(id)
local pttl = redis.call('PTTL', S)
if pttl > 0 then redis.call('PEXPIRE', A, pttl) end
local seq = redis.call('HINCRBY', S, 'seq', 1)
local L = lkey(id, h.nonce)
redis.call('XADD', L, s(seq) .. '-1', 'e', ARGV[7])
redis.call('PUBLISH', P .. 'events:' .. id, h.nonce .. ' ' .. s(seq) .. ' ' .. ARGV[7])
return {'OK', s(seq)}
