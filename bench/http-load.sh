#!/usr/bin/env bash
# HTTP load test of POST /v1/keys/verify with wrk, against a scratch Keyward server on loopback.
# See bench/README.md. Usage:
#   bench/http-load.sh [--scenario l1|l2|store|ceiling] [--l2] [--keys N] [--threads T]
#                      [--connections C] [--duration D] [--warmup D] [--port P] [--keycloak]
#                      [--with-ceiling] [--malformed-share P] [--unknown-share P]
#                      [--unknown-keys N] [--mixes] [--connections-sweep]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# --keycloak: this run, then Keycloak's token introspection with the same wrk settings, and the
# ratios (bench/compare.sh, which calls this script back without the flag).
for arg in "$@"; do
  [ "$arg" = --keycloak ] && exec bench/compare.sh "$@"
done

scenario=l1
use_l2=""
keys=10000
threads=2
connections=32
duration=20s
warmup=""            # default: one pass over every key in order, plus 3 s at random
port=18480
pg_host=127.0.0.1
pg_port=5432
pg_user=postgres
pg_admin_db=test
redis_host=127.0.0.1
redis_port=6379
with_ceiling=""      # after every verify run, GET /health/live with the same wrk settings
malformed_share=0    # percent of requests with a malformed key (one body character changed)
unknown_share=0      # percent of requests with a well-formed key this server never issued
unknown_keys=""      # how many such keys (default: --keys, at most 10,000)
mixes=""             # clean, 30% malformed, 30% unknown back to back on one server
sweep=""             # verify at 1, 16, 64 and 256 connections

usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --scenario) scenario="$2"; shift 2 ;;
    --l2) use_l2=yes; shift ;;
    --keys) keys="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --with-ceiling) with_ceiling=yes; shift ;;
    --malformed-share) malformed_share="$2"; shift 2 ;;
    --unknown-share) unknown_share="$2"; shift 2 ;;
    --unknown-keys) unknown_keys="$2"; shift 2 ;;
    --mixes) mixes=yes; shift ;;
    --connections-sweep) sweep=yes; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "http-load: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

# Scenario → server options. Fresh windows are long in l1/l2 so that no entry goes stale during
# a run (the default 30 s is shorter than warm-up + run); store sets it to 1 s on purpose.
server_opts=()
case "$scenario" in
  l1|ceiling) server_opts+=(--cache-fresh-seconds 300) ;;
  l2)    use_l2=yes; server_opts+=(--cache-max-entries 100 --cache-fresh-seconds 300 --redis-ttl-seconds 300) ;;
  store) [ -z "$use_l2" ] || { echo "http-load: --scenario store runs without Redis; drop --l2" >&2; exit 2; }
         server_opts+=(--cache-max-entries 100 --cache-fresh-seconds 1) ;;
  *) echo "http-load: --scenario must be l1, l2, store or ceiling, got '$scenario'" >&2; exit 2 ;;
