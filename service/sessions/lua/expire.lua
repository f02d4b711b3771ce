-- expire (ARGV[1] is unused)
local due = redis.call('ZRANGEBYSCORE', P .. 'expiring', '-inf', ARGV[2], 'LIMIT', 0, 100)
for _, sid in ipairs(due) do load(sid, now, expired) end
local gone = redis.call('ZRANGEBYSCORE', P .. 'forget', '-inf', ARGV[2], 'LIMIT', 0, 100)
for _, sid in ipairs(gone) do load(sid, now, expired) end
return {'OK', redis.call('GET', P .. 'retained') or '0',
        redis.call('GET', P .. 'active') or '0'}
