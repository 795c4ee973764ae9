--[[
  Writes the status an agent reported into a replica record, and adds or removes its route, in
  one step. Compare-and-set on the record: if the scheduler removed or changed it meanwhile
  (released, retired), the report is dropped rather than resurrecting a stale replica. A route
  added also takes the instance's unready entry away in the same step: an instance with a route
  is ready, and watchers never see it as both.

  KEYS[1] replicas:{instance}
  KEYS[2] routes
  KEYS[3] routes-version
  KEYS[4] events (STREAM; the transition's event, same fields as store/event-log.ts)
  KEYS[5] routes-log (STREAM; see watch/lua/change-log.lua)
  KEYS[6] routes-unready

  ARGV[1] assignment id
  ARGV[2] the replica JSON the caller read
  ARGV[3] the merged replica JSON
  ARGV[4] "set" | "del" | "" : what to do with the route
  ARGV[5] Route JSON (for "set")
  ARGV[6] changes channel
  ARGV[7] event kind, or "" for none
  ARGV[8] event: instance
  ARGV[9] event: node
  ARGV[10] event: message
  ARGV[11] event: now in ms
  ARGV[12] event stream MAXLEN (approximate)
  ARGV[13] instance name (whose unready entry a new route removes)

  Returns 1 when written, 0 when the record changed meanwhile.
]]
--- @include "../../watch/lua/change-log"
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
local changed = 0
if ARGV[4] == 'set' then
  if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[5] then
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
    log_change(KEYS[3], KEYS[5], 'route', ARGV[1])
    changed = 1
  end
  if redis.call('HDEL', KEYS[6], ARGV[13]) == 1 then
    log_change(KEYS[3], KEYS[5], 'unreadyInstance', ARGV[13])
    changed = 1
  end
elseif ARGV[4] == 'del' then
  changed = redis.call('HDEL', KEYS[2], ARGV[1])
  if changed == 1 then log_change(KEYS[3], KEYS[5], 'route', ARGV[1]) end
end
if changed == 1 then redis.call('PUBLISH', ARGV[6], 'routes') end
if ARGV[7] ~= '' then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[12], '*', 'time_ms', ARGV[11], 'kind', ARGV[7],
    'instance', ARGV[8], 'node', ARGV[9], 'message', ARGV[10])
  redis.call('PUBLISH', ARGV[6], 'event')
end
return 1
