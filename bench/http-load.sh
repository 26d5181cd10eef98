#!/usr/bin/env bash
# HTTP load test of POST /v1/keys/verify with wrk, against a scratch Keyward server on loopback.
# See bench/README.md. Usage:
#   bench/http-load.sh [--scenario l1|l2|store|ceiling] [--l2] [--keys N] [--threads T]
#                      [--connections C] [--duration D] [--warmup D] [--port P] [--keycloak]
#                      [--with-ceiling] [--malformed-share P] [--unknown-share P]
#                      [--unknown-keys N] [--mixes [--repeat R] [--mix-kinds malformed,unknown,foreign]]
#                      [--foreign-keys N] [--shadow-sweep] [--usage-compare [--repeat R] [--rate N [--paired]]
#                      [--usage-on-option ARG]...]
#                      [--forward-auth]
#                      [--connections-sweep] [--heap-histogram] [--create-connections C]
#   bench/http-load.sh --key-counts N1,N2,... [--heap-histogram] [--l2] [--threads T]
#                      [--connections C] [--duration D] [--warmup D] [--port P]
#                      [--create-connections C]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
lua_dir="$root/bench/lua"

# --keycloak: this run, then Keycloak's token introspection with the same wrk settings, and the
# ratios (bench/compare.sh, which calls this script back without the flag).
for arg in "$@"; do
  [ "$arg" = --keycloak ] && exec bench/compare.sh "$@"
done

scenario=l1
use_l2=""
keys=100000
threads=2
connections=32
duration=20s
warmup=5s            # wrk at random after the pass that verifies every key once
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
mixes=""             # clean, 30% malformed, 30% unknown on one server, --repeat times
repeat=1
mix_kinds=malformed,unknown
foreign_keys=200000  # --mix-kinds foreign: how many distinct strings of foreign shape
shadow_sweep=""      # --scenario l2: cache.l2 off, shadow 1/10/100%, canary 50%, on, same server
usage_compare=""     # a second server with --no-usage on the same database; rounds of on, off
rate=""              # --usage-compare: requests/s at a fixed rate (FixedRateLoad, open loop) instead of wrk
paired=""            # --usage-compare --rate: both servers loaded at once, on one schedule (see run_paired)
usage_on_opts=()     # --usage-on-option ARG (repeatable): passed to the usage-on server only
forward_auth=""      # verify, then GET /v1/forward-auth, then the same through examples/nginx, then nginx alone
usage_pid=""
sweep=""             # verify at 1, 16, 64 and 256 connections
heap_histogram=""    # live heap before and after the pass that fills L1 (jcmd GC.class_histogram)
create_connections=16
key_counts=""        # the l1 scenario with --with-ceiling once per count, fresh server each
sweep_args=()        # options passed on to each run of a --key-counts sweep
not_in_sweep=()      # options a --key-counts sweep does not take

usage() { sed -n '2,14p' "$root/bench/http-load.sh" | sed 's/^# \{0,1\}//'; }
fail_usage() { echo "http-load: $*" >&2; usage >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --l2|--heap-histogram|--with-ceiling|--mixes|--connections-sweep|--shadow-sweep|--usage-compare|--paired|--forward-auth|-h|--help) ;;
    -*) [ $# -ge 2 ] || fail_usage "$1 needs a value" ;;
  esac
  case "$1" in
    --scenario) scenario="$2"; not_in_sweep+=("$1"); shift 2 ;;
    --l2) use_l2=yes; sweep_args+=("$1"); shift ;;
    --keys) keys="$2"; not_in_sweep+=("$1"); shift 2 ;;
    --threads) threads="$2"; sweep_args+=("$1" "$2"); shift 2 ;;
    --connections) connections="$2"; sweep_args+=("$1" "$2"); shift 2 ;;
    --duration) duration="$2"; sweep_args+=("$1" "$2"); shift 2 ;;
    --warmup) warmup="$2"; sweep_args+=("$1" "$2"); shift 2 ;;
    --port) port="$2"; sweep_args+=("$1" "$2"); shift 2 ;;
    --create-connections) create_connections="$2"; sweep_args+=("$1" "$2"); shift 2 ;;
    --heap-histogram) heap_histogram=yes; sweep_args+=("$1"); shift ;;
    --with-ceiling) with_ceiling=yes; shift ;;
    --malformed-share) malformed_share="$2"; not_in_sweep+=("$1"); shift 2 ;;
    --unknown-share) unknown_share="$2"; not_in_sweep+=("$1"); shift 2 ;;
    --unknown-keys) unknown_keys="$2"; not_in_sweep+=("$1"); shift 2 ;;
    --mixes) mixes=yes; not_in_sweep+=("$1"); shift ;;
    --repeat) repeat="$2"; not_in_sweep+=("$1"); shift 2 ;;
    --mix-kinds) mix_kinds="$2"; not_in_sweep+=("$1"); shift 2 ;;
    --foreign-keys) foreign_keys="$2"; not_in_sweep+=("$1"); shift 2 ;;
    --connections-sweep) sweep=yes; not_in_sweep+=("$1"); shift ;;
    --shadow-sweep) shadow_sweep=yes; not_in_sweep+=("$1"); shift ;;
    --usage-compare) usage_compare=yes; not_in_sweep+=("$1"); shift ;;
    --rate) rate="$2"; not_in_sweep+=("$1"); shift 2 ;;
    --paired) paired=yes; not_in_sweep+=("$1"); shift ;;
    --usage-on-option) usage_on_opts+=("$2"); not_in_sweep+=("$1"); shift 2 ;;
    --forward-auth) forward_auth=yes; not_in_sweep+=("$1"); shift ;;
    --key-counts) key_counts="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) fail_usage "unknown argument '$1'" ;;
  esac
done

positive() {          # NAME VALUE: a positive whole number, or exit 2
  [[ "$2" =~ ^[1-9][0-9]*$ ]] || fail_usage "$1 must be a positive whole number, got '$2'"
}
positive --keys "$keys"
positive --threads "$threads"
positive --connections "$connections"
positive --create-connections "$create_connections"
positive --repeat "$repeat"
positive --port "$port"
[ "$connections" -ge "$threads" ] || fail_usage "--connections ($connections) must be at least --threads ($threads) (wrk)"
for d in "$duration" "$warmup"; do
  [[ "$d" =~ ^[1-9][0-9]*[smh]?$ ]] || fail_usage "--duration and --warmup take wrk durations like 20s, 2m; got '$d'"
done

# wrk's latency strings (us, ms, s) → milliseconds.
to_ms() { awk -v v="$1" 'BEGIN {
  if (v ~ /us$/) x = v / 1000; else if (v ~ /ms$/) x = v + 0; else if (v ~ /s$/) x = v * 1000; else x = v + 0
  printf "%.2f", x }'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END {
  if (NR % 2) printf "%.3f\n", v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# (0) --key-counts: the l1 scenario with --with-ceiling once per count, each with a fresh server
