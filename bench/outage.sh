#!/usr/bin/env bash
# Verifications of cached keys over HTTP while PostgreSQL fails: p50/p99, throughput, non-2xx
# answers and /health/ready, for a healthy baseline and three kinds of outage. Usage:
#   bench/outage.sh [--keys N] [--duration SECONDS] [--connections C]
#                   [--modes healthy,refused,blackhole,locked] [--out DIR]
# healthy:   no fault (the baseline).
# refused:   the database port refuses connections (bench/pgproxy.py stops listening and closes
#            every connection).
# blackhole: the proxy accepts connections and keeps them open but forwards nothing.
# locked:    the database is fine, but another session holds ACCESS EXCLUSIVE on api_keys.
# The server reaches PostgreSQL (127.0.0.1:5432, user postgres, a scratch database) through the
# proxy, with --cache-fresh-seconds 1: every key is cached, and past its fresh window, when the
# fault starts. Logs (server, proxy, wrk, probes) go to --out (default
# bench/results/outage-<UTC time>/).
set -euo pipefail

start_dir="$PWD"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
lua_dir="$root/bench/lua"

keys=1000
duration=10          # wrk -d, seconds
connections=16
threads=2
modes=healthy,refused,blackhole,locked
out=""
pg_host=127.0.0.1
pg_port=5432
pg_user=postgres
pg_admin_db=test
fault_settle=2       # seconds between fault on and wrk: every entry is past its 1 s fresh window
recover_limit=60     # seconds to wait for ready + a good verify after the fault is off
probe_timeout=15     # curl --max-time of a /health/ready probe during a fault

usage() { sed -n '2,14p' "$root/bench/outage.sh" | sed 's/^# \{0,1\}//'; }
fail_usage() { echo "outage: $*" >&2; usage >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --keys|--duration|--connections|--modes|--out) [ $# -ge 2 ] || fail_usage "$1 needs a value" ;;
    *) fail_usage "unknown argument '$1'" ;;
  esac
  case "$1" in
    --keys) keys="$2" ;;
    --duration) duration="${2%s}" ;;
    --connections) connections="$2" ;;
    --modes) modes="$2" ;;
    --out) out="$2" ;;
  esac
  shift 2
done
for pair in "--keys:$keys" "--duration:$duration" "--connections:$connections"; do
  [[ "${pair#*:}" =~ ^[1-9][0-9]*$ ]] || fail_usage "${pair%%:*} must be a positive whole number, got '${pair#*:}'"
done
[ "$connections" -ge "$threads" ] || fail_usage "--connections must be at least $threads (wrk -t $threads)"
IFS=, read -ra mode_list <<<"$modes"
[ "${#mode_list[@]}" -gt 0 ] || fail_usage "--modes is empty"
for m in "${mode_list[@]}"; do
  case "$m" in healthy|refused|blackhole|locked) ;; *) fail_usage "unknown mode '$m' (healthy, refused, blackhole, locked)" ;; esac
done

for tool in curl psql python3 wrk; do
  command -v "$tool" >/dev/null || { echo "outage: needs $tool (wrk: apt-get install wrk)" >&2; exit 1; }
done
for f in "$lua_dir/create-keys.lua" "$lua_dir/warm-walk.lua" "$root/bench/pgproxy.py"; do
  [ -r "$f" ] || { echo "outage: missing $f" >&2; exit 1; }
