--[[
  Removes one assignment from its node and gives back what it claimed (GPU memory, ports, the
  process slot), removes its route, and optionally its replica record. Idempotent: releasing
  twice changes nothing the second time.

  KEYS[1] node-claims:{node}
  KEYS[2] assignments:{node}
  KEYS[3] assignments-version:{node}
  KEYS[4] replicas:{instance}
  KEYS[5] routes
  KEYS[6] routes-version
  KEYS[7] retiring:{instance}
  KEYS[8] routes-log (STREAM; see watch/lua/change-log.lua)

  ARGV[1] assignment id
  ARGV[2] changes channel
  ARGV[3] node name
  ARGV[4] "1": delete the replica record too

  Returns 1 when an assignment was removed, else 0.
]]
--- @include "../../watch/lua/change-log"
local id = ARGV[1]
local record = redis.call('HGET', KEYS[1], 'a:' .. id)
if record then
  local mb, gpus, port, prom = string.match(record, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  mb = tonumber(mb) or 0
  for idx in string.gmatch(gpus or '', '[^,]+') do
    if mb > 0 then
      local left = redis.call('HINCRBY', KEYS[1], 'gpu:' .. idx, -mb)
      if left <= 0 then redis.call('HDEL', KEYS[1], 'gpu:' .. idx) end
    end
  end
  for _, p in ipairs({port, prom}) do
    if redis.call('HGET', KEYS[1], 'port:' .. p) == id then redis.call('HDEL', KEYS[1], 'port:' .. p) end
  end
  local left = redis.call('HINCRBY', KEYS[1], 'count', -1)
  if left <= 0 then redis.call('HDEL', KEYS[1], 'count') end
  redis.call('HDEL', KEYS[1], 'a:' .. id)
end

local removed = redis.call('HDEL', KEYS[2], id)
if removed == 1 then
  redis.call('INCR', KEYS[3])
  redis.call('PUBLISH', ARGV[2], 'assignments:' .. ARGV[3])
end
if redis.call('HDEL', KEYS[5], id) == 1 then
  log_change(KEYS[6], KEYS[8], 'route', id)
  redis.call('PUBLISH', ARGV[2], 'routes')
end
if ARGV[4] == '1' then redis.call('HDEL', KEYS[4], id) end
redis.call('HDEL', KEYS[7], id)
return removed
