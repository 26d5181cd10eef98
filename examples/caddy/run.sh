#!/usr/bin/env bash
# Caddy in front of a small upstream, asking a running Keyward about every /api/ request.
#
#   ./keyward serve &            # Keyward on 127.0.0.1:8080 (in the repository's root)
#   examples/caddy/run.sh        # Caddy on 127.0.0.1:8098; Ctrl-C stops it
#
# It creates the gateway's own key (scope keyward:verify) with ./keyward keys create, unless
# KEYWARD_GATEWAY_KEY is set. Settings (environment): LISTEN_ADDR (127.0.0.1:8098), KEYWARD_ADDR
# (127.0.0.1:8080), UPSTREAM_ADDR (the example's own upstream, EXAMPLE_UPSTREAM_ADDR,
# 127.0.0.1:8099), KEYWARD_GATEWAY_KEY. See examples/caddy/README.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export LISTEN_ADDR="${LISTEN_ADDR:-127.0.0.1:8098}"
export KEYWARD_ADDR="${KEYWARD_ADDR:-127.0.0.1:8080}"
export EXAMPLE_UPSTREAM_ADDR="${EXAMPLE_UPSTREAM_ADDR:-127.0.0.1:8099}"
export UPSTREAM_ADDR="${UPSTREAM_ADDR:-$EXAMPLE_UPSTREAM_ADDR}"

# The Caddyfile takes hosts and ports apart (see its site addresses).
export LISTEN_HOST="${LISTEN_ADDR%:*}" LISTEN_PORT="${LISTEN_ADDR##*:}"
export EXAMPLE_UPSTREAM_HOST="${EXAMPLE_UPSTREAM_ADDR%:*}" EXAMPLE_UPSTREAM_PORT="${EXAMPLE_UPSTREAM_ADDR##*:}"

caddy="$(command -v caddy || true)"
[ -n "$caddy" ] || { echo "run.sh: caddy is not installed (Debian: apt-get install -y caddy)" >&2; exit 2; }

if [ -z "${KEYWARD_GATEWAY_KEY:-}" ]; then
  created="$("$root/keyward" keys create --name caddy-gateway --owner gateway \
    --scope keyward:verify --url "http://$KEYWARD_ADDR")" \
    || { echo "run.sh: could not create the gateway's key; is ./keyward serve running on $KEYWARD_ADDR?" >&2; exit 2; }
  KEYWARD_GATEWAY_KEY="$(printf '%s' "$created" | sed -n 's/.*"key" *: *"\([^"]*\)".*/\1/p' | head -n 1)"
  [ -n "$KEYWARD_GATEWAY_KEY" ] || { echo "run.sh: no key in: $created" >&2; exit 2; }
fi
export KEYWARD_GATEWAY_KEY
# Caddy keeps state (certificates, autosave) under XDG_DATA_HOME and XDG_CONFIG_HOME; this
# example needs none of it: a scratch directory.
XDG_DATA_HOME="$(mktemp -d /tmp/keyward-caddy.XXXXXX)"
export XDG_DATA_HOME XDG_CONFIG_HOME="$XDG_DATA_HOME"
trap 'rm -rf "$XDG_DATA_HOME"' EXIT
echo "Caddy on http://$LISTEN_ADDR/api/ (Keyward at $KEYWARD_ADDR; upstream $UPSTREAM_ADDR)" >&2
"$caddy" run --config "$here/Caddyfile" --adapter caddyfile &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$XDG_DATA_HOME"' EXIT INT TERM
wait $pid
