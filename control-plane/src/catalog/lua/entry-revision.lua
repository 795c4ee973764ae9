--[[
  Include (`--- @include`, see store/lua-source.ts) of the catalog's write scripts:
  entry_revision(json) is the stored entry's `revision` as a decimal string, or "0" when the
  entry has none or is not JSON. A remote backend is stored as CatalogBackend, whose revision is
  `backend.revision`. Lone-surrogate escapes, which cjson refuses, are made harmless first, as in
  store/lua/stored-revision.lua.
]]
local function entry_revision(json)
  local tolerant = string.gsub(json, "\\u[dD][89a-fA-F]%x%x", "\\ufffd")
  local ok, decoded = pcall(cjson.decode, tolerant)
  if not ok or type(decoded) ~= "table" then return "0" end
  local holder = decoded
  if type(decoded["backend"]) == "table" then holder = decoded["backend"] end
  if holder["revision"] == nil then return "0" end
  return tostring(holder["revision"])
end
