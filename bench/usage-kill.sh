#!/usr/bin/env bash
# What a kill -9 loses of usage counting (issue 11): a server with --usage-flush-ms F on a scratch
# database of the machine's PostgreSQL; wrk verifies one key for D seconds, and the moment wrk
# ends the server is killed with SIGKILL; a new server on the same database then answers the
# usage API. Lost = verifications wrk made minus those counted. The bound: what was counted in
# the last flush interval (F x the rate). Usage:
#   bench/usage-kill.sh [--flush-ms F] [--duration D] [--rounds R]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
flush_ms=1000
duration=5
rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --flush-ms) flush_ms="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage-kill: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
for v in "$flush_ms" "$duration" "$rounds"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "usage-kill: values are positive whole numbers, got '$v'" >&2; exit 2; }
done
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
pg=(-h 127.0.0.1 -p 5432 -U postgres)
db="kwkill_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
work="$(mktemp -d /tmp/kw-usage-kill.XXXXXX)"
pid=""
cleanup() {
  [ -z "$pid" ] || { kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  psql -q "${pg[@]}" -d test -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -q "${pg[@]}" -d test -c "CREATE DATABASE $db" >/dev/null
url="jdbc:postgresql://127.0.0.1:5432/$db?user=postgres"
port=18680
./keyward --help >/dev/null   # build first if needed, outside the measurement
start() {
  ./keyward serve --port "$port" --data-dir "$work/data" --db-url "$url" --usage-flush-ms "$flush_ms" \
    >>"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do curl -fs -o /dev/null "http://127.0.0.1:$port/health/ready" && return 0; sleep 0.1; done
  echo "usage-kill: server did not start" >&2; tail -20 "$work/server.log" >&2; exit 1
}
start
for _ in $(seq 1 50); do [ -s "$work/data/root.key" ] && break; sleep 0.1; done
root_key=$(cat "$work/data/root.key")
api() { curl -fsS -H "Authorization: Bearer $root_key" -H 'Content-Type: application/json' "$@"; }
counted() {           # KEY_ID: VALID verifications counted for the key (day buckets)
  api "http://127.0.0.1:$port/v1/keys/$1/usage?granularity=day" | grep -o '"VALID":[0-9]*' \
    | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }'
}
for r in $(seq 1 "$rounds"); do
  answer=$(api "http://127.0.0.1:$port/v1/keys" -d '{"name":"kill","ownerId":"kill"}')
  key=$(sed 's/.*"key":"\([^"]*\)".*/\1/' <<<"$answer"); id=$(sed 's/.*"keyId":"\([^"]*\)".*/\1/' <<<"$answer")
  cat >"$work/verify.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $root_key"
wrk.body = '{"key":"$key"}'
LUA
  wrk -t 2 -c 16 -d "${duration}s" -s "$work/verify.lua" "http://127.0.0.1:$port/v1/keys/verify" >"$work/wrk.txt"
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  made=$(awk '/requests in/ { print $1 }' "$work/wrk.txt")
  errors=$(grep -E 'Non-2xx|Socket errors' "$work/wrk.txt" || true)
  start
  got=$(counted "$id")
  awk -v r="$r" -v m="$made" -v c="$got" -v f="$flush_ms" -v d="$duration" -v e="$errors" 'BEGIN {
    rate = m / d; printf "== RESULT kill -9 round %d: %d verifications made, %d counted, %d lost (%.2f s at %.0f/s; one flush interval of %d ms is %.0f)%s\n",
      r, m, c, m - c, (m - c) / rate, rate, f, rate * f / 1000, (e == "" ? "" : "; wrk: " e) }'
done
