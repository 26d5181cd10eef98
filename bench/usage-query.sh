#!/usr/bin/env bash
# How fast the usage API answers over a year of hourly data (issue 11), on a scratch database of
# the machine's PostgreSQL: 100,000 keys with one hour of use a week for a year (5.2 million hour
# rows, with their day rows), and one owner with 10 keys used every hour of the year (87,600 hour
# rows). Then a server on that database, and each query 20 times over HTTP (curl); the median
# and the worst. Usage:
#   bench/usage-query.sh [--keys N] [--runs R]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
keys=100000
runs=20
while [ $# -gt 0 ]; do
  case "$1" in
    --keys) keys="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage-query: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ "$keys" =~ ^[1-9][0-9]*$ ]] || { echo "usage-query: --keys must be a positive whole number" >&2; exit 2; }
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "usage-query: --runs must be a positive whole number" >&2; exit 2; }
pg=(-h 127.0.0.1 -p 5432 -U postgres)
db="kwusage_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
work="$(mktemp -d /tmp/kw-usage-query.XXXXXX)"
pid=""
cleanup() {
  [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  psql -q "${pg[@]}" -d test -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -q "${pg[@]}" -d test -c "CREATE DATABASE $db" >/dev/null
url="jdbc:postgresql://127.0.0.1:5432/$db?user=postgres"
./keyward migrate --db-url "$url" >/dev/null
echo "== loading: $keys keys x 52 weeks (hour and day rows), and 10 keys x 8,760 hours" >&2
t0=$(date +%s)
psql -q "${pg[@]}" -d "$db" -v ON_ERROR_STOP=1 <<SQL
INSERT INTO keyward_usage_hour (key_id, bucket, outcome, owner_id, count)
SELECT 'key_' || k, timestamptz '2025-12-01' + (w * 7 + k % 7) * interval '1 day' + (k % 24) * interval '1 hour',
       'VALID', 'owner_' || (k % 1000), 1 + k % 50
FROM generate_series(1, $keys) k, generate_series(0, 51) w;
INSERT INTO keyward_usage_day (key_id, bucket, outcome, owner_id, count)
SELECT key_id, date_trunc('day', bucket), outcome, owner_id, sum(count)
FROM keyward_usage_hour GROUP BY 1, 2, 3, 4;
INSERT INTO keyward_usage_hour (key_id, bucket, outcome, owner_id, count)
SELECT 'key_hot' || k, timestamptz '2025-12-01' + h * interval '1 hour', o, 'owner_hot', 1 + h % 100
FROM generate_series(1, 10) k, generate_series(0, 8759) h, unnest(ARRAY['VALID', 'NOT_FOUND']) o
WHERE o = 'VALID' OR h % 10 = 0;
INSERT INTO keyward_key_last_used VALUES ('key_hot1', timestamptz '2026-11-30 23:00');
ANALYZE;
SQL
rows=$(psql -At "${pg[@]}" -d "$db" -c "SELECT (SELECT count(*) FROM keyward_usage_hour) || ' hour rows, ' || (SELECT count(*) FROM keyward_usage_day) || ' day rows, ' || pg_size_pretty(pg_total_relation_size('keyward_usage_hour') + pg_total_relation_size('keyward_usage_day'))")
echo "== loaded in $(( $(date +%s) - t0 )) s: $rows" >&2
port=18580
./keyward serve --port "$port" --data-dir "$work/data" --db-url "$url" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do curl -fs -o /dev/null "http://127.0.0.1:$port/health/ready" && break; sleep 0.1; done
# The server created its root key in the data directory (the database held no key).
for _ in $(seq 1 50); do [ -s "$work/data/root.key" ] && break; sleep 0.1; done
root_key=$(cat "$work/data/root.key")
# A key row for key_hot1 so that the per-key query finds the key (404 otherwise).
hot_id=$(curl -fsS -H "Authorization: Bearer $root_key" -H 'Content-Type: application/json' \
  "http://127.0.0.1:$port/v1/keys" -d '{"name":"hot","ownerId":"owner_hot"}' | sed 's/.*"keyId":"\([^"]*\)".*/\1/')
psql -q "${pg[@]}" -d "$db" -c "UPDATE keyward_usage_hour SET key_id = '$hot_id' WHERE key_id = 'key_hot1'" >/dev/null
cold_id=$(curl -fsS -H "Authorization: Bearer $root_key" -H 'Content-Type: application/json' \
  "http://127.0.0.1:$port/v1/keys" -d '{"name":"cold","ownerId":"owner_7"}' | sed 's/.*"keyId":"\([^"]*\)".*/\1/')
psql -q "${pg[@]}" -d "$db" -c "UPDATE keyward_usage_day SET key_id = '$cold_id' WHERE key_id = 'key_7'" >/dev/null
year="from=2025-12-01T00:00:00Z&to=2026-12-01T00:00:00Z"
measure() {           # LABEL PATH: runs, then median and max in ms, and the answer's size
  local label="$1" path="$2" times=() size
  for _ in $(seq 1 "$runs"); do
    times+=("$(curl -fsS -o "$work/answer" -w '%{time_total}' -H "Authorization: Bearer $root_key" \
      "http://127.0.0.1:$port$path")")
  done
  size=$(wc -c <"$work/answer")
  printf '%s\n' "${times[@]}" | sort -g | awk -v l="$label" -v s="$size" -v b="$(grep -o '"start"' "$work/answer" | wc -l)" \
    '{ v[NR] = $1 } END { printf "== RESULT usage query %s: median %.1f ms, max %.1f ms over %d runs (%d buckets, %d bytes)\n", l, v[int((NR + 1) / 2)] * 1000, v[NR] * 1000, NR, b, s }'
}
measure "one key, a year by hour" "/v1/keys/$hot_id/usage?granularity=hour&$year"
measure "one owner (10 keys), a year by hour" "/v1/usage?ownerId=owner_hot&granularity=hour&$year"
measure "one key, a year by day" "/v1/keys/$cold_id/usage?granularity=day&$year"
measure "one owner (100 keys), a year by day" "/v1/usage?ownerId=owner_7&granularity=day&$year"
