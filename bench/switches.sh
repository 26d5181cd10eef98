#!/usr/bin/env bash
# How long a switch change takes to reach every node: three `./keyward serve` processes on one
# scratch database (and, with --redis, the machine's Redis), a PUT /v1/switches/cache.l2 on one
# node in turn, then GET on another every 5 ms until the answer says every live node applied the
# new version. Prints p50, p90, p99 and max in ms. Usage:
#   bench/switches.sh [--changes N] [--redis] [--out DIR]
# Logs go to --out (default bench/results/switches-<UTC time>/).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
changes=50
redis=""
out=""
pg="jdbc:postgresql://127.0.0.1:5432"
usage() { sed -n '2,7p' "$root/bench/switches.sh" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --changes) [ $# -ge 2 ] || { usage >&2; exit 2; }; changes="$2"; shift 2 ;;
    --redis) redis=yes; shift ;;
    --out) [ $# -ge 2 ] || { usage >&2; exit 2; }; out="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "switches: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$changes" =~ ^[1-9][0-9]*$ ]] || { echo "switches: --changes must be a positive whole number" >&2; exit 2; }
out="${out:-bench/results/switches-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
database="keyward_bench_switches_$$"
psql -h 127.0.0.1 -U postgres -d test -qc "CREATE DATABASE $database" >/dev/null
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null || true
}
trap cleanup EXIT

./keyward --help >/dev/null  # builds once if the jar is stale
export KEYWARD_SKIP_BUILD=1
ports=()
for i in 0 1 2; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  ports+=("$port")
  extra=()
  [ -n "$redis" ] && extra=(--redis-url redis://127.0.0.1:6379/0 --redis-namespace "bench$$")
  ./keyward serve --host 127.0.0.1 --port "$port" --data-dir "$out/node$i" \
    --db-url "$pg/$database?user=postgres" "${extra[@]}" >"$out/node$i.log" 2>&1 &
  pids+=($!)
  # the first node migrates and writes the root key; the others wait for it
  for _ in $(seq 1 600); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/health/ready" && break
    kill -0 "${pids[$i]}" 2>/dev/null || { echo "switches: node $i died:" >&2; tail -20 "$out/node$i.log" >&2; exit 1; }
    sleep 0.1
  done
done
root_key="$(cat "$out/node0/root.key")"

python3 - "$changes" "$root_key" "${ports[@]}" <<'EOF' | tee "$out/summary.txt"
import json, sys, time, urllib.request
changes, key, ports = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
def call(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)
# all three nodes are in the registry before measuring
deadline = time.time() + 30
while len(call(ports[0], "GET", "/v1/switches/cache.l2")["nodes"]) < 3:
    if time.time() > deadline: sys.exit("switches: three nodes never showed up in the registry")
    time.sleep(0.1)
took = []
for i in range(changes):
    writer, reader = ports[i % 3], ports[(i + 1) % 3]
    stage = "shadow" if i % 2 == 0 else "off"
    t0 = time.perf_counter()
    version = call(writer, "PUT", "/v1/switches/cache.l2", {"stage": stage, "reason": f"bench {i}"})["version"]
    while True:
        seen = call(reader, "GET", "/v1/switches/cache.l2")
        if seen["version"] == version and not seen["lagging"] and len(seen["nodes"]) == 3:
            break
        time.sleep(0.005)
    took.append((time.perf_counter() - t0) * 1000)
took.sort()
pick = lambda q: took[min(len(took) - 1, int(q * len(took)))]
print(f"changes: {changes}; PUT on one node -> every node applied (seen from another), ms:")
print(f"== RESULT switch propagation over {changes} changes: p50 {pick(0.50):.0f} ms  p90 {pick(0.90):.0f} ms  p99 {pick(0.99):.0f} ms  max {took[-1]:.0f} ms")
EOF
