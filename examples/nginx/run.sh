#!/usr/bin/env bash
# nginx in front of a small upstream, asking a running Keyward about every /api/ request.
#
#   ./keyward serve &            # Keyward on 127.0.0.1:8080 (in the repository's root)
#   examples/nginx/run.sh        # nginx on 127.0.0.1:8088; Ctrl-C stops it
#
# It creates the gateway's own key (scope keyward:verify) with ./keyward keys create, unless
# KEYWARD_GATEWAY_KEY is set. Settings (environment): LISTEN_ADDR (127.0.0.1:8088), KEYWARD_ADDR
# (127.0.0.1:8080), UPSTREAM_ADDR (the example's own upstream, EXAMPLE_UPSTREAM_ADDR,
# 127.0.0.1:8089), KEYWARD_GATEWAY_KEY, KEYWARD_SCOPES (what /api/ requires, orders:read). See
# examples/nginx/README.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export LISTEN_ADDR="${LISTEN_ADDR:-127.0.0.1:8088}"
export KEYWARD_ADDR="${KEYWARD_ADDR:-127.0.0.1:8080}"
export EXAMPLE_UPSTREAM_ADDR="${EXAMPLE_UPSTREAM_ADDR:-127.0.0.1:8089}"
export UPSTREAM_ADDR="${UPSTREAM_ADDR:-$EXAMPLE_UPSTREAM_ADDR}"
# The scopes /api/ requires (comma-separated; empty: any valid key).
export KEYWARD_SCOPES="${KEYWARD_SCOPES-orders:read}"
# It goes into the subrequest's URL as it is: scopes and commas only.
[[ "$KEYWARD_SCOPES" =~ ^[A-Za-z0-9:._/,-]*$ ]] \
  || { echo "run.sh: KEYWARD_SCOPES must be scopes separated by commas, got '$KEYWARD_SCOPES'" >&2; exit 2; }

nginx="$(command -v nginx || true)"
[ -n "$nginx" ] || { [ -x /usr/sbin/nginx ] && nginx=/usr/sbin/nginx; } || true
[ -n "$nginx" ] || { echo "run.sh: nginx is not installed (Debian: apt-get install -y nginx)" >&2; exit 2; }
command -v envsubst >/dev/null || { echo "run.sh: envsubst is missing (Debian: apt-get install -y gettext-base)" >&2; exit 2; }

if [ -z "${KEYWARD_GATEWAY_KEY:-}" ]; then
  created="$("$root/keyward" keys create --name nginx-gateway --owner gateway \
    --scope keyward:verify --url "http://$KEYWARD_ADDR")" \
    || { echo "run.sh: could not create the gateway's key; is ./keyward serve running on $KEYWARD_ADDR?" >&2; exit 2; }
  KEYWARD_GATEWAY_KEY="$(printf '%s' "$created" | sed -n 's/.*"key" *: *"\([^"]*\)".*/\1/p' | head -n 1)"
  [ -n "$KEYWARD_GATEWAY_KEY" ] || { echo "run.sh: no key in: $created" >&2; exit 2; }
fi
export KEYWARD_GATEWAY_KEY

export NGINX_PREFIX="$(mktemp -d /tmp/keyward-nginx.XXXXXX)"
trap 'rm -rf "$NGINX_PREFIX"' EXIT
# Only our variables: nginx's own ($host, $upstream_http_...) stay as they are.
envsubst '${NGINX_PREFIX} ${LISTEN_ADDR} ${KEYWARD_ADDR} ${UPSTREAM_ADDR} ${EXAMPLE_UPSTREAM_ADDR} ${KEYWARD_GATEWAY_KEY} ${KEYWARD_SCOPES}' \
  <"$here/nginx.conf.template" >"$NGINX_PREFIX/nginx.conf"
echo "nginx on http://$LISTEN_ADDR/api/ (Keyward at $KEYWARD_ADDR; upstream $UPSTREAM_ADDR)" >&2
"$nginx" -p "$NGINX_PREFIX" -c "$NGINX_PREFIX/nginx.conf" -e stderr &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$NGINX_PREFIX"' EXIT INT TERM
wait $pid