# and database (this script, called back), and one table at the end.
if [ -n "$key_counts" ]; then
  [ "${#not_in_sweep[@]}" -eq 0 ] \
    || fail_usage "--key-counts runs the l1 scenario with --with-ceiling; it does not take ${not_in_sweep[*]}"
  [[ "$key_counts" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] \
    || fail_usage "--key-counts takes positive counts separated by commas, like 1000,100000,1000000; got '$key_counts'"
  IFS=, read -ra counts <<<"$key_counts"
  sweep_log="$(mktemp -d /tmp/kw-key-counts.XXXXXX)"
  trap 'rm -rf "$sweep_log"' EXIT
  rows=()
  for k in "${counts[@]}"; do
    echo "==== key-count sweep: $k keys: bench/http-load.sh --scenario l1 --with-ceiling --keys $k ${sweep_args[*]}" >&2
    "$root/bench/http-load.sh" --scenario l1 --with-ceiling --keys "$k" "${sweep_args[@]}" | tee "$sweep_log/$k.txt"
    out="$sweep_log/$k.txt"
    created=$(sed -n 's/^== RESULT created [0-9]* keys in .* s: \([0-9]*\) keys\/s.*/\1/p' "$out")
    read -r rps p50 p99 p999 < <(sed -n \
      's/^== RESULT scenario=l1 .*: \([0-9.]*\) req\/s, p50 \([^,]*\), p99 \([^,]*\), p99\.9 \([^;]*\).*/\1 \2 \3 \4/p' "$out") || true
    c_rps=$(sed -n 's/^== RESULT scenario=ceiling .*: \([0-9.]*\) req\/s.*/\1/p' "$out")
    ratio=$(sed -n 's/^== RATIO verify\/ceiling (main): \([0-9.]*\)x.*/\1/p' "$out")
    per_key=$(sed -n 's/^== RESULT heap .* \([0-9.]*\) bytes per cached key.*/\1/p' "$out")
    [ -n "$rps" ] && [ -n "$c_rps" ] && [ -n "$ratio" ] \
      || { echo "http-load: no RESULT/RATIO lines in the $k-key run's output" >&2; exit 1; }
    rows+=("$(printf '   %10s %10s %10.0f %9s %9s %9s %10.0f %7sx %10s' "$k" "${created:--}" "$rps" \
      "$(to_ms "$p50")" "$(to_ms "$p99")" "$(to_ms "$p999")" "$c_rps" "$ratio" "${per_key:--}")")
  done
  echo
  echo "== SUMMARY key-count sweep: scenario=l1 with ceiling, ${sweep_args[*]:-default options} ($(nproc) cores shared by wrk and the server; ms)"
  printf '   %10s %10s %10s %9s %9s %9s %10s %8s %10s\n' keys "created/s" "req/s" p50 p99 p99.9 \
    ceiling ratio "heap B/key"
  printf '%s\n' "${rows[@]}"
  exit 0
fi

# Scenario → server options. The fresh window is an hour in l1/l2 (stale window too: it may not
# be shorter) so that nothing loaded by the warm-up goes stale during the runs (the default 30 s,
# and even 300 s, is shorter than warm-up plus --mixes --repeat 3); store sets it to 1 s on
# purpose. In l1, L1 holds every key: --cache-max-entries is raised above the default 100,000
# when the keys (plus the unknown keys' "not found" entries, the root key and a margin) need it.
server_opts=()
case "$scenario" in
  l1|ceiling) server_opts+=(--cache-fresh-seconds 3600 --cache-stale-seconds 3600) ;;
  l2)    use_l2=yes; server_opts+=(--cache-max-entries 100 --cache-fresh-seconds 3600
           --cache-stale-seconds 3600 --redis-ttl-seconds 3600) ;;
  store) [ -z "$use_l2" ] || fail_usage "--scenario store runs without Redis; drop --l2"
         server_opts+=(--cache-max-entries 100 --cache-fresh-seconds 1) ;;
  *) fail_usage "--scenario must be l1, l2, store or ceiling, got '$scenario'" ;;
esac
for share in "$malformed_share" "$unknown_share"; do
  [[ "$share" =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v s="$share" 'BEGIN { exit !(s <= 100) }' \
    || fail_usage "a share is a percentage from 0 to 100, got '$share'"
done
awk -v m="$malformed_share" -v u="$unknown_share" 'BEGIN { exit !(m + u <= 100) }' \
  || fail_usage "--malformed-share plus --unknown-share exceeds 100"
[ "$repeat" = 1 ] || [ -n "$mixes$usage_compare" ] || fail_usage "--repeat repeats the --mixes or --usage-compare rounds; add one"
[ -z "$usage_compare" ] || [ -z "$mixes$shadow_sweep" ] || fail_usage "--usage-compare runs on its own, without --mixes or --shadow-sweep"
[ -z "$rate" ] || [ -n "$usage_compare" ] || fail_usage "--rate is for --usage-compare"
[ -z "$paired" ] || [ -n "$rate" ] || fail_usage "--paired is for --usage-compare --rate N"
[ "${#usage_on_opts[@]}" -eq 0 ] || [ -n "$usage_compare" ] || fail_usage "--usage-on-option is for --usage-compare"
[ -z "$forward_auth" ] || [ -z "$mixes$shadow_sweep$usage_compare" ] || fail_usage "--forward-auth runs on its own"
[ -z "$rate" ] || positive --rate "$rate"
[ "$mix_kinds" = malformed,unknown ] || [ -n "$mixes" ] || fail_usage "--mix-kinds chooses the --mixes runs; add --mixes"
mix_bad=""; mix_unk=""; mix_for=""
IFS=, read -ra kinds <<<"$mix_kinds"
for kind in "${kinds[@]}"; do
  case "$kind" in
    malformed) mix_bad=yes ;;
    unknown) mix_unk=yes ;;
    # Random strings of another vendor's shape (sk_live_ + 32 base62), each distinct: without the
    # foreign filter each costs a store lookup; with verify.foreign-filter on, none (needs Redis).
    foreign) mix_for=yes; use_l2=yes ;;
    *) fail_usage "--mix-kinds takes malformed, unknown and foreign, separated by commas, got '$mix_kinds'" ;;
  esac
done
positive --foreign-keys "$foreign_keys"
[ -z "$shadow_sweep" ] || [ "$scenario" = l2 ] \
  || fail_usage "--shadow-sweep measures the cache.l2 switch on L1 misses; it needs --scenario l2"
[ -z "$shadow_sweep" ] || [ -z "$mixes" ] || fail_usage "--shadow-sweep and --mixes are separate runs"
# --mixes runs 30% of each (or the share given, when not 0).
mix_malformed=$(awk -v s="$malformed_share" 'BEGIN { print (s > 0 ? s : 30) }')
mix_unknown=$(awk -v s="$unknown_share" 'BEGIN { print (s > 0 ? s : 30) }')
mix_foreign=30
needs_unknown=""
if { [ -n "$mixes" ] && [ -n "$mix_unk" ]; } || awk -v s="$unknown_share" 'BEGIN { exit !(s > 0) }'; then needs_unknown=yes; fi
[ -n "$unknown_keys" ] || unknown_keys=$(( keys < 10000 ? keys : 10000 ))
positive --unknown-keys "$unknown_keys"
if [ "$scenario" = ceiling ] && [ -n "$mixes$sweep$needs_unknown$heap_histogram" ]; then
  fail_usage "--scenario ceiling verifies nothing; --mixes, --unknown-share, --connections-sweep and --heap-histogram need a verify scenario"
fi
if [ "$scenario" = l1 ] || [ "$scenario" = ceiling ]; then
  not_found_entries=0; [ -z "$needs_unknown" ] || not_found_entries=$unknown_keys
  l1_entries=$(( keys + not_found_entries + (keys / 10 > 1000 ? keys / 10 : 1000) ))
  [ "$l1_entries" -le 100000 ] || server_opts+=(--cache-max-entries "$l1_entries")
fi

for tool in curl psql; do
  command -v "$tool" >/dev/null || { echo "http-load: needs $tool" >&2; exit 1; }
