--[[
  Removes routes that no replica record accounts for (the full compare finds them: a crash
  between two writes, a record written over), each with its change-log entry.

  KEYS[1] routes
  KEYS[2] routes-version
  KEYS[3] routes-log (STREAM; see watch/lua/change-log.lua)

  ARGV[1] changes channel
  ARGV[2..] assignment ids

  Returns the number of routes removed.
]]
--- @include "../../watch/lua/change-log"
local removed = 0
for i = 2, #ARGV do
  if redis.call('HDEL', KEYS[1], ARGV[i]) == 1 then
    log_change(KEYS[2], KEYS[3], 'route', ARGV[i])
    removed = removed + 1
  end
end
if removed > 0 then redis.call('PUBLISH', ARGV[1], 'routes') end
return removed
