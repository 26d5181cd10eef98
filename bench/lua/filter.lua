-- wrk script for bench/filter-load.sh: GET with a key picked at random per request in
-- Authorization: Bearer (the keys in KW_KEYS, one a line); the URL's path says which endpoint.
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

local keys, n = {}, 0
function init(args)
  math.randomseed(os.time() * 1000 + id)
  for line in io.lines(os.getenv("KW_KEYS")) do
    if line ~= "" then keys[#keys + 1] = line end
  end
  n = #keys
  assert(n > 0, "filter.lua: no keys in KW_KEYS")
end

function request()
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. keys[math.random(n)] }, nil)
end