done
# (wrk only warns about a script it cannot read, and then sends plain GETs.)
for f in create-keys warm-walk verify ceiling; do
  [ -r "$lua_dir/$f.lua" ] || { echo "http-load: missing $lua_dir/$f.lua" >&2; exit 1; }
done

# (1) Build if needed (./keyward builds when sources are newer than the jar); the JDK it runs
# (for jcmd with --heap-histogram).
echo "== building if needed" >&2
./keyward --help >/dev/null
# shellcheck source=../bin/find-jdk.sh
source bin/find-jdk.sh
jcmd="$JAVA_HOME/bin/jcmd"
java="$JAVA_HOME/bin/java"
bench_jar=keyward-benchmarks/target/benchmarks.jar
if [ -n "$rate" ] && { [ ! -f "$bench_jar" ] || [ -n "$(find keyward-benchmarks/src -newer "$bench_jar" -print -quit)" ]; }; then
  echo "== building $bench_jar (for --rate)" >&2
  ./mvnw -q -B -ntp package -DskipTests -pl keyward-benchmarks -am >&2
fi
[ -z "$heap_histogram" ] || [ -x "$jcmd" ] || { echo "http-load: --heap-histogram needs $jcmd" >&2; exit 1; }

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
bg_pid=""             # a wrk running in the background (key creation, the warm-up pass)

stop_server() {       # pid: TERM, KILL after 10 s
  local pid="$1"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}
