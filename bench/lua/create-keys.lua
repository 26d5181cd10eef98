-- wrk script for bench/http-load.sh: creates keys through POST /v1/keys (the same JSON body for
-- every key but the name) and records each 201's "key" and "keyId", one "key keyId" line per key,
-- in a file of its own per wrk thread (each thread has its own Lua state).
--
-- Environment: KW_ROOT (root key), KW_COUNT (keys wanted, at least one per thread), KW_THREADS
-- (wrk's -t), KW_OUT (path prefix: thread i writes KW_OUT<i>.keys, then KW_OUT<i>.done).
--
-- Thread i records a quota of KW_COUNT / KW_THREADS keys (the first KW_COUNT % KW_THREADS threads
-- one more), then writes "<recorded> <non-201 answers> <first non-201 answer>" to its .done file
-- and stops (wrk.thread:stop()). wrk itself keeps waiting for -d after every thread has stopped,
-- so the caller sends it SIGINT once every .done file is there. A thread also stops after
-- MAX_ERRORS non-201 answers; the caller fails if any thread saw one. Requests still in flight
-- when a thread stops may create a few keys that nobody records; they stay unused.

local MAX_ERRORS = 100

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

-- recorded and errors are globals so that done() can read them with thread:get.
recorded, errors = 0, 0
local quota, sent, finished = 0, 0, false
local out, prefix, first_error

function init(args)
  local count = tonumber(os.getenv("KW_COUNT") or "")
  local nthreads = tonumber(os.getenv("KW_THREADS") or "")
  prefix = os.getenv("KW_OUT")
  assert(count and nthreads and prefix and os.getenv("KW_ROOT"),
    "create-keys.lua needs KW_ROOT, KW_COUNT, KW_THREADS and KW_OUT")
  quota = math.floor(count / nthreads) + ((id < count % nthreads) and 1 or 0)
  out = assert(io.open(prefix .. id .. ".keys", "w"))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("KW_ROOT")
end

function request()
  sent = sent + 1
  return wrk.format(nil, nil, nil, string.format(
    '{"name":"load-%d-%d","ownerId":"owner_load","scopes":["orders:read"]}', id, sent))
end

local function finish()
  finished = true
  out:close()
  local d = assert(io.open(prefix .. id .. ".done", "w"))
  d:write(string.format("%d %d %s\n", recorded, errors, first_error or "-"))
  d:close()
  wrk.thread:stop()
end

function response(status, headers, body)
  if finished then return end
  local key, key_id
  if status == 201 then
    key = body:match('"key":"([^"]+)"')
    key_id = body:match('"keyId":"([^"]+)"')
  end
  if key and key_id then
    out:write(key, " ", key_id, "\n")
    recorded = recorded + 1
  else
    errors = errors + 1
    if not first_error then
      first_error = (tostring(status) .. " " .. (body or "")):sub(1, 300):gsub("%s+", " ")
    end
  end
  if recorded >= quota or errors >= MAX_ERRORS then finish() end
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("thread %d: %s keys recorded, %s non-201 answers\n",
      t:get("id"), tostring(t:get("recorded")), tostring(t:get("errors"))))
  end
end
