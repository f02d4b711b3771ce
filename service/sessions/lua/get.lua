-- get: ARGV[4..] nothing more
local h = load(id, now, expired)
if not h then return {'NOT_FOUND'} end
return {'OK', h.nonce, s(h.ttl), h.cms, s(h.exp), h.state}
