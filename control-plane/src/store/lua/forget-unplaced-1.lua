--[[
  Deletes an unplaced replica record (a stale pending or stopped placeholder) only if it is still
  exactly what the caller read: another worker may have turned it into a placement meanwhile.

  KEYS[1] replicas:{instance}

  ARGV[1] assignment id
  ARGV[2] the record JSON the caller read

  Returns 1 when deleted.
]]
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
return redis.call('HDEL', KEYS[1], ARGV[1])
