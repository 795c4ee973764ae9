--[[
  Include (`--- @include`, see lua-source.ts) of the scripts that compare an instance record's
  revision: stored_revision(record) is the record's `revision` as a decimal string,
  or "0" when the record has none or is not JSON at all, so that such a record can still be
  deleted (it has no revision to conflict with).

  cjson refuses a lone-surrogate escape ("\ud800"), which older control planes stored when the
  API accepted one. Only the revision is read here, so every surrogate escape becomes \ufffd
  first: the text stays valid JSON (an escape becomes another escape; a "\\ud800" that is an
  escaped backslash and plain text stays plain text), and decodes wherever the API reads it.
]]
local function stored_revision(record)
  local tolerant = string.gsub(record, "\\u[dD][89a-fA-F]%x%x", "\\ufffd")
  local ok, decoded = pcall(cjson.decode, tolerant)
  if not ok or type(decoded) ~= "table" or decoded["revision"] == nil then return "0" end
  return tostring(decoded["revision"])
end

