--[[
  Deletes an instance record and its index entry, optionally only at an expected revision
  (If-Match). Replicas, assignments, claims and routes are the scheduler's: it removes them when
  it sees replicas of an instance that no longer exists. A record that cannot be decoded is
  deleted all the same (stored_revision, in stored-revision.lua, reads it as revision 0).

  KEYS[1] instance:{name}   STRING  the instance record (Instance proto JSON)
  KEYS[2] instances         ZSET    instance names

  ARGV[1] name
  ARGV[2] expected revision (decimal string), or "" for any
  ARGV[3] changes channel, nudged with "instance:{name}" (the route table stops listing the
          instance as unready: routes/unready-sync.ts removes its entry)

  Returns {"ok", revision deleted} | {"not_found"} | {"conflict", current revision}
]]
--- @include "stored-revision"
local current = redis.call("GET", KEYS[1])
if not current then return {"not_found"} end
local revision = stored_revision(current)
if ARGV[2] ~= "" and revision ~= ARGV[2] then return {"conflict", revision} end
redis.call("DEL", KEYS[1])
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("PUBLISH", ARGV[3], "instance:" .. ARGV[1])
return {"ok", revision}
