#!/usr/bin/env bash
# Keycloak's token introspection under wrk, the same settings as bench/http-load.sh, for a side by
# side comparison (bench/compare.sh runs both). See bench/README.md. Usage:
#   bench/keycloak.sh [--version V] [--threads T] [--connections C] [--duration D]
#                     [--warmup D] [--port P]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

version=""           # default: <release> of Maven Central's maven-metadata.xml
threads=2
connections=32
duration=20s
warmup=30s           # wrk at the introspection endpoint before measuring (JIT, caches)
port=18580
central=https://repo.maven.apache.org/maven2/org/keycloak/keycloak-quarkus-dist
cache="$root/bench/.cache"
realm=kwbench
client=kwbench-introspect

usage() { sed -n '2,5p' "$root/bench/keycloak.sh" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "keycloak: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

for tool in curl jq tar sha1sum; do
  command -v "$tool" >/dev/null || { echo "keycloak: needs $tool" >&2; exit 1; }
done
# Keycloak 26 needs a JDK 17+; Keyward's JDK (21+) will do. kc.sh runs $JAVA_HOME/bin/java.
# shellcheck source=../bin/find-jdk.sh
source "$root/bin/find-jdk.sh"
export PATH="$JAVA_HOME/bin:$PATH"
if ! command -v wrk >/dev/null; then
  echo "== installing wrk" >&2
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

# (1) The distribution, cached under bench/.cache/ (tarball checked against Central's .sha1).
if [ -z "$version" ]; then
  version="$(curl -fsS --max-time 30 "$central/maven-metadata.xml" | sed -n 's:.*<release>\(.*\)</release>.*:\1:p')"
  [ -n "$version" ] || { echo "keycloak: no <release> in $central/maven-metadata.xml" >&2; exit 1; }
fi
major="${version%%.*}"
[[ "$major" =~ ^[0-9]+$ ]] && [ "$major" -ge 26 ] \
  || { echo "keycloak: needs Keycloak 26 or newer (KC_BOOTSTRAP_ADMIN_*), got '$version'" >&2; exit 2; }
mkdir -p "$cache"
tarball="$cache/keycloak-quarkus-dist-$version.tar.gz"
dist="$cache/keycloak-$version"
if [ ! -s "$tarball" ]; then
  echo "== downloading keycloak-quarkus-dist $version from Maven Central" >&2
  url="$central/$version/keycloak-quarkus-dist-$version.tar.gz"
  curl -fsS --max-time 900 -o "$tarball.part" "$url"
  want="$(curl -fsS --max-time 30 "$url.sha1" | awk '{print $1}')"
  got="$(sha1sum "$tarball.part" | awk '{print $1}')"
  [ "$want" = "$got" ] || { rm -f "$tarball.part"; echo "keycloak: sha1 mismatch for $url" >&2; exit 1; }
  mv "$tarball.part" "$tarball"
fi
if [ ! -x "$dist/bin/kc.sh" ]; then
  rm -rf "$dist" "$dist.part" && mkdir -p "$dist.part"
  tar xzf "$tarball" -C "$dist.part" --strip-components 1
  mv "$dist.part" "$dist"
fi

work="$(mktemp -d /tmp/kw-keycloak.XXXXXX)"
kc_pid=""            # kc.sh: it runs java as its child and forwards TERM (or execs java)
java_pid=""          # the JVM serving requests
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$kc_pid" ] && kill -0 "$kc_pid" 2>/dev/null; then
    kill -TERM "$kc_pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$kc_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$kc_pid" 2>/dev/null || true
    wait "$kc_pid" 2>/dev/null || true
  fi
  if [ -n "$java_pid" ] && kill -0 "$java_pid" 2>/dev/null; then
    kill -TERM "$java_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$java_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$java_pid" 2>/dev/null || true
  fi
  rm -rf "$dist/data"   # the dev database (H2 file) and Keycloak's temp files of this run
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# (2) Keycloak on loopback: dev mode (H2 file database under $dist/data, local caches), a bootstrap
# admin from the environment, health on the management interface, also on loopback.
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 1 20); do in_use "$port" || in_use "$((port + 1))" || break; port=$((port + 2)); done
if in_use "$port" || in_use "$((port + 1))"; then echo "keycloak: no free ports near $port" >&2; exit 1; fi
mgmt_port=$((port + 1))
base="http://127.0.0.1:$port"
admin_user=admin
admin_password="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
client_secret="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
rm -rf "$dist/data"

echo "== Keycloak $version on $base (management $mgmt_port), JDK $JAVA_HOME" >&2
started=$(date +%s%N)
KC_BOOTSTRAP_ADMIN_USERNAME="$admin_user" KC_BOOTSTRAP_ADMIN_PASSWORD="$admin_password" \
  "$dist/bin/kc.sh" start-dev --http-host 127.0.0.1 --http-port "$port" --hostname-strict false \
    --health-enabled true --http-management-host 127.0.0.1 --http-management-port "$mgmt_port" \
    >"$work/keycloak.log" 2>&1 &
kc_pid=$!
for i in $(seq 1 1800); do   # up to 180 s: the first start in a fresh dist also runs Quarkus' build
  curl -fs -o /dev/null "http://127.0.0.1:$mgmt_port/health/ready" && break
  if ! kill -0 "$kc_pid" 2>/dev/null || [ "$i" = 1800 ]; then
    echo "keycloak: server did not become ready; its log:" >&2; tail -n 40 "$work/keycloak.log" >&2; exit 1
  fi
  sleep 0.1
