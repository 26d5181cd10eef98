#!/usr/bin/env bash
# Every benchmark behind docs/benchmarks.md, one step after the other, each step's output in a
# log of its own and the figures collected in summary.md. See bench/README.md. Usage:
#   bench/all.sh [--quick] [--keycloak] [--only STEP,...] [--results DIR] [--list]
# --quick: a smoke run of every step (few keys, short runs), to check the harness end to end.
# --keycloak: also the Keycloak comparison (bench/compare.sh; downloads Keycloak once).
# --only: just these steps (names as listed by --list). --list: the steps and their commands.
set -euo pipefail

start_dir="$PWD"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

quick=""
keycloak=""
only=""
results=""
list=""
usage() { sed -n '2,7p' "$root/bench/all.sh" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=yes; shift ;;
    --keycloak) keycloak=yes; shift ;;
    --only) [ $# -ge 2 ] || { echo "all: --only needs a value" >&2; exit 2; }; only="$2"; shift 2 ;;
    --results) [ $# -ge 2 ] || { echo "all: --results needs a value" >&2; exit 2; }; results="$2"; shift 2 ;;
    --list) list=yes; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "all: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

# The steps: name and command (run with bash from the repository root). --quick keeps every step
# but makes it small: the point is to exercise the harness, not to measure.
jar=keyward-benchmarks/target/benchmarks.jar
if [ -n "$quick" ]; then
  jmh_opts=(-wi 1 -w 1s -i 1 -r 1s)
  gc_iterations=1
  http_keys=(--keys 2000)
  http=(--duration 3s --warmup 1s)
  repeat=2
  key_counts=1000,3000
  startup=(--repetitions 1)
  switch_changes=6
  usage_query=(--keys 2000 --runs 5)
  keycloak_opts=(--keys 2000 --duration 3s --warmup 1s --keycloak-warmup 5s)
else
  jmh_opts=()        # the benchmarks' own @Warmup/@Measurement: 5 x 1 s (StoreHit: 3 + 5)
  gc_iterations=5
  http_keys=()       # http-load.sh's default: 100,000 keys, wrk -t 2 -c 32 -d 20s
  http=()
  repeat=3
  key_counts=1000,100000,1000000
  startup=()
  switch_changes=60
  usage_query=()
  keycloak_opts=()
fi
steps=(
  build "./keyward --help >/dev/null && ./mvnw -B -ntp -q -pl keyward-benchmarks -am package -DskipTests"
  jmh-verify-1 "\"\$JAVA_HOME/bin/java\" -jar $jar VerifyBenchmark -f 1 ${jmh_opts[*]}"
  jmh-verify-2 "\"\$JAVA_HOME/bin/java\" -jar $jar VerifyBenchmark -f 1 ${jmh_opts[*]}"
  jmh-verify-gc "\"\$JAVA_HOME/bin/java\" -jar $jar VerifyBenchmark -wi $gc_iterations -w 1s -i $gc_iterations -r 1s -f 1 -prof gc"
  jmh-store "\"\$JAVA_HOME/bin/java\" -jar $jar StoreHitBenchmark -f 1 ${jmh_opts[*]}"
  jmh-redis "\"\$JAVA_HOME/bin/java\" -jar $jar RedisTierBenchmark -f 1 ${jmh_opts[*]}"
  jmh-switch "\"\$JAVA_HOME/bin/java\" -jar $jar SwitchBenchmark -f 1 ${jmh_opts[*]}"
  http-l1 "bench/http-load.sh --scenario l1 --with-ceiling --connections-sweep ${http_keys[*]} ${http[*]}"
  http-l2 "bench/http-load.sh --scenario l2 --with-ceiling ${http_keys[*]} ${http[*]}"
  http-store "bench/http-load.sh --scenario store --with-ceiling ${http_keys[*]} ${http[*]}"
  http-mixes "bench/http-load.sh --mixes --repeat $repeat --with-ceiling ${http_keys[*]} ${http[*]}"
  http-foreign "bench/http-load.sh --mixes --mix-kinds foreign --repeat $repeat ${http_keys[*]} ${http[*]}"
  http-shadow "bench/http-load.sh --scenario l2 --shadow-sweep ${http_keys[*]} ${http[*]}"
  http-usage "bench/http-load.sh --usage-compare --repeat $repeat ${http_keys[*]} ${http[*]}"
  http-usage-rate "bench/http-load.sh --usage-compare --repeat $repeat --rate 10000 --duration 60s ${http_keys[*]}"
  http-usage-paired "bench/http-load.sh --usage-compare --repeat $(( repeat * 3 )) --rate 5000 --paired --duration 60s ${http_keys[*]}"
  key-counts "bench/http-load.sh --key-counts $key_counts --heap-histogram ${http[*]}"
  startup "bench/startup.sh ${startup[*]}"
  switches "bench/switches.sh --changes $switch_changes"
  usage-query "bench/usage-query.sh ${usage_query[*]}"
  usage-kill "bench/usage-kill.sh --rounds $repeat"
  http-forward-auth "bench/http-load.sh --forward-auth ${http_keys[*]} ${http[*]}"
  filter-load "bench/filter-load.sh --repeat $repeat"
  jmh-client "\"\$JAVA_HOME/bin/java\" -jar $jar ClientVerifyBenchmark -f 2 -i 5 -wi 5"
  client-revocation "./mvnw -B -ntp -q -pl keyward-client -am test -Dtest=ClientRevocationTest -Dkeyward.revocations=1000 -Dsurefire.failIfNoSpecifiedTests=false && sed 's/^/== RESULT /' keyward-client/target/client-revocation.txt"
  revocation "rm -f keyward-server/target/revocation-propagation.txt && ./mvnw -B -ntp -q -pl keyward-server -am test -Dtest=RevocationPropagationTest -Dsurefire.failIfNoSpecifiedTests=false && sed 's/^/== RESULT /' keyward-server/target/revocation-propagation.txt"
)
[ -z "$keycloak" ] || steps+=(keycloak "bench/compare.sh ${keycloak_opts[*]}")