psql_admin() { psql -q -v ON_ERROR_STOP=1 -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$pg_admin_db" "$@"; }
# create_database NAME: a scratch database whose sessions commit without waiting for the WAL
# flush (synchronous_commit = off, set on this database only: nothing else on the PostgreSQL
# server changes; a crash could lose the last few commits, which a scratch database can afford).
# It makes creating keys through the API several times faster on this kind of machine.
create_database() {
  psql_admin -c "CREATE DATABASE $1" >/dev/null
  psql_admin -c "ALTER DATABASE $1 SET synchronous_commit = off" >/dev/null
}
drop_database() {
  timeout 60 psql -q -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$pg_admin_db" \
    -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1 \
    || echo "http-load: could not drop database $1" >&2
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$bg_pid" ]; then kill -KILL "$bg_pid" 2>/dev/null || true; wait "$bg_pid" 2>/dev/null || true; fi
  if [ -n "${nginx_pid:-}" ]; then kill -TERM "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; fi
  stop_server "$scratch_pid"
  stop_server "$usage_pid"
  stop_server "$server_pid"
  [ -z "$scratch_db" ] || drop_database "$scratch_db"
  [ -z "$db_created" ] || drop_database "$db"
  if [ -n "$use_l2" ] && command -v redis-cli >/dev/null; then
    timeout 600 bash -c "redis-cli -h $redis_host -p $redis_port --scan --pattern '$namespace:*' \
      | xargs -r -n 1000 redis-cli -h $redis_host -p $redis_port del >/dev/null" \
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
# background (./keyward execs java, so $! is the JVM's own pid), sets started_pid, waits for
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

# server_log_problems LOG NAME: the server log's WARN and ERROR lines (count and the first five).
server_log_problems() {
  local n
  n=$(grep -cE '^[0-9:.]+ +(WARN|ERROR)' "$1" || true)
  if [ "$n" -gt 0 ]; then
    echo "== server log ($2): $n WARN/ERROR lines; the first five:"
    grep -E '^[0-9:.]+ +(WARN|ERROR)' "$1" | awk 'NR <= 5 { print "   " substr($0, 1, 300) }'
  else
    echo "== server log ($2): no WARN/ERROR lines"
  fi
}

# wrk_until_done DIR URL SCRIPT THREADS CONNECTIONS LIMIT_S [NAME=VALUE...]: wrk with one of the
# scripts whose threads each write DIR/t<i>.done and stop once their share is done; wrk itself
# would wait out -d, so it gets SIGINT (it then joins its threads and reports) as soon as every
# thread is done. Fails when wrk ends before that (an error, or LIMIT_S seconds passed).
wrk_until_done() {
  local dir="$1" url="$2" script="$3" t="$4" c="$5" limit="$6"; shift 6
  mkdir -p "$dir"
  env "$@" KW_THREADS="$t" KW_OUT="$dir/t" \
    wrk -t "$t" -c "$c" -d "${limit}s" --timeout 10s -s "$script" "$url" >"$dir/wrk.txt" 2>&1 &
  bg_pid=$!
  while [ "$(find "$dir" -name 't*.done' | wc -l)" -lt "$t" ] && kill -0 "$bg_pid" 2>/dev/null; do
    sleep 0.1
  done
  kill -INT "$bg_pid" 2>/dev/null || true
  wait "$bg_pid" || true
  bg_pid=""
  if [ "$(find "$dir" -name 't*.done' | wc -l)" -lt "$t" ]; then
    echo "http-load: wrk ($(basename "$script")) ended before every thread was done (error, or ${limit} s passed):" >&2
    cat "$dir/wrk.txt" >&2; exit 1
  fi
}

# create_keys BASE ROOT_KEY COUNT DIR: COUNT keys created through POST /v1/keys by wrk
# (lua/create-keys.lua, --create-connections connections), DIR/keys.txt one key a line and
# DIR/ids.txt their keyIds on the same lines. Fails on any non-201 answer, or unless there are
# exactly COUNT distinct keys.
create_keys() {
  local b="$1" rk="$2" count="$3" dir="$4" t0 t1 created errors first distinct ct cc
  ct=$(( threads < count ? threads : count ))
  cc=$(( create_connections > ct ? create_connections : ct ))
  t0=$(date +%s%N)
  wrk_until_done "$dir" "$b/v1/keys" "$lua_dir/create-keys.lua" "$ct" "$cc" $(( 600 + count / 100 )) \
    KW_ROOT="$rk" KW_COUNT="$count"
  t1=$(date +%s%N)
  errors=$(awk '{ s += $2 } END { print s + 0 }' "$dir"/t*.done)
  if [ "$errors" != 0 ]; then
    first=$(awk '$2 > 0 { $1 = $2 = ""; print; exit }' "$dir"/t*.done)
    echo "http-load: creating keys: $errors answers other than 201; the first:$first" >&2; exit 1
  fi
  cat "$dir"/t*.keys >"$dir/created.txt"
  cut -d' ' -f1 "$dir/created.txt" >"$dir/keys.txt"
  cut -d' ' -f2 "$dir/created.txt" >"$dir/ids.txt"
  created=$(grep -c . "$dir/keys.txt" || true)
  distinct=$(sort -u "$dir/keys.txt" | grep -c . || true)
  [ "$created" = "$count" ] && [ "$distinct" = "$count" ] && [ "$(sort -u "$dir/ids.txt" | grep -c .)" = "$count" ] \
    || { echo "http-load: created $created keys ($distinct distinct) instead of $count" >&2; exit 1; }
  awk -v n="$count" -v ns=$(( t1 - t0 )) -v c="$cc" 'BEGIN {
    printf "== RESULT created %d keys in %.1f s: %.0f keys/s (wrk, %d connections, POST /v1/keys)\n", n, ns / 1e9, n / (ns / 1e9), c }'
}

# (3) Unknown keys (only when a run needs them): issued by a second, short-lived server with its
# own scratch database, so they have valid checksums and are NOT_FOUND on the measured server.
if [ -n "$needs_unknown" ]; then
  scratch_port=$(free_port $((port + 50)))
  scratch_db="kwload_${suffix}_unknown"
  create_database "$scratch_db"
  echo "== unknown keys: $unknown_keys from a scratch server on port $scratch_port, database $scratch_db" >&2
  start_server "$scratch_port" "$scratch_db" "$work/scratch-data" "$work/scratch.log"
  scratch_pid=$started_pid
  create_keys "http://127.0.0.1:$scratch_port" "$(cat "$work/scratch-data/root.key")" "$unknown_keys" \
    "$work/create-unknown" >"$work/create-unknown.txt"
  sed 's/^== RESULT created/   created (unknown keys, scratch server)/' "$work/create-unknown.txt"
  cp "$work/create-unknown/keys.txt" "$work/unknown.txt"
  server_log_problems "$work/scratch.log" "scratch server, unknown keys"
  stop_server "$scratch_pid"; scratch_pid=""
  drop_database "$scratch_db"; scratch_db=""
fi

# (4) A free loopback port, the scratch database, the server.
port=$(free_port "$port")
create_database "$db"
db_created=yes

redis_opts=()
if [ -n "$use_l2" ]; then
  redis_opts=(--redis-url "redis://$redis_host:$redis_port/0" --redis-namespace "$namespace")
fi
base="http://127.0.0.1:$port"
echo "== scenario $scenario: server on $base, database $db (synchronous_commit off)${use_l2:+, Redis namespace $namespace}" >&2
echo "   options: ${server_opts[*]} ${redis_opts[*]}" >&2
[ "${#usage_on_opts[@]}" -eq 0 ] || echo "   usage-on server only: ${usage_on_opts[*]}" >&2
start_server "$port" "$db" "$work/data" "$work/server.log" "${server_opts[@]}" "${redis_opts[@]}" \
  ${usage_on_opts[@]+"${usage_on_opts[@]}"}
server_pid=$started_pid
root_key="$(cat "$work/data/root.key")"
if [ -n "$use_l2" ]; then
  # Reading Redis is behind the cache.l2 switch, off until turned on: the L2 scenario reads it.
  curl -fsS -X PUT -H "Authorization: Bearer $root_key" -H "Content-Type: application/json" \
    -d '{"stage": "on", "reason": "bench/http-load.sh: the L2 scenario reads Redis"}' \
    "$base/v1/switches/cache.l2" >/dev/null \
    || { echo "http-load: could not turn cache.l2 on" >&2; exit 1; }
fi
# set_foreign_filter STAGE: the switch verify.foreign-filter, and with "on" a wait until the
# server's filter is loaded and trusted (keyward_foreign_filter_trusted 1).
set_foreign_filter() {
  curl -fsS -X PUT -H "Authorization: Bearer $root_key" -H "Content-Type: application/json" \
    -d "{\"stage\": \"$1\", \"reason\": \"bench/http-load.sh: the foreign mix\"}" \
    "$base/v1/switches/verify.foreign-filter" >/dev/null \
    || { echo "http-load: could not set verify.foreign-filter to $1" >&2; exit 1; }
  [ "$1" = on ] || return 0
  for _ in $(seq 1 300); do
    curl -fsS "$base/metrics" | grep -q '^keyward_foreign_filter_trusted 1' && return 0
    sleep 0.1
  done
  echo "http-load: the foreign filter was not trusted within 30 s" >&2; exit 1
}

# run_ceiling LABEL THREADS CONNECTIONS WARMUP: GET /health/live (a constant small JSON answer,
# no auth), the HTTP stack's ceiling on this server. Sets c_rps, c_p50, c_p99, c_p999.
run_ceiling() {
  local label="$1" t="$2" c="$3" w="$4" out="$work/ceiling-$1.txt"
  local check
  check="$(curl -fsS "$base/health/live")"
  [[ "$check" == *'"UP"'* ]] || { echo "http-load: /health/live answers $check" >&2; exit 1; }
  timeout 600 wrk -t "$t" -c "$c" -s "$lua_dir/ceiling.lua" -d "$w" "$base/health/live" >/dev/null
  echo "== ceiling ($label): wrk -t $t -c $c -d $duration --latency (GET /health/live)" >&2
  timeout 3600 wrk -t "$t" -c "$c" -s "$lua_dir/ceiling.lua" -d "$duration" --latency "$base/health/live" | tee "$out"
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
  echo "== warm-up: $warmup of wrk on /health/live" >&2
  run_ceiling ceiling "$threads" "$connections" "$warmup"
  server_log_problems "$work/server.log" "measured server"
  exit 0
fi

# (5) N keys, created through the API by wrk; their malformed twins (one random-part character
# of the body replaced by the next base62 digit: the checksum no longer matches, so BAD_CHECKSUM).
echo "== creating $keys keys" >&2
create_keys "$base" "$root_key" "$keys" "$work/create"
cp "$work/create/keys.txt" "$work/keys.txt"
cp "$work/create/ids.txt" "$work/ids.txt"
awk 'BEGIN { a = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" }
     { p = length($0) - 10; c = substr($0, p, 1); n = substr(a, index(a, c) % 62 + 1, 1)
       print substr($0, 1, p - 1) n substr($0, p + 1) }' "$work/keys.txt" >"$work/malformed.txt"
[ -s "$work/unknown.txt" ] || : >"$work/unknown.txt"
: >"$work/foreign.txt"
if [ -n "$mix_for" ]; then
  awk -v n="$foreign_keys" -v seed="$RANDOM$RANDOM" 'BEGIN { srand(seed)
    a = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    for (i = 0; i < n; i++) { s = "sk_live_"; for (j = 0; j < 32; j++) s = s substr(a, int(rand() * 62) + 1, 1); print s } }' \
    | sort -u >"$work/foreign.txt"
  echo "== foreign strings: $(wc -l <"$work/foreign.txt") distinct, of the shape sk_live_ + 32 base62" >&2
fi
# The verify script reads these files in its init() (see lua/verify.lua).
export KW_ROOT="$root_key" KW_KEYS="$work/keys.txt" KW_MALFORMED_KEYS="$work/malformed.txt" \
  KW_UNKNOWN_KEYS="$work/unknown.txt" KW_FOREIGN_KEYS="$work/foreign.txt" KW_FOREIGN=0
lua="$lua_dir/verify.lua"

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
if [ -n "$mix_for" ]; then
  check="$(verify_code "$(head -n 1 "$work/foreign.txt")")"
  [[ "$check" == *'"code":"NOT_FOUND"'* ]] || { echo "http-load: a foreign string answers $check" >&2; exit 1; }
  echo "   foreign string check: $check" >&2
fi

metrics() {            # the server's counters worth a delta (and its GC pauses, count and seconds)
  { curl -fsS "$base/metrics" || true; } \
    | grep -E '^(keyward_(cache_requests_total|cache_l2_requests_total|verify_total|caller_verify_total|verify_shared_loads_total|cache_l2_writes_total|verify_foreign_filtered_total)|jvm_gc_pause_seconds_(count|sum))[{ ]' \
    | grep -v ' 0\.0$' | sort || true
}
metrics_delta() {     # BEFORE AFTER: the counters that grew (label values may hold spaces)
  awk 'function key() { return substr($0, 1, length($0) - length($NF) - 1) }
       NR == FNR { before[key()] = $NF; next }
       { k = key(); d = $NF - before[k]
         if (d > 0) printf "   %-72s %12" (k ~ /_sum\{/ ? ".3f" : ".0f") "\n", k, d }' "$1" "$2"
}

# Heap histograms (--heap-histogram): jcmd GC.class_histogram forces a full GC and counts the
# live objects by class.
histogram() {         # FILE: the server's live heap by class
  timeout 300 "$jcmd" "$server_pid" GC.class_histogram >"$1" \
    || { echo "http-load: jcmd $server_pid GC.class_histogram failed:" >&2; cat "$1" >&2; exit 1; }
}
hist_total() { awk '$1 == "Total" { print $3 }' "$1"; }
hist_count() { awk -v re="$2" '$1 ~ /^[0-9]+:$/ && $4 ~ re { n += $2 } END { print n + 0 }' "$1"; }
if [ -n "$heap_histogram" ]; then
  echo "== JVM heap settings of the server (pid $server_pid; KEYWARD_JAVA_OPTS: ${KEYWARD_JAVA_OPTS:-none}; without -Xms/-Xmx in jvm_args these are the JVM's defaults on this machine):"
  flags="$("$jcmd" "$server_pid" VM.flags | tail -n +2)"
  echo "$flags" | tr ' ' '\n' | grep -E '^-XX:(Initial|Max|Min|SoftMax)HeapSize=|^-XX:G1HeapRegionSize=|Use[A-Za-z0-9]*GC$' | sed 's/^/   /'
  "$jcmd" "$server_pid" VM.command_line | grep -E '^jvm_args' | sed 's/^/   /' || echo "   jvm_args: (none)"
  histogram "$work/heap.before"
fi

# (6) Warm-up: every key verified once by wrk (lua/warm-walk.lua: each thread walks its own
# slice in order, until each key of it answered 200), which fills L1 (and L2 with --l2); then
# --warmup (5 s) of wrk at random.
echo "== warm-up: every key verified once (wrk, fills L1${use_l2:+ and L2}), then $warmup of wrk at random" >&2
metrics >"$work/metrics.walk0"
wt=$(( threads < keys ? threads : keys ))
wc_=$(( connections < 16 ? connections : 16 )); wc_=$(( wc_ > wt ? wc_ : wt ))
t0=$(date +%s%N)
wrk_until_done "$work/walk" "$base/v1/keys/verify" "$lua_dir/warm-walk.lua" "$wt" "$wc_" \
  $(( 600 + keys / 100 )) KW_IDS="$work/ids.txt" KW_COUNT="$keys"
t1=$(date +%s%N)
metrics >"$work/metrics.walk1"
read -r w_keys w_answers w_ok w_errors < <(awk '{ k += $1; a += $2; o += $3; e += $4 } END { print k, a, o, e }' "$work/walk"/t*.done)
if [ "$w_errors" != 0 ] || [ "$w_keys" != "$keys" ]; then
  echo "http-load: warm-up pass: $w_keys keys, $w_answers answers, $w_ok with 200, $w_errors others; the first other:" \
    "$(awk '$4 > 0 { $1 = $2 = $3 = $4 = ""; print; exit }' "$work/walk"/t*.done)" >&2
  exit 1
fi
awk -v n="$keys" -v a="$w_answers" -v ns=$(( t1 - t0 )) 'BEGIN {
  printf "   warm-up pass: %d keys answered 200 (%d requests) in %.1f s: %.0f verifications/s\n", n, a, ns / 1e9, a / (ns / 1e9) }'
echo "   during the pass:"
metrics_delta "$work/metrics.walk0" "$work/metrics.walk1"

if [ -n "$heap_histogram" ]; then
  histogram "$work/heap.after"
  before=$(hist_total "$work/heap.before"); after=$(hist_total "$work/heap.after")
  l1_before=$(hist_count "$work/heap.before" 'CachedLookup$'); l1_after=$(hist_count "$work/heap.after" 'CachedLookup$')
  echo "== heap (live objects after a full GC, jcmd GC.class_histogram): before the pass" \
    "$before bytes (L1 entries, io.keyward...CachedLookup instances: $l1_before), after it" \
    "$after bytes (L1 entries: $l1_after)"
  echo "   classes that grew most (bytes, instances, bytes per key):"
  awk -v n="$keys" 'NR == FNR { if ($1 ~ /^[0-9]+:$/) { b[$4] = $3; i[$4] = $2 }; next }
    $1 ~ /^[0-9]+:$/ { d = $3 - b[$4]; if (d > 0) printf "%d %d %.1f %s\n", d, $2 - i[$4], d / n, $4 }' \
    "$work/heap.before" "$work/heap.after" | sort -nr \
    | awk 'NR <= 10 { printf "   %14d %10d %8.1f  %s\n", $1, $2, $3, $4 }'
  echo "== RESULT heap keys=$keys: live heap $before -> $after bytes (L1 entries $l1_before -> $l1_after):" \
    "$(awk -v a="$after" -v b="$before" -v n="$keys" 'BEGIN { printf "%.0f", (a - b) / n }') bytes per cached key"
fi
timeout 600 wrk -t "$threads" -c "$connections" -s "$lua" -d "$warmup" "$base/v1/keys/verify" >/dev/null

# run_verify LABEL MALFORMED% UNKNOWN% THREADS CONNECTIONS [FOREIGN%]: one measured verify run (after a
# 3 s warm-up with the same settings, except for the first run, which follows the warm-up above),
# then with --with-ceiling the ceiling on the same server. Sets v_rps, v_p99 (and c_rps and
# v_ratio, verify/ceiling).
runs=0
run_verify() {
  local label="$1" t="$4" c="$5" out="$work/wrk-$1.txt"
  export KW_MALFORMED="$2" KW_UNKNOWN="$3" KW_FOREIGN="${6:-0}"
  local cmd=(wrk -t "$t" -c "$c" -s "$lua")
  if [ "$runs" -gt 0 ]; then timeout 60 "${cmd[@]}" -d 3s "$base/v1/keys/verify" >/dev/null; fi
  runs=$((runs + 1))
  metrics >"$work/metrics.before"
  echo "== measuring ($label): wrk -t $t -c $c -d $duration --latency (POST /v1/keys/verify;" \
    "$2% malformed, $3% unknown, ${6:-0}% foreign)" >&2
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
  metrics_delta "$work/metrics.before" "$work/metrics.after"
  [ "$2" = 0 ] && [ "$3" = 0 ] && [ "${6:-0}" = 0 ] || mix=" malformed=$2% unknown=$3% foreign=${6:-0}%"
  echo "== RESULT scenario=$scenario ($label) keys=$keys threads=$t connections=$c duration=$duration$mix:" \
    "${v_rps} req/s, p50 ${p50}, p99 ${v_p99}, p99.9 ${p999}${errors:+; $errors}"
  local ratio="" c_col="-"
  if [ -n "$with_ceiling" ]; then
    run_ceiling "$label" "$t" "$c" 3s
    ratio=$(awk -v v="$v_rps" -v c="$c_rps" 'BEGIN { printf "%.2f", v / c }')
    v_ratio=$(awk -v v="$v_rps" -v c="$c_rps" 'BEGIN { printf "%.4f", v / c }')
    echo "== RATIO verify/ceiling ($label): ${ratio}x throughput (${v_rps} / ${c_rps} req/s);" \
      "p99 $(to_ms "$v_p99") ms vs $(to_ms "$c_p99") ms"
    c_col=$(printf '%.0f' "$c_rps")
  fi
  add_summary "$label" "$v_rps" "$(to_ms "$p50")" "$(to_ms "$v_p99")" "$(to_ms "$p999")" \
    "${with_ceiling:+$(printf '%10s %6sx' "$c_col" "$ratio")}"
}

# cpu_seconds: the CPU time (user + system, seconds) of the usage-on server, the usage-off server
# and PostgreSQL (every postgres process, with what its exited children used: autovacuum workers
# come and go), as "ON OFF PG"; two of these give what each used in between.
cpu_seconds() {
  local on=0 off=0 pg=0 st p
  for p in /proc/[0-9]*/stat; do
    read -r -a st 2>/dev/null <"$p" || continue
    case "${p#/proc/}" in
      "$server_pid/stat") on=$(( ${st[13]} + ${st[14]} )) ;;
      "${usage_pid:-x}/stat") off=$(( ${st[13]} + ${st[14]} )) ;;
    esac
    [ "${st[1]}" = "(postgres)" ] && pg=$(( pg + ${st[13]} + ${st[14]} + ${st[15]} + ${st[16]} ))
  done
  local hz; hz=$(getconf CLK_TCK)
  [ "$pg" -gt 0 ] || echo "http-load: no postgres process is visible here (a remote or containerised PostgreSQL): its CPU reads 0" >&2
  awk -v a="$on" -v b="$off" -v c="$pg" -v hz="$hz" 'BEGIN { printf "%.2f %.2f %.2f", a / hz, b / hz, c / hz }'
}
cpu_delta() {          # BEFORE AFTER (cpu_seconds lines): "ON OFF PG" used in between
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ")
    printf "%.2f %.2f %.2f", y[1] - x[1], y[2] - x[2], y[3] - x[3] }'
}

