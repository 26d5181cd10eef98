#!/usr/bin/env bash
# Runs `keyward db lint` and squawk side by side on the corpus beside this script and prints a
# markdown table: for each case, the rules each tool reported (keyward's both halves, and its static
# half alone; squawk with
# --assume-in-transaction, as Flyway runs files; keyward with no runner lock_timeout, as Flyway
# alone sets none). Usage:
#   docs/schema-safety/compare.sh [--scratch-db JDBC_URL] [--rows N]
# squawk comes from the npm registry (squawk-cli), installed into a temporary directory unless
# `squawk` is on the PATH. The scratch database defaults to the machine's PostgreSQL.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
scratch="jdbc:postgresql://127.0.0.1:5432/test?user=postgres"
rows=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --scratch-db) scratch="$2"; shift 2 ;;
    --rows) rows="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
squawk="$(command -v squawk || true)"
if [ -z "$squawk" ]; then
  npm install --silent --prefix "$work/npm" squawk-cli >/dev/null 2>&1
  squawk="$work/npm/node_modules/.bin/squawk"
fi
echo "squawk: $("$squawk" --version)" >&2
summary='import json,sys; d=json.load(sys.stdin); print(", ".join(sorted({f["rule"] + ("" if f["severity"]=="error" else " (w)") for f in d["findings"]})) or "—")'
echo "| case | keyward db lint | keyward db lint --static-only | squawk |"
echo "|---|---|---|---|"
for case_dir in "$here"/corpus/*/; do
  name="$(basename "$case_dir")"
  migrations="$work/$name"
  mkdir -p "$migrations"
  cp "$here/corpus/V1__baseline.sql" "$migrations/"
  cp "$case_dir"/V2__*.sql "$migrations/"
  ours="$( (KEYWARD_SKIP_BUILD="${KEYWARD_SKIP_BUILD:-}" "$root/keyward" db lint --from 2 --rows "$rows" \
      --runner-lock-timeout-ms 0 --format json --scratch-db "$scratch" "$migrations" || true) \
    | python3 -c "$summary")"
  static="$( (KEYWARD_SKIP_BUILD="${KEYWARD_SKIP_BUILD:-}" "$root/keyward" db lint --from 2 --static-only \
      --runner-lock-timeout-ms 0 --format json --scratch-db "$scratch" "$migrations" || true) \
    | python3 -c "$summary")"
  theirs="$( ("$squawk" --assume-in-transaction --reporter json "$case_dir"/V2__*.sql || true) \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print(", ".join(sorted({v["rule_name"] for v in d})) or "—")')"
  echo "| $name | $ours | $static | $theirs |"
done
