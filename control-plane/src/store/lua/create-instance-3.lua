--[[
  Creates an instance atomically: exactly one of several concurrent creates of a name succeeds,
  the instance count never exceeds the maximum, and a create carrying an Idempotency-Key that was
  already used returns what that key recorded instead of creating anything.

  KEYS[1] instance:{name}       STRING  the instance record
  KEYS[2] instances             ZSET    instance names scored by creation time
  KEYS[3] idempotency:{key}     STRING  {name, fingerprint} of the create that used the key
                                        (any key when ARGV[5] is empty; it is then not touched)

  ARGV[1] name
  ARGV[2] instance record (Instance proto JSON, no replicas)
  ARGV[3] creation time, ms
  ARGV[4] maximum number of instances (0 = no limit)
  ARGV[5] idempotency record to store, or "" when the request has no key
  ARGV[6] idempotency record lifetime, ms
  ARGV[7] changes channel, nudged with "instance:{name}" (the route table lists the new
          instance as unready: routes/unready-sync.ts writes its entry)

  Returns {"created"} | {"exists"} | {"max", count} | {"replay", stored idempotency record}
]]
if ARGV[5] ~= "" then
  local stored = redis.call("GET", KEYS[3])
  if stored then return {"replay", stored} end
end
if redis.call("EXISTS", KEYS[1]) == 1 then return {"exists"} end
local max = tonumber(ARGV[4])
if max > 0 then
  local count = redis.call("ZCARD", KEYS[2])
  if count >= max then return {"max", tostring(count)} end
end
redis.call("SET", KEYS[1], ARGV[2])
redis.call("ZADD", KEYS[2], ARGV[3], ARGV[1])
if ARGV[5] ~= "" then
  redis.call("SET", KEYS[3], ARGV[5], "PX", ARGV[6])
end
redis.call("PUBLISH", ARGV[7], "instance:" .. ARGV[1])
return {"created"}
