--[[
  Reads what changed in a watched set after a version, with the current value of every entry
  the changes name, in one atomic step: the values are those of the version returned, never a
  mix of two moments.

  KEYS[1] the set's epoch     STRING
  KEYS[2] the set's version   STRING (counter, see change-log.lua)
  KEYS[3] the set's log       STREAM of {c = collection, k = key}, ids "<version>-0"
  KEYS[4..] the hashes of the set's collections (key -> the entry's proto JSON)

  ARGV[1] the version the reader has: entries after it are read
  ARGV[2] the most entries to read
  ARGV[3..] the collection name the log uses for KEYS[4], KEYS[5], ...

  Returns {epoch or false, version, then per entry: version, collection, key, value or false}.
  A value is false when the entry is gone, or of a collection not listed in ARGV.
]]
local hashes = {}
for i = 3, #ARGV do hashes[ARGV[i]] = KEYS[i + 1] end
local out = {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]) or '0'}
for _, entry in ipairs(redis.call('XRANGE', KEYS[3], '(' .. ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])) do
  local fields = entry[2]
  local collection, key = '', ''
  for i = 1, #fields, 2 do
    if fields[i] == 'c' then collection = fields[i + 1] elseif fields[i] == 'k' then key = fields[i + 1] end
  end
  local hash = hashes[collection]
  out[#out + 1] = string.match(entry[1], '^(%d+)')
  out[#out + 1] = collection
  out[#out + 1] = key
  out[#out + 1] = hash and redis.call('HGET', hash, key) or false
end
return out
