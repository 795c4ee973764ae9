--[[
  First step of stopping a replica that is replaced or moved: takes it out of the route table and
  marks it stopping, so routers stop sending to it before its process gets SIGTERM. The
  assignment itself is released after the router grace period (release-replica).

  KEYS[1] replicas:{instance}
  KEYS[2] routes
  KEYS[3] routes-version
  KEYS[4] retiring:{instance}
  KEYS[5] routes-log (STREAM; see watch/lua/change-log.lua)

  ARGV[1] assignment id
  ARGV[2] the replica JSON the caller read (compare-and-set)
  ARGV[3] the replica JSON with status "stopping"
  ARGV[4] now, ms
  ARGV[5] changes channel

  Returns 1 when marked, 0 when the record changed meanwhile.
]]
--- @include "../../watch/lua/change-log"
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
-- The first retirement step starts the grace period; a restart mark is replaced by it.
local since = redis.call('HGET', KEYS[4], ARGV[1])
if not since or since == 'restart' then redis.call('HSET', KEYS[4], ARGV[1], ARGV[4]) end
if redis.call('HDEL', KEYS[2], ARGV[1]) == 1 then
  log_change(KEYS[3], KEYS[5], 'route', ARGV[1])
  redis.call('PUBLISH', ARGV[5], 'routes')
end
return 1
