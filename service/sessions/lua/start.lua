-- start: ARGV[4..] ttl cms nonce
local ttl, cms, nonce = tonumber(ARGV[4]), ARGV[5], ARGV[6]
local h = load(id, now, expired)
if h and h.state == 'active' then
  if h.ttl == ttl and h.cms == cms then return {'OK', h.nonce, s(h.exp), '-1'} end
  return {'EXISTS', s(h.ttl), h.cms}
end
local S = skey(id)
local exp = now + ttl
redis.call('DEL', S)
redis.call('HSET', S, 'nonce', nonce, 'ttl', s(ttl), 'cms', cms, 'exp', s(exp),
           'state', 'active', 'forget', '0', 'seq', '0', 'docs', '0', 'bytes', '0')
redis.call('PEXPIRE', S, s(2 * ttl + MARGIN))
redis.call('ZADD', P .. 'expiring', s(exp), id)
redis.call('ZREM', P .. 'forget', id)
return {'OK', nonce, s(exp), s(add(P .. 'active', 1))}
