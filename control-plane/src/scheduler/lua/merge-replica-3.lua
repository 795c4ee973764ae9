--[[
  Writes the status an agent reported into a replica record, and adds or removes its route, in
  one step. Compare-and-set on the record: if the scheduler removed or changed it meanwhile
  (released, retired), the report is dropped rather than resurrecting a stale replica.

  KEYS[1] replicas:{instance}
  KEYS[2] routes
  KEYS[3] routes-version

  ARGV[1] assignment id
  ARGV[2] the replica JSON the caller read
  ARGV[3] the merged replica JSON
  ARGV[4] "set" | "del" | "" : what to do with the route
  ARGV[5] Route JSON (for "set")
  ARGV[6] changes channel

  Returns 1 when written, 0 when the record changed meanwhile.
]]
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
local changed = 0
if ARGV[4] == 'set' then
  if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[5] then
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
    changed = 1
  end
elseif ARGV[4] == 'del' then
  changed = redis.call('HDEL', KEYS[2], ARGV[1])
end
if changed == 1 then
  redis.call('INCR', KEYS[3])
  redis.call('PUBLISH', ARGV[6], 'routes')
end
return 1
