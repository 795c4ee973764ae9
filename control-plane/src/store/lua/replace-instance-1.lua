--[[
  Compare-and-set of an instance record: writes the new record only if the stored one is still at
  the revision the caller read. This is the optimistic-concurrency step behind PATCH, start and
  stop (and If-Match): two concurrent updates never silently overwrite each other. The stored
  revision is read by stored_revision (stored-revision.lua).

  KEYS[1] instance:{name}   STRING  the instance record (Instance proto JSON)

  ARGV[1] revision the caller read (decimal string)
  ARGV[2] new record

  Returns {"ok"} | {"not_found"} | {"conflict", current revision}
]]
--- @include "stored-revision"
local current = redis.call("GET", KEYS[1])
if not current then return {"not_found"} end
local revision = stored_revision(current)
if revision ~= ARGV[1] then return {"conflict", revision} end
redis.call("SET", KEYS[1], ARGV[2])
return {"ok"}