done
ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))
# The JVM is kc.sh's child, or kc.sh itself when it exec'd java after a re-augmentation.
java_pid="$(pgrep -P "$kc_pid" -x java | head -n 1 || true)"
[ -n "$java_pid" ] || java_pid="$kc_pid"
rss_kb() { awk -v f="$1" '$1 == f":" {print $2}' "/proc/$java_pid/status" 2>/dev/null || echo 0; }
rss_ready=$(rss_kb VmRSS)
augmented=$(grep -o 'Quarkus augmentation completed in [0-9]*ms' "$work/keycloak.log" || true)
echo "   ready in $((ready_ms / 1000)).$(( (ready_ms % 1000) / 100 )) s${augmented:+ ($augmented)}, RSS $((rss_ready / 1024)) MiB" >&2

# (3) Admin REST API: a realm (1 h access tokens, so the token outlives any run), a confidential
# client with a service account and an audience mapper (aud = the client itself, which is what
# lets introspection by that same client answer active: true).
admin_token="$(curl -fsS --max-time 30 "$base/realms/master/protocol/openid-connect/token" \
  -d grant_type=password -d client_id=admin-cli \
  --data-urlencode "username=$admin_user" --data-urlencode "password=$admin_password" | jq -r .access_token)"
admin() {
  local method="$1" path="$2" body="$3" code
  code=$(curl -sS --max-time 30 -o "$work/admin.out" -w '%{http_code}' -X "$method" \
    -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    "$base/admin$path" -d "$body")
  [[ "$code" == 2* ]] || { echo "keycloak: $method $path answered $code: $(cat "$work/admin.out")" >&2; exit 1; }
}
admin POST /realms "$(jq -n --arg realm "$realm" \
  '{realm: $realm, enabled: true, accessTokenLifespan: 3600}')"
admin POST "/realms/$realm/clients" "$(jq -n --arg id "$client" --arg secret "$client_secret" '{
  clientId: $id, enabled: true, protocol: "openid-connect", publicClient: false,
  clientAuthenticatorType: "client-secret", secret: $secret, serviceAccountsEnabled: true,
  standardFlowEnabled: false, directAccessGrantsEnabled: false,
  protocolMappers: [{name: "audience-self", protocol: "openid-connect",
    protocolMapper: "oidc-audience-mapper",
    config: {"included.client.audience": $id, "access.token.claim": "true",
             "introspection.token.claim": "true", "id.token.claim": "false"}}]}')"

token_url="$base/realms/$realm/protocol/openid-connect/token"
introspect_url="$token_url/introspect"
access_token="$(curl -fsS --max-time 30 -u "$client:$client_secret" "$token_url" \
  -d grant_type=client_credentials | jq -r .access_token)"
[ -n "$access_token" ] && [ "$access_token" != null ] || { echo "keycloak: no access token" >&2; exit 1; }
check_active() {
  local answer
  answer="$(curl -fsS --max-time 30 -u "$client:$client_secret" "$introspect_url" \
    --data-urlencode "token=$access_token")"
  [ "$(jq -r .active <<<"$answer")" = true ] \
    || { echo "keycloak: introspection $1 does not answer active: true: $answer" >&2; exit 1; }
}
check_active "before the run"
echo "   realm $realm, client $client (service account, audience mapper): introspection answers active: true" >&2

# (4) wrk: every request introspects the same access token, authenticated as the client.
lua="$work/introspect.lua"
cat >"$lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("KC_BASIC")
wrk.body = "token=" .. os.getenv("KC_TOKEN")   -- a JWT: base64url and dots, nothing to encode
LUA
export KC_TOKEN="$access_token"
KC_BASIC="$(printf '%s:%s' "$client" "$client_secret" | base64 -w0)"
export KC_BASIC
wrk_cmd=(wrk -t "$threads" -c "$connections" -s "$lua")

echo "== warm-up: $warmup of wrk" >&2
timeout 600 "${wrk_cmd[@]}" -d "$warmup" "$introspect_url" >/dev/null
echo "== measuring: wrk -t $threads -c $connections -d $duration --latency (POST .../token/introspect)" >&2
timeout 3600 "${wrk_cmd[@]}" -d "$duration" --latency "$introspect_url" | tee "$work/wrk.txt"
rss_after=$(rss_kb VmRSS)
rss_peak=$(rss_kb VmHWM)
# An expired or rejected token would still be a 200 (active: false): check the answer again.
check_active "after the run"

rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")
p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
errors=$(grep -E 'Non-2xx|Socket errors' "$work/wrk.txt" || true)
echo
echo "== Keycloak $version: ready in $((ready_ms / 1000)).$(( (ready_ms % 1000) / 100 )) s;" \
  "RSS $((rss_ready / 1024)) MiB when ready, $((rss_after / 1024)) MiB after the run (peak $((rss_peak / 1024)) MiB)"
echo "== RESULT keycloak=$version threads=$threads connections=$connections duration=$duration:" \
  "${rps} req/s, p50 ${p50}, p99 ${p99}${errors:+; $errors}"
