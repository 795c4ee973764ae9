--[[
  Writes an unplaced replica record (pending with its reason, or stopped) unless the record
  already names a node: a worker that found no room must never overwrite the placement another
  worker made meanwhile (that would orphan a running assignment).

  KEYS[1] replicas:{instance}

  ARGV[1] assignment id
  ARGV[2] the unplaced Replica JSON

  Returns 1 when written, 0 when a placement was there.
]]
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and (cjson.decode(current).node or '') ~= '' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
