-- wrk script for bench/http-load.sh: POST /v1/keys/verify with a key picked at random per
-- request: with probability KW_MALFORMED % a malformed one, with KW_UNKNOWN % one this server
-- never issued, with KW_FOREIGN % a string of another vendor's shape, else a valid one. The keys
-- are read from files in init(), one a line (KW_KEYS, KW_MALFORMED_KEYS, KW_UNKNOWN_KEYS,
-- KW_FOREIGN_KEYS; a file is read only when its share is not 0),
-- so any number of keys works. Each thread has its own Lua state, its own copy of the lists
-- and its own random generator. done() prints p99.9 (wrk --latency stops at 99%).

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

local function read(path, what)
  assert(path and path ~= "", "verify.lua: no file for the " .. what .. " keys")
  local list = {}
  for line in io.lines(path) do
    if line ~= "" then list[#list + 1] = line end
  end
  assert(#list > 0, "verify.lua: no " .. what .. " keys in " .. path)
  return list
end

local keys, malformed, unknown, foreign = {}, {}, {}, {}
local n, nm, nu, nf, pm, pu, pf = 0, 0, 0, 0, 0, 0, 0
function init(args)
  math.randomseed(os.time() * 1000 + id)
  local sm = (tonumber(os.getenv("KW_MALFORMED") or "0") or 0) / 100
  local su = (tonumber(os.getenv("KW_UNKNOWN") or "0") or 0) / 100
  local sf = (tonumber(os.getenv("KW_FOREIGN") or "0") or 0) / 100
  keys = read(os.getenv("KW_KEYS"), "valid")
  if sm > 0 then malformed = read(os.getenv("KW_MALFORMED_KEYS"), "malformed") end
  if su > 0 then unknown = read(os.getenv("KW_UNKNOWN_KEYS"), "unknown") end
  if sf > 0 then foreign = read(os.getenv("KW_FOREIGN_KEYS"), "foreign") end
  n, nm, nu, nf = #keys, #malformed, #unknown, #foreign
  pm, pu, pf = sm, sm + su, sm + su + sf
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("KW_ROOT")
end

function request()
  local r, key = math.random(), nil
  if r < pm then key = malformed[math.random(nm)]
  elseif r < pu then key = unknown[math.random(nu)]
  elseif r < pf then key = foreign[math.random(nf)]
  else key = keys[math.random(n)] end
  return wrk.format(nil, nil, nil, '{"key":"' .. key .. '"}')
end

function done(summary, latency, requests)
  io.write(string.format("Latency p99.9: %.2fms\n", latency:percentile(99.9) / 1000))
end
