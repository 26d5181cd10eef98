#!/usr/bin/env bash
# The example Helidon application (Helidon SE 4) behind KeywardHelidonFilter, against a running
# Keyward:
#
#   ./keyward serve &            # Keyward on 127.0.0.1:8080 (in the repository's root)
#   examples/helidon/run.sh      # the app on 127.0.0.1:8071; Ctrl-C stops it
#
# It builds the example when needed and creates its keyward:verify key with ./keyward keys
# create, unless KEYWARD_VERIFY_KEY is set. Settings: LISTEN_ADDR (127.0.0.1:8071), KEYWARD_URL
# (http://127.0.0.1:8080), KEYWARD_VERIFY_KEY.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."
# shellcheck source=../java-example.sh
source examples/java-example.sh helidon keyward-client/src keyward-helidon/src
exec "$JAVA_HOME/bin/java" -cp "$example_cp" \
  io.keyward.examples.helidon.OrdersApp "${LISTEN_ADDR:-127.0.0.1:8071}"
