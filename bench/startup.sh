#!/usr/bin/env bash
# Time from process start to GET /health/ready answering 200, for Keyward with an external
# PostgreSQL (a scratch database) and with the embedded one, each a first start and a restart,
# started with ./keyward as users do, with its class-data sharing archive (cds) and without it
# (plain, KEYWARD_CDS=off). See bench/README.md. Usage:
#   bench/startup.sh [--repetitions N] [--port P]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

repetitions=3
port=18680
pg_host=127.0.0.1
pg_port=5432
pg_user=postgres
pg_admin_db=test

usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --repetitions) repetitions="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "startup: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$repetitions" =~ ^[1-9][0-9]*$ ]] || { echo "startup: --repetitions must be a positive number" >&2; exit 2; }
for tool in curl psql; do
  command -v "$tool" >/dev/null || { echo "startup: needs $tool" >&2; exit 1; }
done

# Build first (./keyward builds when sources are newer than the jar), so no build is timed.
echo "== building if needed" >&2
./keyward --help >/dev/null
source bin/find-jdk.sh

suffix="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
work="$(mktemp -d /tmp/kw-startup.XXXXXX)"
server_pid=""
dbs=()

stop_server() {       # TERM, KILL after 30 s (the embedded PostgreSQL stops with the server)
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_server
  for d in "${dbs[@]}"; do
    timeout 30 psql -q -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$pg_admin_db" \
      -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 \
      || echo "startup: could not drop database $d" >&2
  done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 1 20); do in_use "$port" || break; port=$((port + 1)); done
in_use "$port" && { echo "startup: no free port near $port" >&2; exit 1; }
ready_url="http://127.0.0.1:$port/health/ready"

# time_start LOG [serve options...]: starts ./keyward serve (it execs java: $! is the JVM) with
# KEYWARD_CDS=$cds, polls /health/ready every 10 ms (each poll is a curl, a few ms itself), sets
# elapsed to the milliseconds from just before the start to the first 200, and stops the server.
cds=on
time_start() {
  local log="$1"; shift
  local t0 t1
  t0=$(date +%s%N)
  KEYWARD_CDS=$cds ./keyward serve --host 127.0.0.1 --port "$port" "$@" >"$log" 2>&1 &
  server_pid=$!
  while :; do
    if curl -fs -o /dev/null --max-time 2 "$ready_url"; then t1=$(date +%s%N); break; fi
    if ! kill -0 "$server_pid" 2>/dev/null || [ $(( $(date +%s%N) - t0 )) -gt 120000000000 ]; then
      echo "startup: server did not become ready; its log:" >&2; tail -n 40 "$log" >&2; exit 1
    fi
    sleep 0.01
  done
  stop_server
  elapsed=$(( (t1 - t0) / 1000000 ))
}

declare -A times
record() { times[$1]="${times[$1]:-} $elapsed"; echo "   $1 #$2: $elapsed ms" >&2; }

new_db() {             # a fresh scratch database; sets url
  local db="kwstart_${suffix}_$1"
  psql -q -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$pg_admin_db" -c "CREATE DATABASE $db" >/dev/null
  dbs+=("$db")
  url="jdbc:postgresql://$pg_host:$pg_port/$db?user=$pg_user"
}

# (0) The first start after a build has no class-data archive yet: it runs without one and
# writes it when it stops. Timed once, on its own.
rm -f keyward-cli/target/cds/serve.jsa
new_db archive
time_start "$work/archive.log" --data-dir "$work/archive" --db-url "$url"; record first-after-build 1
[ -s keyward-cli/target/cds/serve.jsa ] || echo "startup: no class-data archive was written" >&2

cases=()
for cds in on off; do
  mode=$([ "$cds" = on ] && echo cds || echo plain)
  cases+=("external-first-$mode" "external-restart-$mode" "embedded-first-$mode" "embedded-restart-$mode")
  for r in $(seq 1 "$repetitions"); do
    # (a) External PostgreSQL: a fresh scratch database (first start runs the migrations and
    # creates the root key), then a restart on the same database and data directory.
    new_db "${mode}_$r"
    time_start "$work/ext-$mode-$r-1.log" --data-dir "$work/ext-$mode-$r" --db-url "$url"
    record "external-first-$mode" "$r"
    time_start "$work/ext-$mode-$r-2.log" --data-dir "$work/ext-$mode-$r" --db-url "$url"
    record "external-restart-$mode" "$r"
    # (b) Embedded PostgreSQL: a fresh data directory (initdb, migrations, root key), then a
    # restart on it. zonky's PostgreSQL binaries stay unpacked under java.io.tmpdir between runs.
    time_start "$work/emb-$mode-$r-1.log" --data-dir "$work/emb-$mode-$r"; record "embedded-first-$mode" "$r"
    time_start "$work/emb-$mode-$r-2.log" --data-dir "$work/emb-$mode-$r"; record "embedded-restart-$mode" "$r"
  done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END {
  if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "== start to /health/ready 200, ms ($repetitions repetitions; $(nproc) cores;" \
  "$("$JAVA_HOME/bin/java" -version 2>&1 | head -n 1))"
printf '   %-24s %8s   %s\n' case median runs
for k in first-after-build "${cases[@]}"; do
  printf '   %-24s %8s  %s\n' "$k" "$(echo "${times[$k]}" | median)" "${times[$k]}"
done
m() { echo "${times[$1]}" | median; }
echo "== RESULT startup median ms (with the class-data archive; without it in brackets):" \
  "external first $(m external-first-cds) ($(m external-first-plain))," \
  "restart $(m external-restart-cds) ($(m external-restart-plain));" \
  "embedded first $(m embedded-first-cds) ($(m embedded-first-plain))," \
  "restart $(m embedded-restart-cds) ($(m embedded-restart-plain));" \
  "first start after a build $(m first-after-build)"
