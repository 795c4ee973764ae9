--[[
  Gives a lease up, only if this holder still has it.

  KEYS[1] lease:{name}
  ARGV[1] holder id

  Returns 1 when released.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
