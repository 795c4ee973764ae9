--[[
  Writes (or deletes) one API key as one atomic step: a compare-and-set on the record's revision,
  the record (the API's view, api-keys) and its paging index, the routers' entry (api-keys-router:
  hashes, limits; a collection of the route table's watched set) with its change-log record when
  it changes, and the fleet event. A revocation is the record marked revoked and the routers'
  entry removed: one delta, and every router stops accepting the key.

  KEYS[1] api-keys            HASH id -> ApiKey JSON
  KEYS[2] its index           ZSET of ids, score 0
  KEYS[3] api-keys-router     HASH id -> RouterApiKey JSON
  KEYS[4] routes-version      STRING
  KEYS[5] routes-log          STREAM
  KEYS[6] events              STREAM

  ARGV[1] key id
  ARGV[2] the record's new JSON, or "" to delete it
  ARGV[3] the routers' entry's new JSON, or "" to remove it
  ARGV[4] the record revision the caller read ("0": it must not exist)
  ARGV[5] changes channel
  ARGV[6] event kind, e.g. api_key.created
  ARGV[7] event message (never a key or a hash)
  ARGV[8] now, ms

  Returns {"ok", version or "0" when routers' entry did not change} | {"conflict", current revision} | {"absent"}
]]
--- @include "../../catalog/lua/entry-revision"
--- @include "../../watch/lua/change-log"
local current = redis.call('HGET', KEYS[1], ARGV[1])
local revision = current and entry_revision(current) or "0"
if ARGV[2] == "" and not current then return {"absent"} end
if revision ~= ARGV[4] then return {"conflict", revision} end
if ARGV[2] == "" then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
end
local routed = redis.call('HGET', KEYS[3], ARGV[1])
local version = "0"
if ARGV[3] == "" then
  if routed then
    redis.call('HDEL', KEYS[3], ARGV[1])
    version = tostring(log_change(KEYS[4], KEYS[5], 'apiKey', ARGV[1]))
  end
elseif routed ~= ARGV[3] then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
  version = tostring(log_change(KEYS[4], KEYS[5], 'apiKey', ARGV[1]))
end
redis.call('XADD', KEYS[6], 'MAXLEN', '~', 10000, '*', 'time_ms', ARGV[8], 'kind', ARGV[6], 'instance', '', 'node', '', 'message', ARGV[7])
if version ~= "0" then redis.call('PUBLISH', ARGV[5], 'routes') end
redis.call('PUBLISH', ARGV[5], 'event')
return {"ok", version}