esac
[[ "$keys" =~ ^[1-9][0-9]*$ ]] || { echo "http-load: --keys must be a positive number" >&2; exit 2; }
for share in "$malformed_share" "$unknown_share"; do
  [[ "$share" =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v s="$share" 'BEGIN { exit !(s <= 100) }' \
    || { echo "http-load: a share is a percentage from 0 to 100, got '$share'" >&2; exit 2; }
done
awk -v m="$malformed_share" -v u="$unknown_share" 'BEGIN { exit !(m + u <= 100) }' \
  || { echo "http-load: --malformed-share plus --unknown-share exceeds 100" >&2; exit 2; }
# --mixes runs 30% of each (or the share given, when not 0).
mix_malformed=$(awk -v s="$malformed_share" 'BEGIN { print (s > 0 ? s : 30) }')
mix_unknown=$(awk -v s="$unknown_share" 'BEGIN { print (s > 0 ? s : 30) }')
needs_unknown=""
if [ -n "$mixes" ] || awk -v s="$unknown_share" 'BEGIN { exit !(s > 0) }'; then needs_unknown=yes; fi
[ -n "$unknown_keys" ] || unknown_keys=$(( keys < 10000 ? keys : 10000 ))
[[ "$unknown_keys" =~ ^[1-9][0-9]*$ ]] || { echo "http-load: --unknown-keys must be a positive number" >&2; exit 2; }
if [ "$scenario" = ceiling ] && [ -n "$mixes$sweep$needs_unknown" ]; then
  echo "http-load: --scenario ceiling verifies nothing; --mixes, --unknown-share and --connections-sweep need a verify scenario" >&2
  exit 2
fi

for tool in curl psql; do
  command -v "$tool" >/dev/null || { echo "http-load: needs $tool" >&2; exit 1; }
done

# (1) Build if needed (./keyward builds when sources are newer than the jar).
echo "== building if needed" >&2
./keyward --help >/dev/null

# (2) wrk.
if ! command -v wrk >/dev/null; then
  echo "== installing wrk" >&2
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

# Scratch resources, all removed by the trap.
suffix="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
work="$(mktemp -d /tmp/kw-http-load.XXXXXX)"
db="kwload_${suffix}"
namespace="kwload-${suffix}"
server_pid=""
db_created=""
scratch_pid=""        # the short-lived second server that issues the unknown keys
scratch_db=""

stop_server() {       # pid: TERM, KILL after 10 s
  local pid="$1"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}
drop_database() {
  timeout 30 psql -q -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$pg_admin_db" \
    -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1 \
    || echo "http-load: could not drop database $1" >&2
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_server "$scratch_pid"
  stop_server "$server_pid"
  [ -z "$scratch_db" ] || drop_database "$scratch_db"
  [ -z "$db_created" ] || drop_database "$db"
  if [ -n "$use_l2" ] && command -v redis-cli >/dev/null; then
    timeout 30 bash -c "redis-cli -h $redis_host -p $redis_port --scan --pattern '$namespace:*' \
      | xargs -r -n 500 redis-cli -h $redis_host -p $redis_port del >/dev/null" \
      || echo "http-load: could not delete Redis keys $namespace:*" >&2
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {         # the first free loopback port from $1 on
  local p="$1"
  for _ in $(seq 1 20); do in_use "$p" || { echo "$p"; return 0; }; p=$((p + 1)); done
  echo "http-load: no free port near $1" >&2; return 1
}

# start_server PORT DATABASE DATA_DIR LOG [serve options...]: starts ./keyward serve in the
# background (./keyward execs java, so $! is the server's own pid), sets started_pid, waits for
# /health/ready and the root key.
start_server() {
  local p="$1" database="$2" data="$3" log="$4"; shift 4
  ./keyward serve --host 127.0.0.1 --port "$p" --data-dir "$data" \
    --db-url "jdbc:postgresql://$pg_host:$pg_port/$database?user=$pg_user" "$@" >"$log" 2>&1 &
  started_pid=$!
  for i in $(seq 1 600); do
    if curl -fs -o /dev/null "http://127.0.0.1:$p/health/ready" && [ -s "$data/root.key" ]; then return 0; fi
    if ! kill -0 "$started_pid" 2>/dev/null || [ "$i" = 600 ]; then
      echo "http-load: server did not become ready; its log:" >&2; tail -n 40 "$log" >&2; exit 1
    fi
    sleep 0.1
  done
}

# create_keys BASE ROOT_KEY COUNT FILE: COUNT keys created 8 at a time, one per line in FILE.
create_keys() {
  local b="$1" rk="$2" count="$3" out="$4" t0 created
  t0=$(date +%s)
  seq 1 "$count" | timeout 900 xargs -P 8 -I{} curl -fsS -H "Authorization: Bearer $rk" \
    -H 'Content-Type: application/json' "$b/v1/keys" \
    -d '{"name":"load-{}","ownerId":"owner_load","scopes":["orders:read"]}' \
    | jq -r '.key' >"$out"
  created=$(grep -c . "$out" || true)
  [ "$created" = "$count" ] || { echo "http-load: created $created of $count keys" >&2; exit 1; }
  echo "   $created keys in $(( $(date +%s) - t0 )) s" >&2
}

# (3) Unknown keys (only when a run needs them): issued by a second, short-lived server with its
# own scratch database, so they have valid checksums and are NOT_FOUND on the measured server.
if [ -n "$needs_unknown" ]; then
  scratch_port=$(free_port $((port + 50)))
  scratch_db="kwload_${suffix}_unknown"
  psql -q -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$pg_admin_db" -c "CREATE DATABASE $scratch_db" >/dev/null
  echo "== unknown keys: $unknown_keys from a scratch server on port $scratch_port, database $scratch_db" >&2
  start_server "$scratch_port" "$scratch_db" "$work/scratch-data" "$work/scratch.log"
  scratch_pid=$started_pid
  create_keys "http://127.0.0.1:$scratch_port" "$(cat "$work/scratch-data/root.key")" "$unknown_keys" \
    "$work/unknown.txt"
  stop_server "$scratch_pid"; scratch_pid=""
  drop_database "$scratch_db"; scratch_db=""
fi

# (4) A free loopback port, the scratch database, the server.
port=$(free_port "$port")
psql -q -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$pg_admin_db" -c "CREATE DATABASE $db" >/dev/null
db_created=yes

redis_opts=()
if [ -n "$use_l2" ]; then
  redis_opts=(--redis-url "redis://$redis_host:$redis_port/0" --redis-namespace "$namespace")
fi
base="http://127.0.0.1:$port"
echo "== scenario $scenario: server on $base, database $db${use_l2:+, Redis namespace $namespace}" >&2
echo "   options: ${server_opts[*]} ${redis_opts[*]}" >&2
start_server "$port" "$db" "$work/data" "$work/server.log" "${server_opts[@]}" "${redis_opts[@]}"
server_pid=$started_pid
root_key="$(cat "$work/data/root.key")"
export KW_ROOT="$root_key"

# wrk's latency strings (us, ms, s) → milliseconds.
to_ms() { awk -v v="$1" 'BEGIN {
  if (v ~ /us$/) x = v / 1000; else if (v ~ /ms$/) x = v + 0; else if (v ~ /s$/) x = v * 1000; else x = v + 0
  printf "%.2f", x }'; }
# Prints p99.9 after wrk's report (wrk --latency stops at 99%).
lua_done='
function done(summary, latency, requests)
  io.write(string.format("Latency p99.9: %.2fms\n", latency:percentile(99.9) / 1000))
end'

ceiling_lua="$work/ceiling.lua"
echo "$lua_done" >"$ceiling_lua"

# run_ceiling LABEL THREADS CONNECTIONS WARMUP: GET /health/live (a constant small JSON answer,
# no auth), the HTTP stack's ceiling on this server. Sets c_rps, c_p50, c_p99, c_p999.
run_ceiling() {
  local label="$1" t="$2" c="$3" w="$4" out="$work/ceiling-$1.txt"
  local check
  check="$(curl -fsS "$base/health/live")"
  [[ "$check" == *'"UP"'* ]] || { echo "http-load: /health/live answers $check" >&2; exit 1; }
  timeout 600 wrk -t "$t" -c "$c" -s "$ceiling_lua" -d "$w" "$base/health/live" >/dev/null
  echo "== ceiling ($label): wrk -t $t -c $c -d $duration --latency (GET /health/live)" >&2
  timeout 3600 wrk -t "$t" -c "$c" -s "$ceiling_lua" -d "$duration" --latency "$base/health/live" | tee "$out"
  c_rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  c_p50=$(awk '$1 == "50%" {print $2}' "$out")
  c_p99=$(awk '$1 == "99%" {print $2}' "$out")
  c_p999=$(awk '/^Latency p99.9:/ {print $3}' "$out")
  local errors; errors=$(grep -E 'Non-2xx|Socket errors' "$out" || true)
  echo "== RESULT scenario=ceiling ($label) threads=$t connections=$c duration=$duration:" \
    "${c_rps} req/s, p50 ${c_p50}, p99 ${c_p99}, p99.9 ${c_p999}${errors:+; $errors}"
}

summary=()            # one line per measured run, printed at the end
add_summary() { summary+=("$(printf '   %-26s %10.0f %9s %9s %9s %s' "$@")"); }

if [ "$scenario" = ceiling ]; then
  # (5') The ceiling alone: no keys, a warm-up, the run.
  echo "== warm-up: ${warmup:-5s} of wrk on /health/live" >&2
  run_ceiling ceiling "$threads" "$connections" "${warmup:-5s}"
  exit 0
fi

# (5) N keys, created 8 at a time; their malformed twins (one random-part character of the body
# replaced by the next base62 digit: the checksum no longer matches, so BAD_CHECKSUM).
echo "== creating $keys keys" >&2
create_keys "$base" "$root_key" "$keys" "$work/keys.txt"
awk 'BEGIN { a = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" }
     { p = length($0) - 10; c = substr($0, p, 1); n = substr(a, index(a, c) % 62 + 1, 1)
       print substr($0, 1, p - 1) n substr($0, p + 1) }' "$work/keys.txt" >"$work/malformed.txt"
[ -s "$work/unknown.txt" ] || : >"$work/unknown.txt"

lua="$work/verify.lua"
{
  echo "local keys = {"
  sed 's/.*/  "&",/' "$work/keys.txt"
  echo "}"
  echo "local malformed = {"
  sed 's/.*/  "&",/' "$work/malformed.txt"
  echo "}"
  echo "local unknown = {"
  sed 's/.*/  "&",/' "$work/unknown.txt"
  cat <<'LUA'
}
local n, nm, nu = #keys, #malformed, #unknown
-- Every request verifies a key picked at random: with probability KW_MALFORMED % a malformed
-- one, with KW_UNKNOWN % one this server never issued, else a valid one. Each thread seeds its
-- own generator.
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local pm, pu = 0, 0
function init(args)
  math.randomseed(os.time() * 1000 + id)
  pm = (tonumber(os.getenv("KW_MALFORMED") or "0") or 0) / 100
  pu = pm + (tonumber(os.getenv("KW_UNKNOWN") or "0") or 0) / 100
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("KW_ROOT")
end
function request()
  local r, key = math.random(), nil
  if r < pm then key = malformed[math.random(nm)]
  elseif r < pu then key = unknown[math.random(nu)]
  else key = keys[math.random(n)] end
  return wrk.format(nil, nil, nil, '{"key":"' .. key .. '"}')
end
LUA
  echo "$lua_done"
} >"$lua"

# A check that each kind of key answers what it should before anything is measured.
verify_code() {
  curl -fsS -H "Authorization: Bearer $root_key" -H 'Content-Type: application/json' \
    "$base/v1/keys/verify" -d "{\"key\":\"$1\"}"
}
check="$(verify_code "$(head -n 1 "$work/keys.txt")")"
[[ "$check" == *'"code":"VALID"'* ]] || { echo "http-load: a created key does not verify: $check" >&2; exit 1; }
if [ -n "$mixes" ] || awk -v s="$malformed_share" 'BEGIN { exit !(s > 0) }'; then
  check="$(verify_code "$(head -n 1 "$work/malformed.txt")")"
  [[ "$check" == *'"code":"MALFORMED"'*'"reason":"BAD_CHECKSUM"'* ]] \
    || { echo "http-load: a malformed key answers $check" >&2; exit 1; }
  echo "   malformed key check: $check" >&2
fi
if [ -n "$needs_unknown" ]; then
  check="$(verify_code "$(head -n 1 "$work/unknown.txt")")"
  [[ "$check" == *'"code":"NOT_FOUND"'* ]] || { echo "http-load: an unknown key answers $check" >&2; exit 1; }
  echo "   unknown key check: $check" >&2
fi

metrics() {
  { curl -fsS "$base/metrics" || true; } | grep -E '^keyward_(cache_requests_total|cache_l2_requests_total|verify_total|verify_shared_loads_total|cache_l2_writes_total)[{ ]' \
    | grep -v ' 0\.0$' | sort || true
}

# (6) Warm-up (JIT, caches), then the measured run(s).
export KW_MALFORMED=0 KW_UNKNOWN=0
wrk_cmd=(wrk -t "$threads" -c "$connections" -s "$lua")
if [ -z "$warmup" ]; then
  echo "== warm-up: every key verified once (fills L1, and L2 with --l2), then 5 s of wrk" >&2
  # One curl, 8 requests at a time over kept-alive connections (wrk cannot stop after N requests).
  first=yes
  while read -r key; do
    [ -n "$first" ] && first="" || echo next
    printf 'url = "%s"\nheader = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\n' \
      "$base/v1/keys/verify" "$root_key"
    printf 'data = "{\\"key\\":\\"%s\\"}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$key"
  done <"$work/keys.txt" >"$work/warmup.curl"
  timeout 600 curl -sS --parallel --parallel-max 8 -K "$work/warmup.curl" \
    >"$work/warmup.codes" 2>"$work/warmup.err" || true
  ok=$(grep -c '^200$' "$work/warmup.codes" || true)
  if [ "$ok" != "$keys" ]; then
    echo "http-load: warm-up: $ok of $keys verifications answered 200" >&2
    head -n 5 "$work/warmup.err" >&2; exit 1
  fi
  timeout 60 "${wrk_cmd[@]}" -d 5s "$base/v1/keys/verify" >/dev/null
else
  echo "== warm-up: $warmup at random" >&2
  timeout 600 "${wrk_cmd[@]}" -d "$warmup" "$base/v1/keys/verify" >/dev/null
fi

# run_verify LABEL MALFORMED% UNKNOWN% THREADS CONNECTIONS: one measured verify run (after a
# 3 s warm-up with the same settings, except for the first run, which follows the warm-up above),
# then with --with-ceiling the ceiling on the same server. Sets v_rps, v_p99 (and c_rps).
runs=0
run_verify() {
  local label="$1" t="$4" c="$5" out="$work/wrk-$1.txt"
  export KW_MALFORMED="$2" KW_UNKNOWN="$3"
  local cmd=(wrk -t "$t" -c "$c" -s "$lua")
  if [ "$runs" -gt 0 ]; then timeout 60 "${cmd[@]}" -d 3s "$base/v1/keys/verify" >/dev/null; fi
  runs=$((runs + 1))
  metrics >"$work/metrics.before"
  echo "== measuring ($label): wrk -t $t -c $c -d $duration --latency (POST /v1/keys/verify;" \
    "$2% malformed, $3% unknown)" >&2
  # wrk's own report: requests/s and the latency distribution.
  timeout 3600 "${cmd[@]}" -d "$duration" --latency "$base/v1/keys/verify" | tee "$out"
  metrics >"$work/metrics.after"
  v_rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  local p50 p999 errors mix=""
  p50=$(awk '$1 == "50%" {print $2}' "$out")
  v_p99=$(awk '$1 == "99%" {print $2}' "$out")
  p999=$(awk '/^Latency p99.9:/ {print $3}' "$out")
  errors=$(grep -E 'Non-2xx|Socket errors' "$out" || true)
  echo
  echo "== during the measured run (each request verifies the root key, then the body's key):"
  awk 'NR == FNR { before[$1] = $2; next }
       { d = $2 - before[$1]; if (d > 0) printf "   %-72s %12.0f\n", $1, d }' \
    "$work/metrics.before" "$work/metrics.after"
  [ "$2" = 0 ] && [ "$3" = 0 ] || mix=" malformed=$2% unknown=$3%"
  echo "== RESULT scenario=$scenario keys=$keys threads=$t connections=$c duration=$duration$mix:" \
    "${v_rps} req/s, p50 ${p50}, p99 ${v_p99}, p99.9 ${p999}${errors:+; $errors}"
  local ratio="" c_col="-"
  if [ -n "$with_ceiling" ]; then
    run_ceiling "$label" "$t" "$c" 3s
    ratio=$(awk -v v="$v_rps" -v c="$c_rps" 'BEGIN { printf "%.2f", v / c }')
    echo "== RATIO verify/ceiling ($label): ${ratio}x throughput (${v_rps} / ${c_rps} req/s);" \
      "p99 $(to_ms "$v_p99") ms vs $(to_ms "$c_p99") ms"
    c_col=$(printf '%.0f' "$c_rps")
  fi
  add_summary "$label" "$v_rps" "$(to_ms "$p50")" "$(to_ms "$v_p99")" "$(to_ms "$p999")" \
    "${with_ceiling:+$(printf '%10s %6sx' "$c_col" "$ratio")}"
}

if [ -n "$mixes" ]; then
  run_verify clean 0 0 "$threads" "$connections"; clean_rps=$v_rps
  run_verify "malformed-$mix_malformed%" "$mix_malformed" 0 "$threads" "$connections"; bad_rps=$v_rps
  run_verify "unknown-$mix_unknown%" 0 "$mix_unknown" "$threads" "$connections"; unk_rps=$v_rps
else
  run_verify main "$malformed_share" "$unknown_share" "$threads" "$connections"
fi
if [ -n "$sweep" ]; then
  for c in 1 16 64 256; do
    run_verify "c=$c" 0 0 $(( threads < c ? threads : c )) "$c"
  done
fi

if [ "${#summary[@]}" -gt 1 ] || [ -n "$with_ceiling" ]; then
  echo
  echo "== SUMMARY scenario=$scenario keys=$keys duration=$duration ($(nproc) cores shared by wrk and the server; ms)"
  printf '   %-26s %10s %9s %9s %9s %s\n' run "req/s" p50 p99 p99.9 \
    "${with_ceiling:+$(printf '%10s %7s' 'ceiling' 'ratio')}"
  printf '%s\n' "${summary[@]}"
  if [ -n "$mixes" ]; then
    awk -v c="$clean_rps" -v b="$bad_rps" -v u="$unk_rps" -v pm="$mix_malformed" -v pu="$mix_unknown" 'BEGIN {
      printf "== RATIO mixes vs clean: %s%% malformed %.3fx, %s%% unknown %.3fx\n", pm, b / c, pu, u / c }'
  fi
fi
