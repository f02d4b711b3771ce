-- subscribe: ARGV[4..] after
-- The replay itself is read page by page (XRANGE ... COUNT) through the
-- replica's replay cache, not returned here.
local h = load(id, now, expired)
if not h then return {'NOT_FOUND'} end
if h.state ~= 'active' then return {'STATE', h.state} end
local after = tonumber(ARGV[4])
if after > h.seq then return {'RANGE', s(h.seq)} end
return {'OK', h.nonce, s(h.seq)}
