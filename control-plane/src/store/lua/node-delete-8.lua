--[[
  Forgets a node nothing runs on: deletes its record, its claims (GPU memory, ports, process
  count), its assignments hash and version, its drain record, and its entry in `nodes`, and
  writes the node.deleted event, all at once. The caller decided from the record it read that the
  node may go (lost, left, or cordoned/draining); the compare-and-set on that record makes the
  decision hold here, and the assignment count is checked here because assignments change without
  the record changing. A placement can never land on a node being deleted: the claim script
  refuses nodes that are not ready or cordoned, and after this script there is no node to claim on.

  KEYS[1] node:{name}
  KEYS[2] node-claims:{name}
  KEYS[3] assignments:{name}
  KEYS[4] assignments-version:{name}
  KEYS[5] drain:{name}
  KEYS[6] nodes (ZSET, heartbeat scores)
  KEYS[7] events (STREAM; same fields as store/event-log.ts)
  KEYS[8] lease-token:{lease} (read only when ARGV[1] is not empty)

  ARGV[1] fencing token, or "" for an operator's delete (no lease needed)
  ARGV[2] the node JSON the caller read (compare-and-set)
  ARGV[3] node name
  ARGV[4] changes channel
  ARGV[5] heartbeat cutoff in ms: refuse if the node heartbeated after it ("" = no check)
  ARGV[6] event message
  ARGV[7] event: now in ms
  ARGV[8] event stream MAXLEN (approximate)

  Returns {1} deleted, {0, "changed"} the record changed (read again), {0, "assignments", n}
  assignments remain, {0, "heartbeat"} a heartbeat newer than the cutoff, {-1} stale token.
]]
if ARGV[1] ~= '' and redis.call('GET', KEYS[8]) ~= ARGV[1] then return {-1} end
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[2] then return {0, 'changed'} end
local assigned = redis.call('HLEN', KEYS[3])
if assigned > 0 then return {0, 'assignments', assigned} end
if ARGV[5] ~= '' then
  local score = tonumber(redis.call('ZSCORE', KEYS[6], ARGV[3]) or '0')
  if score > tonumber(ARGV[5]) then return {0, 'heartbeat'} end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('ZREM', KEYS[6], ARGV[3])
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[8], '*', 'time_ms', ARGV[7], 'kind', 'node.deleted',
  'instance', '', 'node', ARGV[3], 'message', ARGV[6])
-- Node caches drop the node, and a WatchAssignments stream of it ends (its agent registers again).
redis.call('PUBLISH', ARGV[4], 'node:' .. ARGV[3])
redis.call('PUBLISH', ARGV[4], 'assignments:' .. ARGV[3])
redis.call('PUBLISH', ARGV[4], 'event')
return {1}
