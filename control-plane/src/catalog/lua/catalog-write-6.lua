--[[
  Writes (or deletes) one entry of a catalog collection as one atomic step: a compare-and-set on
  the entry's revision (and, for aliases, on the alias graph's counter, so two writes checked
  against the same graph cannot make a cycle together), the entry, its paging index, its record
  in the route table's change log (watchers get it as a delta, watch/lua/change-log.lua), and the
  fleet event that says what changed. Routers and every control plane are nudged.

  KEYS[1] the collection's hash   (key -> entry proto JSON)
  KEYS[2] its index               ZSET of keys, score 0
  KEYS[3] routes-version          STRING
  KEYS[4] routes-log              STREAM
  KEYS[5] events                  STREAM
  KEYS[6] the guard counter       STRING (catalog-alias-graph; unused unless ARGV[5] is set)

  ARGV[1] the collection's name in the change log (catalogAlias, catalogModel, catalogBackend, apiKey)
  ARGV[2] the entry's key
  ARGV[3] the new entry's JSON, or "" to delete it
  ARGV[4] the revision the caller read ("0": the entry must not exist)
  ARGV[5] the guard counter's value the caller read, or "" for no guard
  ARGV[6] changes channel
  ARGV[7] event kind, e.g. catalog.alias.updated
  ARGV[8] event message
  ARGV[9] now, ms

  Returns {"ok", version} | {"conflict", current revision} | {"guard"} | {"absent"}
]]
--- @include "entry-revision"
--- @include "../../watch/lua/change-log"
local current = redis.call('HGET', KEYS[1], ARGV[2])
local revision = current and entry_revision(current) or "0"
if ARGV[3] == "" and not current then return {"absent"} end
if revision ~= ARGV[4] then return {"conflict", revision} end
if ARGV[5] ~= "" then
  if (redis.call('GET', KEYS[6]) or "0") ~= ARGV[5] then return {"guard"} end
  redis.call('INCR', KEYS[6])
end
if ARGV[3] == "" then
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
else
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('ZADD', KEYS[2], 0, ARGV[2])
end
local version = log_change(KEYS[3], KEYS[4], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', 10000, '*', 'time_ms', ARGV[9], 'kind', ARGV[7], 'instance', '', 'node', '', 'message', ARGV[8])
redis.call('PUBLISH', ARGV[6], 'routes')
redis.call('PUBLISH', ARGV[6], 'event')
return {"ok", tostring(version)}
