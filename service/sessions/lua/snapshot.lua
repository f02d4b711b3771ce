-- snapshot: ARGV[4..] watcher-report-max-age-ms
-- {'OK', nonce, ttl, cms, exp, state, seq, watchers, then per document still
-- shared, in order: entry-id, blob}
local h = load(id, now, expired)
if not h then return {'NOT_FOUND'} end
local watchers = 0
local W = redis.call('HGETALL', wkey(id))
local oldest = now - tonumber(ARGV[4])
for i = 1, #W, 2 do
  local count, at = string.match(W[i + 1], '^(%d+) (%d+)$')
  if count and tonumber(at) >= oldest then watchers = watchers + tonumber(count) end
end
local out = {'OK', h.nonce, s(h.ttl), h.cms, s(h.exp), h.state, s(h.seq), s(watchers)}
if h.state ~= 'active' then return out end
local seqs = {}
local D = redis.call('HGETALL', dkey(id, h.nonce))
for i = 1, #D, 2 do
  if not string.find(D[i], ':', 1, true) then
    local seq, w = string.match(D[i + 1], '^(%d+) %d+ %d+ ([01])$')
    if seq and w == '0' then seqs[#seqs + 1] = tonumber(seq) end
  end
end
table.sort(seqs)
local L = lkey(id, h.nonce)
for _, seq in ipairs(seqs) do
  local e = redis.call('XRANGE', L, s(seq) .. '-1', s(seq) .. '-1')
  if e[1] then
    out[#out + 1] = e[1][1]
    out[#out + 1] = e[1][2][2]
  end
end
return out