# parse_fixed LINE: FixedRateLoad's result line → f_rps f_p50 f_p99 f_p999 f_errors f_behind.
parse_fixed() {
  f_rps=$(sed -n 's/.*rate=\([0-9.]*\) .*/\1/p' <<<"$1")
  f_p50=$(sed -n 's/.* p50=\([0-9.]*\) .*/\1/p' <<<"$1")
  f_p99=$(sed -n 's/.* p99=\([0-9.]*\) .*/\1/p' <<<"$1")
  f_p999=$(sed -n 's/.* p99.9=\([0-9.]*\) .*/\1/p' <<<"$1")
  f_errors=$(sed -n 's/.* errors=\([0-9]*\) .*/\1/p' <<<"$1")
  f_behind=$(sed -n 's/.* behind=\([0-9.]*\).*/\1/p' <<<"$1")
  [ -n "$f_rps" ] && [ -n "$f_p99" ] || { echo "http-load: FixedRateLoad gave no result" >&2; exit 1; }
}
report_fixed() {      # LABEL: warnings and the RESULT line for the parse_fixed values
  [ "${f_errors:-0}" = 0 ] || echo "== WARNING ($1): $f_errors requests failed or were not answered with 200"
  if awk -v b="${f_behind:-0}" 'BEGIN { exit !(b > 50) }'; then
    echo "== WARNING ($1): the generator itself fell ${f_behind} ms behind schedule: the rate is too high for this machine"
  fi
  echo "== RESULT scenario=$scenario ($1) keys=$keys rate=$rate connections=$connections duration=$duration:" \
    "${f_rps} req/s sent, p50 ${f_p50}ms, p99 ${f_p99}ms, p99.9 ${f_p999}ms, errors $f_errors (open loop)"
  add_summary "$1" "$f_rps" "$f_p50" "$f_p99" "$f_p999" ""
}
fixed_seconds() {
  case "$duration" in *m) echo $(( ${duration%m} * 60 ));; *h) echo $(( ${duration%h} * 3600 ));; *) echo "${duration%s}";; esac
}

