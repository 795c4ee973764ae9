--[[
  Acquires or renews a lease. A new holder gets a new fencing token (INCR), so writes made by a
  holder that lost the lease without noticing (a long GC pause) are refused by fenced scripts.

  KEYS[1] lease:{name}        holder id, with PX
  KEYS[2] lease-token:{name}  fencing counter

  ARGV[1] holder id
  ARGV[2] lease time in ms

  Returns the fencing token (string) while this holder has the lease, else false.
]]
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return tostring(redis.call('INCR', KEYS[2]))
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return redis.call('GET', KEYS[2])
end
return false
