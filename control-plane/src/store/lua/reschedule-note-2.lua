--[[
  Announces why a failing replica does not move (no other node fits, or too many reschedules),
  with an instance.reschedule_blocked event, only when the reason differs from the one announced
  last for that replica index: the reconciler looks again every few seconds.

  KEYS[1] reschedules:{instance}
  KEYS[2] events (STREAM; same fields as store/event-log.ts)

  ARGV[1] replica index
  ARGV[2] the note (the stable part of the reason)
  ARGV[3] changes channel
  ARGV[4] event: instance
  ARGV[5] event: node (where the replica stays)
  ARGV[6] event: message
  ARGV[7] event: now in ms
  ARGV[8] event stream MAXLEN (approximate)

  Returns 1 when announced, 0 when this note was already.
]]
local field = 'note:' .. ARGV[1]
if redis.call('HGET', KEYS[1], field) == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], field, ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], '*', 'time_ms', ARGV[7], 'kind', 'instance.reschedule_blocked',
  'instance', ARGV[4], 'node', ARGV[5], 'message', ARGV[6])
redis.call('PUBLISH', ARGV[3], 'event')
return 1
