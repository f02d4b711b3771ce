-- end: ARGV[4..] ended-blob
local h = load(id, now, expired)
if not h then return {'NOT_FOUND'} end
if h.state ~= 'active' then return {'STATE', h.state} end
local docs = h.docs
local retained, active = end_session(id, h, now, 'ended', ARGV[4])
return {'OK', s(docs), s(retained), s(active)}
