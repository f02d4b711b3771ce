-- watchers (ARGV[1] is unused): ARGV[4..] replica, then pairs of session id
-- and this replica's live watchers of it (0: none any more).
local replica = ARGV[4]
for i = 5, #ARGV, 2 do
  local W = wkey(ARGV[i])
  if ARGV[i + 1] == '0' then
    redis.call('HDEL', W, replica)
  else
    redis.call('HSET', W, replica, ARGV[i + 1] .. ' ' .. s(now))
    redis.call('PEXPIRE', W, MARGIN)
  end
end
return {'OK'}
