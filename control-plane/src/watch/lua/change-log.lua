--[[
  Include (`--- @include`) of every script that writes an entry of a watched set (the route
  table's routes and unready instances; later the model catalog, API keys): the write's record in
  the set's change log, which is what lets watchers get only what changed (watch/watch-cache.ts).

  log_change(version_key, log_key, collection, key) takes the set's next version (INCR) and
  appends {c = collection, k = key} to the log with that version as its stream id, "<version>-0".
  Versions are therefore dense, one per logged change: a reader that finds a version missing
  knows that something changed the set without this include (an older control plane) and reads
  the whole set instead. The log is capped (about CHANGE_LOG_MAXLEN entries, trimmed from the
  oldest), so a watcher further behind gets a snapshot.

  When the version went back (its key deleted, the log kept), the log cannot take a lower id: it
  starts again from that version, and readers, who see the version go back, take a new epoch.
  Nothing here raises an error, so a script never stops halfway through its writes.
]]
local CHANGE_LOG_MAXLEN = 10000
local function log_change(version_key, log_key, collection, key)
  local version = redis.call('INCR', version_key)
  local id = version .. '-0'
  local added = redis.pcall('XADD', log_key, 'MAXLEN', '~', CHANGE_LOG_MAXLEN, id, 'c', collection, 'k', key)
  if type(added) == 'table' and added.err then
    redis.call('DEL', log_key)
    redis.call('XADD', log_key, id, 'c', collection, 'k', key)
  end
  return version
end