# run_fixed_rate LABEL: --rate requests/s for --duration on --connections connections, open loop
# (io.keyward.benchmarks.FixedRateLoad: each latency from the moment its request was due), after a
# 3 s warm-up at the same rate. Sets v_rps (requests sent per second), v_p99 (ms) and v_cpu (CPU
# seconds used meanwhile, "ON OFF PG").
run_fixed_rate() {
  local label="$1" out="$work/fixed-$1.txt" secs cpu0
  secs=$(fixed_seconds)
  "$java" -cp "$bench_jar" io.keyward.benchmarks.FixedRateLoad "$base/v1/keys/verify" "$root_key" \
    "$work/keys.txt" "$rate" "$connections" 3 >/dev/null
  echo "== measuring ($label): $rate req/s for $duration on $connections connections (open loop)" >&2
  metrics >"$work/metrics.before"
  cpu0=$(cpu_seconds)
  "$java" -cp "$bench_jar" io.keyward.benchmarks.FixedRateLoad "$base/v1/keys/verify" "$root_key" \
    "$work/keys.txt" "$rate" "$connections" "$secs" | tee "$out"
  v_cpu=$(cpu_delta "$cpu0" "$(cpu_seconds)")
  metrics >"$work/metrics.after"
  echo "== during the measured run ($label):"
  metrics_delta "$work/metrics.before" "$work/metrics.after" | grep jvm_gc || true
  echo "   CPU seconds used (usage-on server, usage-off server, PostgreSQL): $v_cpu"
  parse_fixed "$(cat "$out")"
  v_rps=$f_rps; v_p99=$f_p99
  report_fixed "$label"
}

# run_paired ROUND (--usage-compare --paired): --rate to the usage-on and the usage-off server at
# once, on one schedule with the same keys (FixedRateLoad with both URLs), so that whatever else
# the machine does at a moment (another process, a PostgreSQL autovacuum, a noisy neighbour) hits
# both alike. Sets on_rps, on_p99, off_rps, off_p99 and v_cpu.
run_paired() {
  local r="$1" out="$work/paired-$1.txt" secs cpu0 urls
  secs=$(fixed_seconds)
  urls="$on_base/v1/keys/verify,$off_base/v1/keys/verify"
  "$java" -cp "$bench_jar" io.keyward.benchmarks.FixedRateLoad "$urls" "$root_key" \
    "$work/keys.txt" "$rate" "$connections" 3 >/dev/null
  echo "== measuring (paired round $r): $rate req/s to each server at once for $duration on $connections connections each (open loop)" >&2
  base=$on_base metrics >"$work/metrics.on.before"; base=$off_base metrics >"$work/metrics.off.before"
  cpu0=$(cpu_seconds)
  "$java" -cp "$bench_jar" io.keyward.benchmarks.FixedRateLoad "$urls" "$root_key" \
    "$work/keys.txt" "$rate" "$connections" "$secs" | tee "$out"
  v_cpu=$(cpu_delta "$cpu0" "$(cpu_seconds)")
  base=$on_base metrics >"$work/metrics.on.after"; base=$off_base metrics >"$work/metrics.off.after"
  echo "== during paired round $r, usage on:"
  metrics_delta "$work/metrics.on.before" "$work/metrics.on.after" | grep jvm_gc || true
  echo "== during paired round $r, usage off:"
  metrics_delta "$work/metrics.off.before" "$work/metrics.off.after" | grep jvm_gc || true
  echo "   CPU seconds used (usage-on server, usage-off server, PostgreSQL): $v_cpu"
  parse_fixed "$(grep -F "target=$on_base/" "$out")"
  on_rps=$f_rps; on_p99=$f_p99; report_fixed "usage-on.$r (paired)"
  parse_fixed "$(grep -F "target=$off_base/" "$out")"
  off_rps=$f_rps; off_p99=$f_p99; report_fixed "usage-off.$r (paired)"
}

