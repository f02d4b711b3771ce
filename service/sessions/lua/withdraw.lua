-- withdraw: ARGV[4..] document-id by(role number) withdrawn-blob admin(role number)
local h = load(id, now, expired)
if not h then return {'NOT_FOUND'} end
if h.state ~= 'active' then return {'STATE', h.state} end
local docid, by = ARGV[4], ARGV[5]
local d = doc_meta(id, h.nonce, docid)
if not d then return {'NO_DOC'} end
if by ~= ARGV[7] and by ~= d.role then return {'DENIED', d.role} end
if d.withdrawn then return {'ALREADY'} end
local L, D = lkey(id, h.nonce), dkey(id, h.nonce)
local purged = redis.call('HGET', D, docid .. ':purged')
local sha = redis.call('HGET', D, docid .. ':sha') or ''
-- A stream entry cannot be rewritten in place, and XDEL only marks an entry
-- deleted inside its node (the bytes stay in memory and in DUMP): the stream
-- is written anew with the entry replaced, in one atomic step.
local all = redis.call('XRANGE', L, '-', '+')
local at = nil
for i, e in ipairs(all) do
  if e[1] == s(d.seq) .. '-1' then at = i end
end
if not purged or not at then return {'LOST'} end
local pttl = redis.call('PTTL', L)
redis.call('DEL', L)
for i, e in ipairs(all) do
  redis.call('XADD', L, e[1], 'e', i == at and purged or e[2][2])
end
if pttl > 0 then redis.call('PEXPIRE', L, pttl) end
local S = skey(id)
local seq = redis.call('HINCRBY', S, 'seq', 1)
redis.call('XADD', L, s(seq) .. '-1', 'e', ARGV[6])
redis.call('HSET', D, docid, s(d.seq) .. ' ' .. d.role .. ' ' .. s(d.bytes) .. ' 1')
redis.call('HDEL', D, docid .. ':purged', docid .. ':sha')
redis.call('HINCRBY', S, 'bytes', -d.bytes)
local retained = add(P .. 'retained', -d.bytes)
redis.call('PUBLISH', P .. 'events:' .. id, h.nonce .. ' ' .. s(seq) .. ' ' .. ARGV[6])
-- Every replica drops the previews from its cache of rendered previews.
if sha ~= '' then redis.call('PUBLISH', P .. 'purge:' .. id, sha) end
return {'OK', s(seq), s(retained)}
