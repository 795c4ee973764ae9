--[[
  The cheap part of every heartbeat in one round trip: is this node ready with this epoch? If so
  record its liveness (the `nodes` score) and answer its assignments version.

  KEYS[1] node:{name}
  KEYS[2] nodes (ZSET, heartbeat scores)
  KEYS[3] assignments-version:{name}

  ARGV[1] node name
  ARGV[2] epoch the agent holds
  ARGV[3] now, ms

  Returns the assignments version (string), or false when the agent must register again.
]]
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local node = cjson.decode(raw)
if node.state ~= 'ready' or tostring(node.epoch or '0') ~= ARGV[2] then return false end
redis.call('ZADD', KEYS[2], 'XX', ARGV[3], ARGV[1])
return redis.call('GET', KEYS[3]) or '0'
