--[[
  Claims GPU memory, ports and a process slot on one node for one replica, and writes the
  assignment and the replica record, all or nothing. Every check runs against Redis, not against
  the caller's (possibly stale) view, so two schedulers can never double-book a GPU or a port.

  KEYS[1] node:{node}                 Node JSON (read: state, epoch, cordon/drain, GPUs, capacity)
  KEYS[2] node-claims:{node}          HASH gpu:{i} -> MiB, port:{n} -> assignment, count, a:{id}
  KEYS[3] assignments:{node}          HASH assignment id -> Assignment JSON
  KEYS[4] assignments-version:{node}  counter
  KEYS[5] replicas:{instance}         HASH assignment id -> Replica JSON
  KEYS[6] events                      STREAM; the instance.placed event is written here, atomically
                                      with the placement (same fields as store/event-log.ts)

  ARGV[1]  node epoch the decision was made for
  ARGV[2]  assignment id
  ARGV[3]  Assignment JSON
  ARGV[4]  Replica JSON
  ARGV[5]  MiB to claim on each GPU
  ARGV[6]  gRPC port
  ARGV[7]  Prometheus port
  ARGV[8]  changes channel
  ARGV[9]  "1": refuse if the replica record already names a node (a second worker got there)
  ARGV[10] node name
  ARGV[11] event: instance name
  ARGV[12] event: message
  ARGV[13] event: now in ms
  ARGV[14] event stream MAXLEN (approximate)
  ARGV[15..] GPU indices

  Returns {1, assignments-version} or {0, reason, claims as a flat field/value list}.
]]
local function conflict(reason)
  return {0, reason, redis.call('HGETALL', KEYS[2])}
end

local raw = redis.call('GET', KEYS[1])
if not raw then return conflict('node unknown') end
local node = cjson.decode(raw)
if node.state ~= 'ready' then return conflict('node not ready') end
if node.cordoned or node.draining then return conflict('node cordoned') end
if tostring(node.epoch or '0') ~= ARGV[1] then return conflict('node epoch changed') end

local capacity = tonumber(node.capacity or 0)
local count = tonumber(redis.call('HGET', KEYS[2], 'count') or '0')
if capacity > 0 and count >= capacity then return conflict('process capacity full') end

local mb = tonumber(ARGV[5])
local gpus = {}
for i = 15, #ARGV do
  local idx = tonumber(ARGV[i])
  local total = nil
  for _, g in ipairs(node.gpus or {}) do
    if tonumber(g.index or 0) == idx then total = tonumber(g.memoryTotalMb or 0) end
  end
  if not total then return conflict('GPU ' .. idx .. ' missing') end
  local used = tonumber(redis.call('HGET', KEYS[2], 'gpu:' .. idx) or '0')
  if used + mb > total then return conflict('insufficient GPU memory') end
  gpus[#gpus + 1] = idx
end

if ARGV[6] == ARGV[7] then return conflict('port collision') end
if redis.call('HEXISTS', KEYS[2], 'port:' .. ARGV[6]) == 1 then return conflict('port taken') end
if redis.call('HEXISTS', KEYS[2], 'port:' .. ARGV[7]) == 1 then return conflict('port taken') end

if ARGV[9] == '1' then
  local existing = redis.call('HGET', KEYS[5], ARGV[2])
  if existing and (cjson.decode(existing).node or '') ~= '' then return conflict('replica already placed') end
end

-- Every check passed: write everything.
for _, idx in ipairs(gpus) do
  if mb > 0 then redis.call('HINCRBY', KEYS[2], 'gpu:' .. idx, mb) end
end
redis.call('HSET', KEYS[2], 'port:' .. ARGV[6], ARGV[2], 'port:' .. ARGV[7], ARGV[2])
redis.call('HINCRBY', KEYS[2], 'count', 1)
redis.call('HSET', KEYS[2], 'a:' .. ARGV[2], ARGV[5] .. '|' .. table.concat(gpus, ',') .. '|' .. ARGV[6] .. '|' .. ARGV[7])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
local version = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[5], ARGV[2], ARGV[4])
redis.call('PUBLISH', ARGV[8], 'assignments:' .. ARGV[10])
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[14], '*', 'time_ms', ARGV[13], 'kind', 'instance.placed',
  'instance', ARGV[11], 'node', ARGV[10], 'message', ARGV[12])
redis.call('PUBLISH', ARGV[8], 'event')
return {1, version}