names=()
for ((i = 0; i < ${#steps[@]}; i += 2)); do
  names+=("${steps[i]}")
  steps[i + 1]="$(sed 's/  */ /g; s/ *$//' <<<"${steps[i + 1]}")"
done
if [ -n "$list" ]; then
  for ((i = 0; i < ${#steps[@]}; i += 2)); do printf '%-14s %s\n' "${steps[i]}" "${steps[i + 1]}"; done
  exit 0
fi
if [ -n "$only" ]; then
  IFS=, read -ra wanted <<<"$only"
  for w in "${wanted[@]}"; do
    [[ " ${names[*]} " == *" $w "* ]] || { echo "all: no step '$w'; the steps: ${names[*]}" >&2; exit 2; }
  done
fi

for tool in curl psql jq; do
  command -v "$tool" >/dev/null || { echo "all: needs $tool" >&2; exit 1; }
done
# shellcheck source=../bin/find-jdk.sh
source bin/find-jdk.sh

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
results="${results:-$root/bench/results/$stamp${quick:+-quick}}"
[[ "$results" = /* ]] || results="$start_dir/$results"
mkdir -p "$results"
summary="$results/summary.md"
t_start=$(date +%s)

# The figures of a step's log: RESULT, RATIO and SUMMARY lines (with the table under a SUMMARY,
# compare.sh's comparison and startup.sh's table), and JMH's result table.
figures() {
  awk '/^== (SUMMARY|Comparison|start to)/ { block = 1; print; next }
       block && /^   / { print; next }
       { block = 0 }
       /^== (RESULT|RATIO)/ { print }
       /^Benchmark +Mode/ { jmh = 1 }
       jmh && NF { print }' "$1"
}

{
  echo "# bench/all.sh ${quick:+--quick }${keycloak:+--keycloak }${only:+--only $only}"
  echo
  echo "- started: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || echo ' (with uncommitted changes)')"
  echo "- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- JDK: $("$JAVA_HOME/bin/java" -version 2>&1 | head -n 1) ($JAVA_HOME)"
  echo "- wrk: $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2); PostgreSQL: $(psql -h 127.0.0.1 -U postgres -d test -Atc 'SHOW server_version' 2>/dev/null || echo '?'); Redis: $(redis-cli -h 127.0.0.1 info server 2>/dev/null | sed -n 's/^redis_version:\(.*\)\r$/\1/p' || echo '?')"
  echo "- results: $results"
  echo
} >"$summary"

failed=()
n=0
for ((i = 0; i < ${#steps[@]}; i += 2)); do
  name="${steps[i]}" cmd="${steps[i + 1]}"
  if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then continue; fi
  n=$((n + 1))
  log="$results/$(printf '%02d' "$n")-$name.log"
  load="$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "==== [$name] $cmd   (log: $log; load average $load)" >&2
  t0=$(date +%s)
  rc=0
  bash -c "set -euo pipefail; $cmd" >"$log" 2>&1 || rc=$?
  secs=$(( $(date +%s) - t0 ))
  if [ "$rc" = 0 ]; then status="ok"; else status="FAILED (exit $rc)"; failed+=("$name"); fi
  echo "==== [$name] $status in ${secs} s" >&2
  {
    echo "## $name: $status, ${secs} s"
    echo
    echo "\`$cmd\` (load average before: $load; log: $(basename "$log"))"
    echo
    echo '```'
    if [ "$rc" = 0 ]; then figures "$log" | grep . || echo "(no figures: see the log)"; else tail -n 30 "$log"; fi
    echo '```'
    echo
  } >>"$summary"
  if [ "$name" = build ] && [ "$rc" != 0 ]; then
    echo "all: the build failed; nothing else can run. See $log" >&2
    break
  fi
done

total=$(( $(date +%s) - t_start ))
took="$(printf '%dh %02dm %02ds' $((total / 3600)) $((total % 3600 / 60)) $((total % 60)))"
{
  echo "Total: $took. ${#failed[@]} failed step(s)${failed[*]:+: ${failed[*]}}."
} >>"$summary"
echo "==== all: $took; summary: $summary" >&2
if [ "${#failed[@]}" -gt 0 ]; then
  echo "all: FAILED: ${failed[*]} (see their logs in $results)" >&2
  exit 1
fi
