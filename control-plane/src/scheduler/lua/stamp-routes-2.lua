--[[
  Gives a computed route table its version. Routes bump routes-version where they change, but the
  unready list (instances without a route, and why) is computed on read, so a reason that changes
  moves no counter by itself. This compares the content a reader computed with the content the
  current version was first served with, and bumps the version when they differ.

  KEYS[1] routes-version
  KEYS[2] routes-content   "<version> <content hash>": what the current version stands for

  ARGV[1] the version the reader's snapshot saw
  ARGV[2] the hash of the table the reader computed (routes and unready, without the version)
  ARGV[3] changes channel

  Returns the version to serve the reader's table with: unchanged content keeps the version; new
  content at the same version gets the next one (and a "routes" nudge); if the version moved since
  the snapshot, the snapshot's own version (the reader's table is already older than the current).
]]
local version = redis.call('GET', KEYS[1]) or '0'
if version ~= ARGV[1] then return ARGV[1] end
local stamped = redis.call('GET', KEYS[2])
local mine = version .. ' ' .. ARGV[2]
if stamped == mine then return version end
if stamped and string.sub(stamped, 1, #version + 1) == version .. ' ' then
  version = tostring(redis.call('INCR', KEYS[1]))
  redis.call('SET', KEYS[2], version .. ' ' .. ARGV[2])
  redis.call('PUBLISH', ARGV[3], 'routes')
  return version
end
-- The first table computed at this version (a route change bumped it): it is what it stands for.
redis.call('SET', KEYS[2], mine)
return version
