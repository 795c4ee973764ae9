--[[
  Compare-and-set of a node record, optionally fenced by a lease token, with a nudge to every
  control-plane replica so their node caches reload it.

  KEYS[1] node:{name}
  KEYS[2] lease-token:{lease} (read only when ARGV[4] is not empty)

  ARGV[1] the JSON the caller read ("" = the node must not exist yet)
  ARGV[2] the new JSON
  ARGV[3] changes channel
  ARGV[4] fencing token, or "" for writes that need no lease
  ARGV[5] node name

  Returns 1 when written, 0 when the record changed meanwhile, -1 when the token is stale.
]]
if ARGV[4] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[4] then return -1 end
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], 'node:' .. ARGV[5])
return 1
