#!/usr/bin/env bash
# The servlet filter's cost (issue 12: at most 10% of a trivial endpoint's throughput): the
# example application (examples/servlet, Jetty 12 behind KeywardFilter) in front of a scratch
# Keyward, wrk on two trivial endpoints of the same application with the same random valid key
# per request: /api/status (behind the filter: the key verified from the client's cache) and
# /health (no route: the filter only finds that no route matches), rounds of (filtered, plain).
#
#   bench/filter-load.sh [--keys N] [--duration 20s] [--repeat 3] [--threads 2] [--connections 32]
set -euo pipefail
cd "$(dirname "$0")/.."
keys=1000; duration=20s; repeat=3; threads=2; connections=32
while [ $# -gt 0 ]; do
  case "$1" in
    --keys) keys="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    *) echo "filter-load: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }
work="$(mktemp -d /tmp/kw-filter-load.XXXXXX)"
kw_pid=""; app_pid=""
cleanup() {
  [ -z "$app_pid" ] || { kill -TERM "$app_pid" 2>/dev/null || true; wait "$app_pid" 2>/dev/null || true; }
  [ -z "$kw_pid" ] || { kill -TERM "$kw_pid" 2>/dev/null || true; wait "$kw_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { local p="$1"; while in_use "$p"; do p=$((p + 1)); done; echo "$p"; }
kw_port=$(free_port 18600); app_port=$(free_port 18700)

echo "== Keyward on $kw_port (embedded PostgreSQL in $work/data)" >&2
./keyward serve --port "$kw_port" --data-dir "$work/data" >"$work/keyward.log" 2>&1 &
kw_pid=$!
for _ in $(seq 1 600); do curl -fs -o /dev/null "http://127.0.0.1:$kw_port/health/ready" && [ -s "$work/data/root.key" ] && break; sleep 0.1; done
root="$(cat "$work/data/root.key")"
create() {            # SCOPES-JSON: prints the new key
  curl -fsS -H "Authorization: Bearer $root" -H 'Content-Type: application/json' \
    "http://127.0.0.1:$kw_port/v1/keys" -d "{\"name\":\"b\",\"ownerId\":\"bench\",\"scopes\":$1}" \
    | sed -n 's/.*"key" *: *"\([^"]*\)".*/\1/p'
  echo # (the answer ends without a newline, and so does sed's output)
}
verify_key="$(create '["keyward:verify"]' | grep .)"
echo "== creating $keys keys" >&2
for _ in $(seq 1 "$keys"); do create '[]'; done | grep . >"$work/keys.txt"

echo "== the example application on $app_port" >&2
KEYWARD_URL="http://127.0.0.1:$kw_port" KEYWARD_VERIFY_KEY="$verify_key" \
  LISTEN_ADDR="127.0.0.1:$app_port" examples/servlet/run.sh >"$work/app.log" 2>&1 &
app_pid=$!
for _ in $(seq 1 600); do curl -fs -o /dev/null "http://127.0.0.1:$app_port/health" && break; sleep 0.1; done
first="$(head -n 1 "$work/keys.txt")"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $first" "http://127.0.0.1:$app_port/api/status")
[ "$code" = 200 ] || { echo "filter-load: /api/status answered $code (key of ${#first} characters)" >&2; curl -s -H "Authorization: Bearer $first" "http://127.0.0.1:$app_port/api/status" >&2; tail -20 "$work/app.log" >&2; exit 1; }

run() {               # LABEL PATH: sets rps
  local out="$work/wrk-$1.txt"
  KW_KEYS="$work/keys.txt" timeout 60 wrk -t "$threads" -c "$connections" -s bench/lua/filter.lua -d 3s "http://127.0.0.1:$app_port$2" >/dev/null
  KW_KEYS="$work/keys.txt" timeout 600 wrk -t "$threads" -c "$connections" -s bench/lua/filter.lua -d "$duration" --latency "http://127.0.0.1:$app_port$2" >"$out"
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  local p99 non2xx; p99=$(awk '$1 == "99%" {print $2}' "$out"); non2xx=$(grep -E 'Non-2xx|Socket errors' "$out" || true)
  echo "== RESULT ($1) $2: $rps req/s, p99 $p99${non2xx:+; $non2xx}"
  [ -z "$non2xx" ] || echo "== WARNING ($1): not every answer was a 2xx"
}
ratios=""
for r in $(seq 1 "$repeat"); do
  run "filtered.$r" /api/status; filtered=$rps
  run "plain.$r" /health; plain=$rps
  ratios+=" $(awk -v a="$filtered" -v b="$plain" 'BEGIN { printf "%.3f", a / b }')"
  echo "== RATIO round $r: behind the filter / without it ${ratios##* }x"
done
median=$(echo "$ratios" | tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
echo "== RATIO the servlet filter, median of $repeat rounds: ${median}x of the same application's unfiltered endpoint (rounds:$ratios)"
