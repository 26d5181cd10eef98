-- wrk script for bench/http-load.sh --forward-auth: GET with a key picked at random per request
-- in Authorization: Bearer, as a gateway forwards a client's request. KW_KEYS: the keys, one a
-- line. KW_GATEWAY: when set, the gateway's own key goes in Keyward-Authorization (a request
-- straight to /v1/forward-auth, as nginx's subrequest sends it); unset for a request through
-- nginx (nginx sets that header itself). done() prints p99.9 (wrk --latency stops at 99%).

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

local keys, n = {}, 0
local gateway
function init(args)
  math.randomseed(os.time() * 1000 + id)
  for line in io.lines(os.getenv("KW_KEYS")) do
    if line ~= "" then keys[#keys + 1] = line end
  end
  n = #keys
  assert(n > 0, "forward-auth.lua: no keys in KW_KEYS")
  local g = os.getenv("KW_GATEWAY")
  if g and g ~= "" then gateway = "Bearer " .. g end
end

function request()
  local headers = { ["Authorization"] = "Bearer " .. keys[math.random(n)] }
  if gateway then headers["Keyward-Authorization"] = gateway end
  return wrk.format("GET", nil, headers, nil)
end

function done(summary, latency, requests)
  io.write(string.format("Latency p99.9: %.2fms\n", latency:percentile(99.9) / 1000))
end
