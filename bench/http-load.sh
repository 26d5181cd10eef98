#!/usr/bin/env bash
# HTTP load test of POST /v1/keys/verify with wrk, against a scratch Keyward server on loopback.
# See bench/README.md. Usage:
#   bench/http-load.sh [--scenario l1|l2|store] [--l2] [--keys N] [--threads T]
#                      [--connections C] [--duration D] [--warmup D] [--port P] [--keycloak]
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

usage() { sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; }
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
    -h|--help) usage; exit 0 ;;
    *) echo "http-load: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

# Scenario → server options. Fresh windows are long in l1/l2 so that no entry goes stale during
# a run (the default 30 s is shorter than warm-up + run); store sets it to 1 s on purpose.
server_opts=()
case "$scenario" in
  l1)    server_opts+=(--cache-fresh-seconds 300) ;;
  l2)    use_l2=yes; server_opts+=(--cache-max-entries 100 --cache-fresh-seconds 300 --redis-ttl-seconds 300) ;;
  store) [ -z "$use_l2" ] || { echo "http-load: --scenario store runs without Redis; drop --l2" >&2; exit 2; }
         server_opts+=(--cache-max-entries 100 --cache-fresh-seconds 1) ;;
  *) echo "http-load: --scenario must be l1, l2 or store, got '$scenario'" >&2; exit 2 ;;
esac
[[ "$keys" =~ ^[1-9][0-9]*$ ]] || { echo "http-load: --keys must be a positive number" >&2; exit 2; }

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

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$db_created" ]; then
    timeout 30 psql -q -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$pg_admin_db" \
      -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 \
      || echo "http-load: could not drop database $db" >&2
  fi
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

# (3) A free loopback port, the scratch database, the server.
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 1 20); do in_use "$port" || break; port=$((port + 1)); done
in_use "$port" && { echo "http-load: no free port near $port" >&2; exit 1; }

psql -q -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$pg_admin_db" -c "CREATE DATABASE $db" >/dev/null
db_created=yes

redis_opts=()
if [ -n "$use_l2" ]; then
  redis_opts=(--redis-url "redis://$redis_host:$redis_port/0" --redis-namespace "$namespace")
fi
base="http://127.0.0.1:$port"
echo "== scenario $scenario: server on $base, database $db${use_l2:+, Redis namespace $namespace}" >&2
echo "   options: ${server_opts[*]} ${redis_opts[*]}" >&2
# ./keyward execs java, so $! is the server's own pid.
./keyward serve --host 127.0.0.1 --port "$port" --data-dir "$work/data" \
  --db-url "jdbc:postgresql://$pg_host:$pg_port/$db?user=$pg_user" \
  "${server_opts[@]}" "${redis_opts[@]}" >"$work/server.log" 2>&1 &
server_pid=$!

for i in $(seq 1 600); do
  if curl -fs -o /dev/null "$base/health/ready" && [ -s "$work/data/root.key" ]; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null || [ "$i" = 600 ]; then
    echo "http-load: server did not become ready; its log:" >&2; tail -n 40 "$work/server.log" >&2; exit 1
  fi
  sleep 0.1
done
root_key="$(cat "$work/data/root.key")"
export KW_ROOT="$root_key"

# (4) N keys, created 8 at a time.
echo "== creating $keys keys" >&2
started=$(date +%s)
seq 1 "$keys" | timeout 900 xargs -P 8 -I{} curl -fsS -H "Authorization: Bearer $root_key" \
  -H 'Content-Type: application/json' "$base/v1/keys" \
  -d '{"name":"load-{}","ownerId":"owner_load","scopes":["orders:read"]}' \
  | jq -r '.key' >"$work/keys.txt"
created=$(grep -c . "$work/keys.txt" || true)
[ "$created" = "$keys" ] || { echo "http-load: created $created of $keys keys" >&2; exit 1; }
echo "   $created keys in $(( $(date +%s) - started )) s" >&2

lua="$work/verify.lua"
{
  echo "local keys = {"
  sed 's/.*/  "&",/' "$work/keys.txt"
  cat <<'LUA'
}
local n = #keys
-- Every request verifies a key picked at random; each thread seeds its own generator.
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  math.randomseed(os.time() * 1000 + id)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("KW_ROOT")
end
function request()
  return wrk.format(nil, nil, nil, '{"key":"' .. keys[math.random(n)] .. '"}')
end
LUA
} >"$lua"

# A check that the keys verify before anything is measured.
check="$(curl -fsS -H "Authorization: Bearer $root_key" -H 'Content-Type: application/json' \
  "$base/v1/keys/verify" -d "{\"key\":\"$(head -n 1 "$work/keys.txt")\"}")"
[[ "$check" == *'"code":"VALID"'* ]] || { echo "http-load: a created key does not verify: $check" >&2; exit 1; }

metrics() {
  { curl -fsS "$base/metrics" || true; } | grep -E '^keyward_(cache_requests_total|cache_l2_requests_total|verify_total|verify_shared_loads_total|cache_l2_writes_total)[{ ]' \
    | grep -v ' 0\.0$' | sort || true
}

# (5) Warm-up (JIT, caches), then the measured run.
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
metrics >"$work/metrics.before"

echo "== measuring: wrk -t $threads -c $connections -d $duration --latency (POST /v1/keys/verify)" >&2
# (6) wrk's own report: requests/s and the latency distribution.
timeout 3600 "${wrk_cmd[@]}" -d "$duration" --latency "$base/v1/keys/verify" | tee "$work/wrk.txt"
metrics >"$work/metrics.after"

rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")
p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
errors=$(grep -E 'Non-2xx|Socket errors' "$work/wrk.txt" || true)
echo
echo "== during the measured run (each request verifies the root key, then the body's key):"
awk 'NR == FNR { before[$1] = $2; next }
     { d = $2 - before[$1]; if (d > 0) printf "   %-72s %12.0f\n", $1, d }' \
  "$work/metrics.before" "$work/metrics.after"
echo "== RESULT scenario=$scenario keys=$keys threads=$threads connections=$connections duration=$duration:" \
  "${rps} req/s, p50 ${p50}, p99 ${p99}${errors:+; $errors}"
