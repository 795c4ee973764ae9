--[[
  Records that a failing replica was replaced on another node, with its instance.rescheduled
  event, once: two workers that raced to replace the same replica record (and announce) it only
  once, and the extra replacement is retired by the next reconcile like any duplicate.

  KEYS[1] reschedules:{instance}
  KEYS[2] events (STREAM; same fields as store/event-log.ts)

  ARGV[1] assignment id of the failing replica
  ARGV[2] the reschedule JSON {at, index, revision, from, to}
  ARGV[3] replica index
  ARGV[4] changes channel
  ARGV[5] event: instance
  ARGV[6] event: node (the one it left)
  ARGV[7] event: message
  ARGV[8] event: now in ms
  ARGV[9] event stream MAXLEN (approximate)

  Returns 1 when recorded, 0 when it was already.
]]
if redis.call('HSETNX', KEYS[1], 'moved:' .. ARGV[1], ARGV[2]) == 0 then return 0 end
-- Its failure clock and any "cannot move" note are done with.
redis.call('HDEL', KEYS[1], 'failing:' .. ARGV[1], 'note:' .. ARGV[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[9], '*', 'time_ms', ARGV[8], 'kind', 'instance.rescheduled',
  'instance', ARGV[5], 'node', ARGV[6], 'message', ARGV[7])
redis.call('PUBLISH', ARGV[4], 'event')
return 1