# run_plain LABEL URL SCRIPT [NAME=VALUE...]: wrk with SCRIPT on URL, after a 3 s warm-up, with
# --threads, --connections and --duration; sets v_rps and v_p99 (wrk's string).
run_plain() {
  local label="$1" url="$2" script="$3" out; shift 3
  out="$work/wrk-${label//[^a-z0-9-]/_}.txt"
  env "$@" timeout 60 wrk -t "$threads" -c "$connections" -s "$script" -d 3s "$url" >/dev/null
  echo "== measuring ($label): wrk -t $threads -c $connections -d $duration --latency $url" >&2
  env "$@" timeout 3600 wrk -t "$threads" -c "$connections" -s "$script" -d "$duration" --latency \
    "$url" | tee "$out"
  v_rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  v_p99=$(awk '$1 == "99%" {print $2}' "$out")
  local p50 p999 errors
  p50=$(awk '$1 == "50%" {print $2}' "$out")
  p999=$(awk '/^Latency p99.9:/ {print $3}' "$out")
  errors=$(grep -E 'Non-2xx|Socket errors' "$out" || true)
  echo "== RESULT ($label) keys=$keys threads=$threads connections=$connections duration=$duration:" \
    "${v_rps} req/s, p50 ${p50}, p99 ${v_p99}, p99.9 ${p999}${errors:+; $errors}"
  # Fast refusals are not throughput: a run with any is reported as such.
  [ -z "$errors" ] || echo "== WARNING ($label): not every answer was a 2xx ($errors): its figures are not an allowed request's"
  add_summary "$label" "$v_rps" "$(to_ms "$p50")" "$(to_ms "$v_p99")" "$(to_ms "$p999")" ""
}

bad_ratios=""; unk_ratios=""; bad_norm=""; unk_norm=""; for_ratios=""; for_norm=""
quotient() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
if [ -n "$mixes" ]; then
  # --repeat R rounds of clean, malformed, unknown (--mix-kinds: those chosen) on this server:
  # each mixed run is compared with the clean run just before it, and the median of the rounds is
  # the figure. With --with-ceiling also each run's verify/ceiling ratio against the clean run's,
  # which takes out some of the machine's drift (each ceiling runs right after its verify run).
  for r in $(seq 1 "$repeat"); do
    sfx=""; [ "$repeat" = 1 ] || sfx=".$r"
    run_verify "clean$sfx" 0 0 "$threads" "$connections"; clean_rps=$v_rps; clean_vr=${v_ratio:-}
    round=""
    if [ -n "$mix_bad" ]; then
      run_verify "malformed-$mix_malformed%$sfx" "$mix_malformed" 0 "$threads" "$connections"
      bad_ratios+=" $(quotient "$v_rps" "$clean_rps")"
      round+=", $mix_malformed% malformed ${bad_ratios##* }x"
      if [ -n "$with_ceiling" ]; then
        bad_norm+=" $(quotient "$v_ratio" "$clean_vr")"; round+=" (${bad_norm##* }x against the ceilings)"
      fi
    fi
    if [ -n "$mix_unk" ]; then
      run_verify "unknown-$mix_unknown%$sfx" 0 "$mix_unknown" "$threads" "$connections"
      unk_ratios+=" $(quotient "$v_rps" "$clean_rps")"
      round+=", $mix_unknown% unknown ${unk_ratios##* }x"
      if [ -n "$with_ceiling" ]; then
        unk_norm+=" $(quotient "$v_ratio" "$clean_vr")"; round+=" (${unk_norm##* }x against the ceilings)"
      fi
    fi
    if [ -n "$mix_for" ]; then
      [ "$r" != 1 ] || set_foreign_filter on
      run_verify "foreign-$mix_foreign%$sfx" 0 0 "$threads" "$connections" "$mix_foreign"
      for_ratios+=" $(quotient "$v_rps" "$clean_rps")"
      round+=", $mix_foreign% foreign (filter on) ${for_ratios##* }x"
      if [ -n "$with_ceiling" ]; then
        for_norm+=" $(quotient "$v_ratio" "$clean_vr")"; round+=" (${for_norm##* }x against the ceilings)"
      fi
    fi
    [ "$repeat" = 1 ] || echo "== RATIO mixes round $r of $repeat vs its clean run:${round#,}"
  done
  if [ -n "$mix_for" ]; then
    # Last, for contrast (it fills L1 with "not found" entries that evict valid keys, which would
    # weigh on any run after it): the same mix with the filter off, each string a store lookup.
    set_foreign_filter off
    run_verify "foreign-$mix_foreign%-filter-off" 0 0 "$threads" "$connections" "$mix_foreign"
    echo "== RATIO $mix_foreign% foreign with the filter off vs the last clean run: $(quotient "$v_rps" "$clean_rps")x"
  fi
elif [ -n "$usage_compare" ]; then
  # Usage counting (on by default) against a second server with --no-usage on the same database,
  # warmed the same way; rounds of (on, off), each off run against the on run just before it.
  off_port=$(free_port $((port + 1)))
  mkdir -p "$work/data-off"; cp "$work/data/root.key" "$work/data-off/root.key"
  echo "== usage off: a second server on port $off_port, --no-usage, same database" >&2
  start_server "$off_port" "$db" "$work/data-off" "$work/server-off.log" "${server_opts[@]}" \
    "${redis_opts[@]}" --no-usage
  usage_pid=$started_pid
  on_base=$base; off_base="http://127.0.0.1:$off_port"
  wrk_until_done "$work/walk-off" "$off_base/v1/keys/verify" "$lua_dir/warm-walk.lua" "$wt" "$wc_" \
    $(( 600 + keys / 100 )) KW_IDS="$work/ids.txt" KW_COUNT="$keys"
  timeout 600 wrk -t "$threads" -c "$connections" -s "$lua" -d "$warmup" "$off_base/v1/keys/verify" >/dev/null
  on_ratios=""; p99_ratios=""; cpu_ratios=""; pg_seconds=""
  for r in $(seq 1 "$repeat"); do
    if [ -n "$paired" ]; then
      run_paired "$r"
      on_ratios+=" $(quotient "$on_rps" "$off_rps")"
      p99_ratios+=" $(awk -v a="$on_p99" -v b="$off_p99" 'BEGIN { printf "%.3f", a / b }')"
      read -r c_on c_off c_pg <<<"$v_cpu"
      cpu_ratios+=" $(awk -v a="$c_on" -v b="$c_off" 'BEGIN { printf "%.3f", a / b }')"
      pg_seconds+=" $c_pg"
      echo "== RATIO usage paired round $r at $rate req/s each: p99 on/off ${p99_ratios##* }x" \
        "(rate sent on/off ${on_ratios##* }x; CPU on/off ${cpu_ratios##* }x, PostgreSQL $c_pg s)"
      continue
    fi
    if [ -n "$rate" ]; then
      base=$on_base; run_fixed_rate "usage-on.$r"; on_rps=$v_rps; on_p99=$v_p99
      read -r c_on _ c_pg_on <<<"$v_cpu"
      base=$off_base; run_fixed_rate "usage-off.$r"
      read -r _ c_off c_pg_off <<<"$v_cpu"
      on_ratios+=" $(quotient "$on_rps" "$v_rps")"
      p99_ratios+=" $(awk -v a="$on_p99" -v b="$v_p99" 'BEGIN { printf "%.3f", a / b }')"
      cpu_ratios+=" $(awk -v a="$c_on" -v b="$c_off" 'BEGIN { printf "%.3f", a / b }')"
      pg_seconds+=" $c_pg_on/$c_pg_off"
      echo "== RATIO usage round $r at $rate req/s: p99 on/off ${p99_ratios##* }x (rate sent on/off ${on_ratios##* }x;" \
        "server CPU on/off ${cpu_ratios##* }x; PostgreSQL ${c_pg_on} s in the on run, ${c_pg_off} s in the off run)"
      continue
    fi
    base=$on_base; run_verify "usage-on.$r" 0 0 "$threads" "$connections"
    on_rps=$v_rps; on_p99=$(to_ms "$v_p99")
    base=$off_base; run_verify "usage-off.$r" 0 0 "$threads" "$connections"
    on_ratios+=" $(quotient "$on_rps" "$v_rps")"
    p99_ratios+=" $(awk -v a="$on_p99" -v b="$(to_ms "$v_p99")" 'BEGIN { printf "%.3f", a / b }')"
    echo "== RATIO usage round $r: on/off throughput ${on_ratios##* }x, p99 ${p99_ratios##* }x"
  done
  base=$on_base
  if [ -n "$rate" ]; then
    echo "== RATIO usage on vs off at a fixed $rate req/s${paired:+, paired}, median of $repeat rounds: p99" \
      "$(echo "$p99_ratios" | median)x (rounds:$p99_ratios); rate sent$on_ratios;" \
      "server CPU on/off $(echo "$cpu_ratios" | median)x (rounds:$cpu_ratios); PostgreSQL seconds per round:$pg_seconds"
  else
    echo "== RATIO usage on vs off, median of $repeat rounds: throughput $(echo "$on_ratios" | median)x" \
      "(rounds:$on_ratios), p99 $(echo "$p99_ratios" | median)x (rounds:$p99_ratios)"
  fi
  server_log_problems "$work/server-off.log" "usage-off server"
