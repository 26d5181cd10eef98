#!/usr/bin/env bash
# The example Spring Boot application (Tomcat, Spring Security) behind
# keyward-spring-boot-starter, against a running Keyward:
#
#   ./keyward serve &            # Keyward on 127.0.0.1:8080 (in the repository's root)
#   examples/spring/run.sh       # the app on 127.0.0.1:8072; Ctrl-C stops it
#
# It builds the example when needed and creates its keyward:verify key with ./keyward keys
# create, unless KEYWARD_VERIFY_KEY is set. Settings: LISTEN_PORT (8072), KEYWARD_URL
# (http://127.0.0.1:8080), KEYWARD_VERIFY_KEY.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
# shellcheck source=../../bin/find-jdk.sh
source bin/find-jdk.sh
export KEYWARD_URL="${KEYWARD_URL:-http://127.0.0.1:8080}"
if [ ! -f "$here/target/classpath.txt" ] || [ -n "$(find "$here/src" keyward-client/src keyward-servlet/src keyward-spring-boot-starter/src -newer "$here/target/classpath.txt" -print -quit)" ]; then
  echo "building the example (./mvnw -pl examples/spring -am package)" >&2
  ./mvnw -q -B -ntp package -DskipTests -pl examples/spring -am >&2
fi
if [ -z "${KEYWARD_VERIFY_KEY:-}" ]; then
  created="$(./keyward keys create --name spring-example --owner example \
    --scope keyward:verify --url "$KEYWARD_URL")" \
    || { echo "run.sh: could not create the example's key; is ./keyward serve running at $KEYWARD_URL?" >&2; exit 2; }
  KEYWARD_VERIFY_KEY="$(printf '%s' "$created" | sed -n 's/.*"key" *: *"\([^"]*\)".*/\1/p' | head -n 1)"
fi
export KEYWARD_VERIFY_KEY
export LISTEN_PORT="${LISTEN_PORT:-8072}"
exec "$JAVA_HOME/bin/java" -cp "$here/target/classes:$(cat "$here/target/classpath.txt")" \
  io.keyward.examples.spring.OrdersApplication
