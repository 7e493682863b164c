#!/bin/sh
# Integration suite: the real valetkey binary driven by independent clients (npm oauth4webapi
# and jose, plus raw fetch), then the log-leak check. See tests/lib/run-suite.sh for the
# environment variables. Extra arguments go to `node --test` (e.g. --test-name-pattern=rotate).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../lib/run-suite.sh" "$here" 4 "$@"