elif [ -n "$forward_auth" ]; then
  # Forward-auth (issue 12) beside verify on the same server: the same keys, the same caller
  # check (the root key as the gateway's key); then through nginx (examples/nginx/run.sh, any
  # valid key, nginx's own example upstream), then that upstream through nginx without Keyward.
  run_verify verify 0 0 "$threads" "$connections"; verify_rps=$v_rps; verify_p99=$(to_ms "$v_p99")
  run_plain forward-auth "$base/v1/forward-auth" "$lua_dir/forward-auth.lua" KW_GATEWAY="$root_key"
  echo "== RATIO forward-auth vs verify, same server: throughput $(quotient "$v_rps" "$verify_rps")x," \
    "p99 $(to_ms "$v_p99") ms vs $verify_p99 ms"
  if { command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } && command -v envsubst >/dev/null; then
    nginx_port=$(free_port $((port + 20))); upstream_port=$(free_port $((port + 30)))
    LISTEN_ADDR="127.0.0.1:$nginx_port" KEYWARD_ADDR="127.0.0.1:$port" \
      EXAMPLE_UPSTREAM_ADDR="127.0.0.1:$upstream_port" KEYWARD_GATEWAY_KEY="$root_key" \
      KEYWARD_SCOPES="" examples/nginx/run.sh >"$work/nginx.log" 2>&1 &
    nginx_pid=$!
    for _ in $(seq 1 100); do in_use "$nginx_port" && in_use "$upstream_port" && break; sleep 0.1; done
    in_use "$nginx_port" || { echo "http-load: nginx did not start:" >&2; cat "$work/nginx.log" >&2; exit 1; }
    run_plain through-nginx "http://127.0.0.1:$nginx_port/api/orders" "$lua_dir/forward-auth.lua"
    nginx_rps=$v_rps; nginx_p99=$(to_ms "$v_p99")
    run_plain nginx-alone "http://127.0.0.1:$upstream_port/" "$lua_dir/forward-auth.lua"
    echo "== RATIO through nginx with Keyward vs nginx alone: throughput $(quotient "$nginx_rps" "$v_rps")x," \
      "p99 $nginx_p99 ms vs $(to_ms "$v_p99") ms; vs forward-auth straight: see the summary"
  else
    echo "== nginx (or envsubst) is not installed: no run through nginx (apt-get install -y nginx gettext-base)"
  fi
elif [ -n "$shadow_sweep" ]; then
  # The switch cache.l2 on the l2 scenario (L1 holds 100 keys: nearly every verification is an
  # L1 miss, the path the switch is on): off (the store answers), shadow sampling 1%, 10% and
  # 100% (the store answers; a sample also reads Redis on the shadow executor), canary 50%, on.
  # Each against the off run, on the same server.
  set_l2() {          # STAGE EXTRA-JSON
    curl -fsS -X PUT -H "Authorization: Bearer $root_key" -H "Content-Type: application/json" \
      -d "{\"stage\": \"$1\"$2, \"reason\": \"bench/http-load.sh --shadow-sweep\"}" \
      "$base/v1/switches/cache.l2" >/dev/null || { echo "http-load: could not set cache.l2 to $1" >&2; exit 1; }
  }
  set_l2 off ""
  run_verify "cache.l2-off" 0 0 "$threads" "$connections"; off_rps=$v_rps; off_p99=$(to_ms "$v_p99")
  line=""
  for stage in "shadow 1% sampled|shadow|, \"sampleBasisPoints\": 100" \
      "shadow 10% sampled|shadow|, \"sampleBasisPoints\": 1000" \
      "shadow 100% sampled|shadow|, \"sampleBasisPoints\": 10000" \
      "canary 50%|canary|, \"canaryBasisPoints\": 5000, \"sampleBasisPoints\": 0" "on|on|"; do
    IFS='|' read -r label st extra <<<"$stage"
    set_l2 "$st" "$extra"
    run_verify "cache.l2-${label// /-}" 0 0 "$threads" "$connections"
    line+=", $label $(quotient "$v_rps" "$off_rps")x (p99 $(to_ms "$v_p99") ms)"
  done
  echo "== RATIO cache.l2 vs off ($off_rps req/s, p99 $off_p99 ms), same server:${line#,}"
else
  run_verify main "$malformed_share" "$unknown_share" "$threads" "$connections"
fi
if [ -n "$sweep" ]; then
  for c in 1 16 64 256; do
    run_verify "c=$c" 0 0 $(( threads < c ? threads : c )) "$c"
  done
fi

echo
server_log_problems "$work/server.log" "measured server"
if [ "${#summary[@]}" -gt 1 ] || [ -n "$with_ceiling" ]; then
  echo
  echo "== SUMMARY scenario=$scenario keys=$keys duration=$duration ($(nproc) cores shared by wrk and the server; ms)"
  printf '   %-26s %10s %9s %9s %9s %s\n' run "req/s" p50 p99 p99.9 \
    "${with_ceiling:+$(printf '%10s %7s' 'ceiling' 'ratio')}"
  printf '%s\n' "${summary[@]}"
  if [ -n "$mixes" ]; then
    # RATIO lines: each kind's ratio to clean (the median over the rounds with --repeat), and
    # with --with-ceiling the same of the runs' verify/ceiling ratios.
    mix_ratio() {     # KIND SHARE RATIOS
      [ -n "$3" ] || return 0
      if [ "$repeat" = 1 ]; then printf ', %s%% %s %sx' "$2" "$1" "${3# }"
      else printf ', %s%% %s %sx (rounds:%s)' "$2" "$1" "$(echo "$3" | median)" "$3"; fi
    }
    of=""; [ "$repeat" = 1 ] || of=", median of $repeat rounds"
    line="$(mix_ratio malformed "$mix_malformed" "$bad_ratios")$(mix_ratio unknown "$mix_unknown" "$unk_ratios")$(mix_ratio "foreign (filter on)" "$mix_foreign" "$for_ratios")"
    echo "== RATIO mixes vs clean$of:${line#,}"
    if [ -n "$with_ceiling" ]; then
      line="$(mix_ratio malformed "$mix_malformed" "$bad_norm")$(mix_ratio unknown "$mix_unknown" "$unk_norm")$(mix_ratio "foreign (filter on)" "$mix_foreign" "$for_norm")"
      echo "== RATIO mixes vs clean, each run against its ceiling$of:${line#,}"
    fi
  fi
fi