done

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="${out:-$root/bench/results/outage-$stamp}"
[[ "$out" = /* ]] || out="$start_dir/$out"
mkdir -p "$out"
echo "== logs: $out" >&2

# (1) Build if needed (./keyward builds when sources are newer than the jar).
echo "== building if needed" >&2
./keyward --help >/dev/null

# Scratch resources, all removed by the trap (also on failure and Ctrl-C).
work="$(mktemp -d /tmp/kw-outage.XXXXXX)"
db="kw_outage_$$"
lock_app="kw-outage-lock-$$"     # application_name of the psql session that holds the lock
db_created=""
server_pid=""
proxy_pid=""
lock_pid=""
bg_pid=""                        # a wrk in the background

psql_admin() { timeout 30 psql -q -X -v ON_ERROR_STOP=1 -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$pg_admin_db" "$@"; }
psql_db() { timeout 30 psql -q -X -At -v ON_ERROR_STOP=1 -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$db" "$@"; }
stop_pid() {                     # PID SECONDS: TERM, KILL after SECONDS
  local pid="$1" limit="$2"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $(( limit * 10 ))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}
# end_lock: the locking session's backend is terminated (psql killed alone would leave it in
# pg_sleep, holding the lock, until it next talks to the client), then psql itself.
end_lock() {
  if [ -n "$db_created" ]; then
    psql_admin -At -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
      WHERE application_name = '$lock_app'" >/dev/null 2>&1 || true
  fi
  stop_pid "$lock_pid" 5
  lock_pid=""
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$bg_pid" ]; then kill -KILL "$bg_pid" 2>/dev/null || true; wait "$bg_pid" 2>/dev/null || true; fi
  end_lock
  stop_pid "$server_pid" 10
  stop_pid "$proxy_pid" 5
  if [ -n "$db_created" ]; then
    timeout 60 psql -q -X -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$pg_admin_db" \
      -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 \
      || echo "outage: could not drop database $db" >&2
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {                    # the first free loopback port from $1 on
  local p="$1"
  for _ in $(seq 1 50); do in_use "$p" || { echo "$p"; return 0; }; p=$((p + 1)); done
  echo "outage: no free port near $1" >&2; return 1
}
# wait_until SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds; fails after SECONDS.
wait_until() {
  local limit="$1"; shift
  local end=$(( $(date +%s%N) + limit * 1000000000 ))
  until "$@"; do
    [ "$(date +%s%N)" -lt "$end" ] || return 1
    sleep 0.1
  done
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# (2) The scratch database (synchronous_commit off on it alone, as in http-load.sh: faster key
# creation; a scratch database can lose its last commits in a crash).
psql_admin -c "CREATE DATABASE $db" >/dev/null
db_created=yes
psql_admin -c "ALTER DATABASE $db SET synchronous_commit = off" >/dev/null

# (3) The proxy between the server and PostgreSQL. It reads its mode from $work/proxy.mode every
# 50 ms and acknowledges in $work/proxy.mode.ack; --parent-pid makes it exit with this script.
echo pass >"$work/proxy.mode"
python3 "$root/bench/pgproxy.py" --mode-file "$work/proxy.mode" --port-file "$work/proxy.port" \
  --target "$pg_host:$pg_port" --parent-pid $$ 2>"$out/proxy.log" &
proxy_pid=$!
wait_until 10 test -s "$work/proxy.port" || { echo "outage: the proxy did not start:" >&2; cat "$out/proxy.log" >&2; exit 1; }
proxy_port=$(cat "$work/proxy.port")
set_proxy() {                    # MODE: switch the proxy and wait until it has applied it
  echo "$1" >"$work/proxy.mode.tmp" && mv "$work/proxy.mode.tmp" "$work/proxy.mode"
  wait_until 5 grep -qx "$1" "$work/proxy.mode.ack" \
    || { echo "outage: the proxy did not switch to $1:" >&2; tail -n 5 "$out/proxy.log" >&2; exit 1; }
}

# (4) The server, through the proxy, fresh window 1 s (the stale window keeps its default).
port=$(free_port 18580)
base="http://127.0.0.1:$port"
data="$work/data"
server_cmd=(./keyward serve --host 127.0.0.1 --port "$port" --data-dir "$data"
  --db-url "jdbc:postgresql://127.0.0.1:$proxy_port/$db?user=$pg_user" --cache-fresh-seconds 1)
echo "== starting: ${server_cmd[*]}" >&2
"${server_cmd[@]}" >"$out/server.log" 2>&1 &
server_pid=$!
ready() { curl -fs --max-time 2 -o /dev/null "$base/health/ready"; }
server_up() { kill -0 "$server_pid" 2>/dev/null || { echo "outage: the server exited; its log:" >&2; tail -n 40 "$out/server.log" >&2; exit 1; }; }
started() { ! kill -0 "$server_pid" 2>/dev/null || { ready && [ -s "$data/root.key" ]; }; }
wait_until 120 started \
  || { echo "outage: the server did not become ready in 120 s; its log:" >&2; tail -n 40 "$out/server.log" >&2; exit 1; }
server_up
root_key=$(tr -d '\n' <"$data/root.key")

# wrk_until_done DIR URL SCRIPT LIMIT_S [NAME=VALUE...]: wrk with create-keys.lua or
# warm-walk.lua, whose threads each write DIR/t<i>.done when their share is done; wrk would wait
# out -d, so it gets SIGINT once every thread is done. Fails (returns 1) if wrk ends first.
wrk_until_done() {
  local dir="$1" url="$2" script="$3" limit="$4"; shift 4
  rm -rf "$dir"; mkdir -p "$dir"
  env "$@" KW_ROOT="$root_key" KW_THREADS="$threads" KW_OUT="$dir/t" \
    wrk -t "$threads" -c "$connections" -d "${limit}s" --timeout 10s -s "$script" "$url" >"$dir/wrk.txt" 2>&1 &
  bg_pid=$!
  while [ "$(find "$dir" -name 't*.done' | wc -l)" -lt "$threads" ] && kill -0 "$bg_pid" 2>/dev/null; do
    sleep 0.1
  done
  kill -INT "$bg_pid" 2>/dev/null || true
  wait "$bg_pid" || true
  bg_pid=""
  [ "$(find "$dir" -name 't*.done' | wc -l)" -ge "$threads" ] \
    || { echo "outage: wrk ($(basename "$script")) ended before every thread was done:" >&2; cat "$dir/wrk.txt" >&2; return 1; }
}

# (5) N keys through POST /v1/keys (lua/create-keys.lua: "key keyId" lines per thread).
echo "== creating $keys keys" >&2
wrk_until_done "$work/create" "$base/v1/keys" "$lua_dir/create-keys.lua" $(( 120 + keys / 100 )) KW_COUNT="$keys"
cat "$work/create"/t*.keys >"$work/created.txt"
awk '{ print $1 }' "$work/created.txt" >"$work/keys.txt"
awk '{ print $2 }' "$work/created.txt" >"$work/ids.txt"
errors=$(awk '{ s += $2 } END { print s + 0 }' "$work/create"/t*.done)
distinct=$(sort -u "$work/keys.txt" | wc -l)
if [ "$errors" != 0 ] || [ "$distinct" != "$keys" ]; then
  echo "outage: key creation: $distinct distinct keys of $keys, $errors answers other than 201" >&2; exit 1
fi

# warm KEYS: every key verified once (lua/warm-walk.lua), so that all of them are in L1, loaded
# just now. Returns 1 (and says why) if any key did not answer 200.
warm() {
  wrk_until_done "$work/walk" "$base/v1/keys/verify" "$lua_dir/warm-walk.lua" $(( 60 + keys / 100 )) \
    KW_KEYS="$work/keys.txt" KW_IDS="$work/ids.txt" KW_COUNT="$keys" || return 1
  local w_keys w_ok w_errors
  read -r w_keys _ w_ok w_errors < <(awk '{ k += $1; a += $2; o += $3; e += $4 } END { print k, a, o, e }' "$work/walk"/t*.done)
  if [ "$w_errors" != 0 ] || [ "$w_keys" != "$keys" ]; then
    echo "outage: warm-up: $w_ok answers 200, $w_errors others; the first:" \
      "$(awk '$4 > 0 { $1 = $2 = $3 = $4 = ""; print; exit }' "$work/walk"/t*.done)" >&2
    return 1
  fi
}
echo "== verifying every key once (fills the cache)" >&2
warm || exit 1

# The measured wrk script, written here: POST /v1/keys/verify, each thread walking the key list
# round-robin from its own offset (so consecutive requests carry different keys), counting the
# answers by status (and 200s that are not "valid":true), keeping the first body of each kind.
cat >"$work/verify-rr.lua" <<'LUA'
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end
-- Globals, read by done() through thread:get.
valid, not_valid, s429, s503, s_other = 0, 0, 0, 0, 0
first_not_valid, first_429, first_503, first_other = "", "", "", ""
local keys, n, i = {}, 0, 0
function init(args)
  for line in io.lines(os.getenv("KW_KEYS")) do
    if line ~= "" then keys[#keys + 1] = line end
  end
  n = #keys
  i = math.floor(n * id / tonumber(os.getenv("KW_THREADS")))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("KW_ROOT")
end
function request()
  i = i % n + 1
  return wrk.format(nil, nil, nil, '{"key":"' .. keys[i] .. '"}')
end
local function first(s, status, body)
  if s ~= "" then return s end
  return (tostring(status) .. " " .. (body or "")):sub(1, 200):gsub("%s+", " ")
end
function response(status, headers, body)
  if status == 200 then
    if body:find('"valid":true', 1, true) then valid = valid + 1
    else not_valid = not_valid + 1; first_not_valid = first(first_not_valid, status, body) end
  elseif status == 429 then s429 = s429 + 1; first_429 = first(first_429, status, body)
  elseif status == 503 then s503 = s503 + 1; first_503 = first(first_503, status, body)
  else s_other = s_other + 1; first_other = first(first_other, status, body) end
end
function done(summary, latency, requests)
  local t = { valid = 0, not_valid = 0, s429 = 0, s503 = 0, s_other = 0 }
  local f = {}
  for _, th in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (tonumber(th:get(k)) or 0) end
    for _, k in ipairs({ "first_not_valid", "first_429", "first_503", "first_other" }) do
      local v = th:get(k)
      if (f[k] or "") == "" and v and v ~= "" then f[k] = v end
    end
  end
  io.write(string.format("ANSWERS valid=%d not_valid=%d 429=%d 503=%d other=%d\n",
    t.valid, t.not_valid, t.s429, t.s503, t.s_other))
  for _, k in ipairs({ "first_not_valid", "first_429", "first_503", "first_other" }) do
    if f[k] then io.write("FIRST ", k, ": ", f[k], "\n") end
  end
end
LUA

# probe_ready LABEL: one GET /health/ready, logged as "<code> in <s> s: <body>" (000 when curl
# gave up after probe_timeout s). Sets probe.
probe_ready() {
  local code secs
  read -r code secs < <(curl -s --max-time "$probe_timeout" -o "$work/ready.body" \
    -w '%{http_code} %{time_total}\n' "$base/health/ready" || true)
  probe="${code:-000} in $(printf '%.2f' "${secs:-0}") s: $(tr -d '\n' <"$work/ready.body" 2>/dev/null | cut -c1-160)"
  echo "   /health/ready ($1): $probe" | tee -a "$mode_log" >&2
}
# probe_verify LABEL: one POST /v1/keys/verify by curl (of the last key, cached like the others),
# logged as "<code> <verdict or error code/message> in <s> s". Sets vprobe.
probe_verify() {
  local code secs what
  read -r code secs < <(curl -s --max-time 60 -o "$work/verify.body" -w '%{http_code} %{time_total}\n' \
    -H "Authorization: Bearer $root_key" -H 'Content-Type: application/json' \
    -d "{\"key\":\"$(tail -n 1 "$work/keys.txt")\"}" "$base/v1/keys/verify" || true)
  what=$( { grep -o '"code":"[A-Z_]*"' "$work/verify.body" | head -n 1 | cut -d'"' -f4
            grep -o '"message":"[^"]*"' "$work/verify.body" | head -n 1 | cut -d'"' -f4 | sed 's/^/: /'
          } 2>/dev/null | tr -d '\n' || true)
  vprobe="${code:-000}${what:+ $what} in $(printf '%.2f' "${secs:-0}") s"
  echo "   one verify ($1): $vprobe" | tee -a "$mode_log" >&2
}
one_verify_ok() {                # one key verifies with 200 and "valid":true
  curl -s --max-time 5 -H "Authorization: Bearer $root_key" -H 'Content-Type: application/json' \
    -d "{\"key\":\"$(head -n 1 "$work/keys.txt")\"}" "$base/v1/keys/verify" | grep -q '"valid":true'
}
metrics() { curl -s --max-time 5 "$base/metrics" || true; }
# metrics_delta BEFORE AFTER: the keyward_/hikari counters that changed during a run.
metrics_delta() {
  awk 'NR == FNR { if ($0 !~ /^#/) v[$1] = $2; next }
       $0 !~ /^#/ && ($1 ~ /^keyward_/ || $1 ~ /^hikaricp_connections_(timeout|creation)/) && $1 ~ /_total|_count/ && $2 != v[$1] {
         printf "   %-90s %+.0f\n", $1, $2 - v[$1] }' "$1" "$2"
}

# lock_held: the psql session of the locked mode holds ACCESS EXCLUSIVE on api_keys (asked in
# the scratch database itself: pg_locks needs no lock on api_keys).
lock_held() {
  [ "$(psql_db -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
    JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE c.relname = 'api_keys' AND l.mode = 'AccessExclusiveLock' AND l.granted
      AND a.application_name = '$lock_app'")" = 1 ]
}
# fault_on MODE / fault_off MODE.
fault_on() {
  case "$1" in
    healthy) ;;
    refused) set_proxy refuse ;;
    blackhole) set_proxy blackhole ;;
    locked)
      # psql runs the three statements as one query string; pg_sleep keeps the transaction (and
      # the lock) open. The session goes straight to PostgreSQL, not through the proxy.
      PGAPPNAME="$lock_app" psql -X -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$db" \
        -c 'BEGIN; LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3600);' \
        >"$out/locked-psql.log" 2>&1 &
      lock_pid=$!
      wait_until 15 lock_held || { echo "outage: the lock on api_keys was not granted in 15 s" >&2; exit 1; }
      ;;
  esac
}
fault_off() {
  case "$1" in
    healthy) ;;
    refused|blackhole) set_proxy pass ;;
    locked) end_lock ;;
  esac
}

to_ms() { awk -v v="$1" 'BEGIN {
  if (v == "") { print "-"; exit }
  if (v ~ /us$/) x = v / 1000; else if (v ~ /ms$/) x = v + 0; else if (v ~ /s$/) x = v * 1000; else if (v ~ /m$/) x = v * 60000; else x = v + 0
  printf "%.2f", x }'; }

# (6) Each mode: fault on, 2 s, wrk (a /health/ready probe before it and one half-way through),
# fault off, then wait for ready and a good verify (the recovery time), and verify every key once
# again so the next mode starts from a full cache.
rows=()
for mode in "${mode_list[@]}"; do
  mode_log="$out/$mode.log"
  : >"$mode_log"
  server_up
  metrics >"$work/metrics.before"
  echo "== $mode: fault on (load average $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$mode_log" >&2
  fault_on "$mode"
  sleep "$fault_settle"
  probe_ready "fault on + ${fault_settle} s"
  probe_verify "alone, before wrk"; alone="$vprobe"
  echo "   wrk -t $threads -c $connections -d ${duration}s --timeout 30s --latency (round-robin over $keys cached keys)" | tee -a "$mode_log" >&2
  KW_KEYS="$work/keys.txt" KW_ROOT="$root_key" KW_THREADS="$threads" \
    timeout $(( duration + 60 )) wrk -t "$threads" -c "$connections" -d "${duration}s" --timeout 30s --latency \
    -s "$work/verify-rr.lua" "$base/v1/keys/verify" >"$out/wrk-$mode.txt" 2>&1 &
  bg_pid=$!
  sleep "$(awk -v d="$duration" 'BEGIN { print d / 2 }')"
  probe_ready "half-way through wrk"; mid_probe="$probe"
  wait "$bg_pid" || echo "outage: wrk ($mode) exited with an error; see $out/wrk-$mode.txt" >&2
  bg_pid=""
  metrics >"$work/metrics.after"
  cat "$out/wrk-$mode.txt" >>"$mode_log"
  t_off=$(now_ms)
  fault_off "$mode"
  recovered="-"
  if wait_until "$recover_limit" ready && wait_until "$recover_limit" one_verify_ok; then
    recovered="$(awk -v ms=$(( $(now_ms) - t_off )) 'BEGIN { printf "%.1f s", ms / 1000 }')"
  else
    recovered="not in ${recover_limit} s"
  fi
  echo "   fault off; ready and a verify succeeded after: $recovered" | tee -a "$mode_log" >&2
  { echo "   counters during the wrk run and the probes:"; metrics_delta "$work/metrics.before" "$work/metrics.after"; } >>"$mode_log"

  w="$out/wrk-$mode.txt"
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$w")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$w")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$w")")
  read -r n_valid n_not_valid n429 n503 n_other < <(sed -n \
    's/^ANSWERS valid=\([0-9]*\) not_valid=\([0-9]*\) 429=\([0-9]*\) 503=\([0-9]*\) other=\([0-9]*\)$/\1 \2 \3 \4 \5/p' "$w") || true
  total=$(( ${n_valid:-0} + ${n_not_valid:-0} + ${n429:-0} + ${n503:-0} + ${n_other:-0} ))
  non2xx=$(( ${n429:-0} + ${n503:-0} + ${n_other:-0} ))
  detail=""
  [ "${n503:-0}" = 0 ] || detail+=", 503: $n503"
  [ "${n429:-0}" = 0 ] || detail+=", 429: $n429"
  [ "${n_other:-0}" = 0 ] || detail+=", other: $n_other"
  [ "${n_not_valid:-0}" = 0 ] || detail+="; 200 not valid: $n_not_valid"
  sock=$(sed -n 's/^ *Socket errors: //p' "$w")
  rows+=("| $mode | ${rps:--} | ${p50} | ${p99} | $non2xx of $total${detail:+ (${detail#, })} | ${sock:-none} | ${alone//|/\\|} | ${mid_probe//|/\\|} | $recovered |")
  echo "   $mode: ${rps:--} req/s, p50 $p50 ms, p99 $p99 ms, $non2xx non-2xx of $total" | tee -a "$mode_log" >&2

  if [ "$mode" != "${mode_list[-1]}" ]; then
    server_up
    warm || echo "outage: after $mode, not every key verified (the next mode starts anyway)" | tee -a "$mode_log" >&2
  fi
done

# (7) The table (also in $out/summary.md), and the server log's WARN/ERROR count.
n_problems=$(grep -cE '^[0-9:.]+ +(WARN|ERROR)' "$out/server.log" || true)
{
  echo "# bench/outage.sh --keys $keys --duration $duration --connections $connections --modes $modes"
  echo
  echo "- $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit $(git rev-parse --short HEAD 2>/dev/null || echo '? (not a git checkout)')$( [ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || echo ' (with uncommitted changes)'); $(nproc) cores shared by wrk, the server, the proxy and PostgreSQL"
  echo "- server: ${server_cmd[*]}"
  echo "- wrk -t $threads -c $connections -d ${duration}s --timeout 30s --latency, POST /v1/keys/verify round-robin over $keys keys cached ${fault_settle} s before (fresh window 1 s); latencies in ms"
  echo "- wrk counts only the requests answered before its -d ends: when every answer takes longer, it shows 0 req/s and no latencies (see the server's counters in <mode>.log); \"one verify alone\" is one curl (max 60 s) between the fault's start + ${fault_settle} s and wrk"
  echo "- /health/ready: probed half-way through the wrk run (curl --max-time $probe_timeout; 000 = no answer); recovery: fault off to /health/ready 200 and one verify valid"
  echo "- server log: $n_problems WARN/ERROR lines"
  echo
  echo "| mode | req/s | p50 | p99 | non-2xx | wrk socket errors | one verify alone | /health/ready during fault | recovery |"
  echo "|---|---:|---:|---:|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$out/summary.md"
echo >&2
echo "== logs: $out (summary.md, server.log, proxy.log, <mode>.log, wrk-<mode>.txt)" >&2
