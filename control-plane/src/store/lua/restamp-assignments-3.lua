--[[
  Stamps every assignment of a node with the node's new epoch after its agent re-registered
  while the node stayed alive (agent restart), and bumps the version so the agent gets them.
  Edits the JSON text rather than decoding it: cjson would turn empty arrays into objects.

  KEYS[1] assignments:{node}
  KEYS[2] assignments-version:{node}
  KEYS[3] node:{node}

  ARGV[1] the new epoch
  ARGV[2] changes channel
  ARGV[3] node name

  Returns the number of assignments stamped, or -1 when the node's epoch is no longer ARGV[1].
]]
local node = redis.call('GET', KEYS[3])
if not node or tostring(cjson.decode(node).epoch or '0') ~= ARGV[1] then return -1 end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  -- Only the first match: the assignment's own epoch, written before its `spec`, whose node
  -- selector may hold a label named "epoch" (agent_service.proto keeps the order).
  local json = string.gsub(all[i + 1], '"epoch":"%d+"', '"epoch":"' .. ARGV[1] .. '"', 1)
  redis.call('HSET', KEYS[1], all[i], json)
end
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[2], 'assignments:' .. ARGV[3])
return #all / 2
