-- subscribe: ARGV[4..] after
local h = load(id, now, expired)
if not h then return {'NOT_FOUND'} end
if h.state ~= 'active' then return {'STATE', h.state} end
local after = tonumber(ARGV[4])
if after > h.seq then return {'RANGE', s(h.seq)} end
local out = {'OK', h.nonce, s(h.seq)}
if after < h.seq then
  for _, e in ipairs(redis.call('XRANGE', lkey(id, h.nonce), s(after + 1) .. '-0', '+')) do
    out[#out + 1] = e[1]
    out[#out + 1] = e[2][2]
  end
end
return out
