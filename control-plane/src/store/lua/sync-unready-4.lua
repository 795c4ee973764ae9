--[[
  Writes the unready entries of the route table (instances without a route, and why) that a
  control plane computed from instance and replica records (routes/unready-sync.ts). Each entry
  is a compare-and-set against what the caller read, so that of two processes computing at once
  one writes and the other, having read before, leaves it; and an instance with a route is never
  written as unready: when one of its replicas has a route, its entry is removed instead,
  whatever was computed (a route that appeared after the caller read its records).

  KEYS[1] routes-unready (HASH instance name -> UnreadyInstance JSON)
  KEYS[2] routes
  KEYS[3] routes-version
  KEYS[4] routes-log (STREAM; see watch/lua/change-log.lua)

  ARGV[1] changes channel
  ARGV[2..] per instance: its name; the entry the caller read ("" for none); the entry it
            computed ("" for none: the instance is deleted or routed); the number n of its
            replicas' assignment ids; those n ids

  Returns the number of entries changed.
]]
--- @include "../../watch/lua/change-log"
local changed = 0
local i = 2
while i <= #ARGV do
  local name, expected, wanted, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  for j = 1, n do
    if redis.call('HEXISTS', KEYS[2], ARGV[i + 3 + j]) == 1 then
      wanted = ''
      break
    end
  end
  i = i + 4 + n
  local current = redis.call('HGET', KEYS[1], name) or ''
  if current == expected and current ~= wanted then
    if wanted == '' then redis.call('HDEL', KEYS[1], name) else redis.call('HSET', KEYS[1], name, wanted) end
    log_change(KEYS[3], KEYS[4], 'unreadyInstance', name)
    changed = changed + 1
  end
end
if changed > 0 then redis.call('PUBLISH', ARGV[1], 'routes') end
return changed
