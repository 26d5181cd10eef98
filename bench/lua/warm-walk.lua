-- wrk script for bench/http-load.sh's warm-up pass: every created key verified once, so that
-- each is in L1 (and in L2 with --l2) before anything is measured, for any number of keys.
--
-- Environment: KW_ROOT (root key), KW_KEYS (one key a line), KW_IDS (the matching keyIds, line by
-- line), KW_COUNT (lines in each), KW_THREADS (wrk's -t), KW_OUT (path prefix: thread i writes
-- KW_OUT<i>.done).
--
-- Thread i walks its own slice of the list (lines N*i/T+1 .. N*(i+1)/T) in order. A key counts
-- as done when a 200 answer carries its keyId (verify answers name the key); once the slice is
-- sent, a thread re-sends, in order, the keys of its slice not yet answered (the ones still in
-- flight on its other connections, or any that got an error), until every key of the slice is
-- answered. Then it writes "<keys> <answers> <200 answers> <other answers> <first other answer>"
-- to its .done file and stops (wrk.thread:stop()); the caller sends wrk SIGINT once every .done
-- file is there. A thread also gives up after MAX_ERRORS answers other than 200; the caller
-- fails if any thread saw one.

local MAX_ERRORS = 100

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

-- Globals, so that done() can read them with thread:get.
answers, ok, errors = 0, 0, 0
local keys, ids, pending = {}, {}, {}
local size, remaining, nexti, cursor, finished = 0, 0, 1, 0, false
local prefix, first_error

local function slice(path, lo, hi, into)
  local i = 0
  for line in io.lines(path) do
    i = i + 1
    if i > hi then break end
    if i >= lo then into[#into + 1] = line end
  end
end

function init(args)
  local count = tonumber(os.getenv("KW_COUNT") or "")
  local nthreads = tonumber(os.getenv("KW_THREADS") or "")
  prefix = os.getenv("KW_OUT")
  assert(count and nthreads and prefix and os.getenv("KW_ROOT") and os.getenv("KW_KEYS")
    and os.getenv("KW_IDS"), "warm-walk.lua needs KW_ROOT, KW_KEYS, KW_IDS, KW_COUNT, KW_THREADS, KW_OUT")
  local lo, hi = math.floor(count * id / nthreads) + 1, math.floor(count * (id + 1) / nthreads)
  slice(os.getenv("KW_KEYS"), lo, hi, keys)
  slice(os.getenv("KW_IDS"), lo, hi, ids)
  size = #keys
  assert(size == hi - lo + 1 and #ids == size,
    string.format("thread %d: read %d keys and %d ids for lines %d..%d", id, size, #ids, lo, hi))
  for j = 1, size do pending[ids[j]] = true end
  remaining = size
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("KW_ROOT")
end

function request()
  local j
  if nexti <= size then
    j = nexti
    nexti = nexti + 1
  elseif remaining > 0 then
    -- The whole slice is sent: the next key of the slice still unanswered.
    repeat cursor = cursor % size + 1 until pending[ids[cursor]]
    j = cursor
  else
    j = 1                      -- only between the last answer and the stop
  end
  return wrk.format(nil, nil, nil, '{"key":"' .. keys[j] .. '"}')
end

local function finish()
  finished = true
  local d = assert(io.open(prefix .. id .. ".done", "w"))
  d:write(string.format("%d %d %d %d %s\n", size, answers, ok, errors, first_error or "-"))
  d:close()
  wrk.thread:stop()
end

function response(status, headers, body)
  if finished then return end
  answers = answers + 1
  local key_id = status == 200 and body:match('"keyId":"([^"]+)"')
  if key_id then
    ok = ok + 1
    if pending[key_id] then
      pending[key_id] = nil
      remaining = remaining - 1
    end
  else
    errors = errors + 1
    if not first_error then
      first_error = (tostring(status) .. " " .. (body or "")):sub(1, 300):gsub("%s+", " ")
    end
  end
  if remaining == 0 or errors >= MAX_ERRORS then finish() end
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("thread %d: %s answers, %s with 200, %s other\n", t:get("id"),
      tostring(t:get("answers")), tostring(t:get("ok")), tostring(t:get("errors"))))
  end
end
