--[[
  Takes a node out of service (lost: no heartbeat within the TTL; left: the agent said goodbye):
  sets its state, removes all its assignments and claims, and removes its routes at once so
  routers stop sending to it. Returns the removed assignments so the caller can re-place their
  instances. For "lost", the decision is fenced by the reconciler's lease token and re-checked
  against the heartbeat score, so a heartbeat that arrived meanwhile wins.

  KEYS[1] node:{name}
  KEYS[2] node-claims:{name}
  KEYS[3] assignments:{name}
  KEYS[4] assignments-version:{name}
  KEYS[5] routes
  KEYS[6] routes-version
  KEYS[7] lease-token:{lease}
  KEYS[8] nodes (ZSET, heartbeat scores)
  KEYS[9] routes-log (STREAM; see watch/lua/change-log.lua)

  ARGV[1] fencing token, or "" when unfenced
  ARGV[2] the node JSON the caller read (compare-and-set)
  ARGV[3] the node JSON with its new state
  ARGV[4] changes channel
  ARGV[5] node name
  ARGV[6] heartbeat cutoff in ms: abort if the node's score is newer ("" = no check)

  Returns {status, assignment JSON...} with status 1 done, 0 record changed or heartbeat newer,
  -1 stale token.
]]
--- @include "../../watch/lua/change-log"
if ARGV[1] ~= '' and redis.call('GET', KEYS[7]) ~= ARGV[1] then return {-1} end
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[2] then return {0} end
if ARGV[6] ~= '' then
  local score = tonumber(redis.call('ZSCORE', KEYS[8], ARGV[5]) or '0')
  if score > tonumber(ARGV[6]) then return {0} end
end
redis.call('SET', KEYS[1], ARGV[3])
local all = redis.call('HGETALL', KEYS[3])
local out = {1}
local routesChanged = 0
for i = 1, #all, 2 do
  out[#out + 1] = all[i + 1]
  if redis.call('HDEL', KEYS[5], all[i]) == 1 then
    log_change(KEYS[6], KEYS[9], 'route', all[i])
    routesChanged = routesChanged + 1
  end
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('INCR', KEYS[4])
if routesChanged > 0 then redis.call('PUBLISH', ARGV[4], 'routes') end
redis.call('PUBLISH', ARGV[4], 'assignments:' .. ARGV[5])
redis.call('PUBLISH', ARGV[4], 'node:' .. ARGV[5])
return out
