--[[
  Allows replicas on a draining node to move now (at most max_parallel at a time; the caller
  counts), fenced by the reconciler's lease so two control planes never grant twice.

  KEYS[1] drain:{node}
  KEYS[2] lease-token:{lease}

  ARGV[1] fencing token
  ARGV[2..] assignment ids

  Returns the number granted, or -1 when the token is stale.
]]
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = 0
for i = 2, #ARGV do n = n + redis.call('HSETNX', KEYS[1], 'move:' .. ARGV[i], '1') end
return n
