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
cd "$here/../.."
# shellcheck source=../java-example.sh
source examples/java-example.sh spring keyward-client/src keyward-servlet/src keyward-spring-boot-starter/src
export LISTEN_PORT="${LISTEN_PORT:-8072}"
exec "$JAVA_HOME/bin/java" -cp "$example_cp" io.keyward.examples.spring.OrdersApplication
