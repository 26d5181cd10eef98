#!/usr/bin/env bash
# Keyward's verify (bench/http-load.sh) and then Keycloak's token introspection (bench/keycloak.sh),
# back to back with the same wrk settings, and the ratios. See bench/README.md. Usage:
#   bench/compare.sh [http-load.sh options] [--keycloak-version V] [--keycloak-warmup D]
# (also reached as: bench/http-load.sh --keycloak [options])
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

threads=2
connections=32
duration=20s
keyward_args=()
keycloak_args=()
usage() { sed -n '2,5p' "$root/bench/compare.sh" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --keycloak) shift ;;
    --keycloak-version) keycloak_args+=(--version "$2"); shift 2 ;;
    --keycloak-warmup) keycloak_args+=(--warmup "$2"); shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --l2) keyward_args+=("$1"); shift ;;
    --*) [ $# -ge 2 ] || { echo "compare: $1 needs a value" >&2; exit 2; }
         keyward_args+=("$1" "$2"); shift 2 ;;
    *) echo "compare: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
wrk_args=(--threads "$threads" --connections "$connections" --duration "$duration")

log="$(mktemp -d /tmp/kw-compare.XXXXXX)"
trap 'rm -rf "$log"' EXIT

echo "==== Keyward: bench/http-load.sh ${keyward_args[*]} ${wrk_args[*]}" >&2
bench/http-load.sh "${keyward_args[@]}" "${wrk_args[@]}" | tee "$log/keyward.txt"
echo "==== Keycloak: bench/keycloak.sh ${keycloak_args[*]} ${wrk_args[*]}" >&2
bench/keycloak.sh "${keycloak_args[@]}" "${wrk_args[@]}" | tee "$log/keycloak.txt"

# wrk's Requests/sec and latency percentiles (us, ms or s) → req/s and milliseconds.
field() { awk -v k="$2" '
  function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v + 0 }
  k == "rps" && /^Requests\/sec:/ { print $2 }
  k != "rps" && $1 == k { print ms($2) }' "$1"; }
kw_rps=$(field "$log/keyward.txt" rps);  kc_rps=$(field "$log/keycloak.txt" rps)
kw_p50=$(field "$log/keyward.txt" 50%);  kc_p50=$(field "$log/keycloak.txt" 50%)
kw_p99=$(field "$log/keyward.txt" 99%);  kc_p99=$(field "$log/keycloak.txt" 99%)
kc_version=$(sed -n 's/^== RESULT keycloak=\([^ ]*\) .*/\1/p' "$log/keycloak.txt")

echo
echo "== Comparison (wrk -t $threads -c $connections -d $duration --latency, same machine, back to back; $(nproc) cores shared by wrk and the server)"
awk -v kw_rps="$kw_rps" -v kc_rps="$kc_rps" -v kw_p50="$kw_p50" -v kc_p50="$kc_p50" \
    -v kw_p99="$kw_p99" -v kc_p99="$kc_p99" -v kcv="$kc_version" 'BEGIN {
  printf "   %-44s %12s %10s %10s\n", "", "req/s", "p50 ms", "p99 ms"
  printf "   %-44s %12.0f %10.2f %10.2f\n", "Keyward POST /v1/keys/verify", kw_rps, kw_p50, kw_p99
  printf "   %-44s %12.0f %10.2f %10.2f\n", "Keycloak " kcv " token introspection", kc_rps, kc_p50, kc_p99
  printf "== RATIO throughput Keyward/Keycloak %.1fx; p99 Keycloak/Keyward %.1fx (p50 %.1fx)\n",
    kw_rps / kc_rps, kc_p99 / kw_p99, kc_p50 / kw_p50 }'
