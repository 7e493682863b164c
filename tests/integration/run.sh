#!/bin/sh
# Integration suite: starts the real valetkey binary and drives it with independent clients
# (npm oauth4webapi and jose, plus raw fetch), then checks that no secret reached a log.
#   VALETKEY_BIN          absolute path of the binary (default: ../../build/valetkey from here)
#   VALETKEY_TEST_LOGDIR  where server logs and secrets.txt go (default: a new temp directory)
#   VALETKEY_TEST_KEEP=1  keep the log directory and the servers' data directories
# Extra arguments are passed to `node --test` (e.g. --test-name-pattern=rotate).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

VALETKEY_BIN=${VALETKEY_BIN:-$here/../../build/valetkey}
case $VALETKEY_BIN in
    /*) ;;
    *) VALETKEY_BIN=$(pwd)/$VALETKEY_BIN ;;
esac
export VALETKEY_BIN
if [ ! -x "$VALETKEY_BIN" ]; then
    echo "integration: $VALETKEY_BIN is not an executable file (build it with make)" >&2
    exit 2
fi
for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "integration: $tool not found (Node.js 20 or later is needed)" >&2
        exit 2
    fi
done

# Install the locked client libraries when node_modules is missing or older than the lock file.
if [ ! -d "$here/node_modules" ] ||
   [ -n "$(find "$here/package-lock.json" -newer "$here/node_modules" 2>/dev/null)" ]; then
    (cd "$here" && npm ci --no-audit --no-fund)
    touch "$here/node_modules"
fi

own_logdir=0
if [ -z "${VALETKEY_TEST_LOGDIR:-}" ]; then
    VALETKEY_TEST_LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/valetkey-it.XXXXXX")
    own_logdir=1
else
    mkdir -p "$VALETKEY_TEST_LOGDIR"
    rm -f "$VALETKEY_TEST_LOGDIR/secrets.txt" "$VALETKEY_TEST_LOGDIR"/*.log
fi
export VALETKEY_TEST_LOGDIR
: > "$VALETKEY_TEST_LOGDIR/secrets.txt"
chmod 700 "$VALETKEY_TEST_LOGDIR"

cd "$repo"
tests_rc=0
node --test --test-concurrency=4 --test-timeout=60000 --test-reporter=spec "$@" tests/integration/*.test.mjs || tests_rc=$?

leak_rc=0
node "$here/lib/leakcheck.mjs" "$VALETKEY_TEST_LOGDIR" || leak_rc=$?

if [ "$tests_rc" -ne 0 ] || [ "$leak_rc" -ne 0 ]; then
    echo "integration: FAILED (tests exit $tests_rc, leak check exit $leak_rc); logs kept in $VALETKEY_TEST_LOGDIR" >&2
    exit 1
fi
if [ "$own_logdir" -eq 1 ] && [ "${VALETKEY_TEST_KEEP:-0}" != 1 ]; then
    rm -rf "$VALETKEY_TEST_LOGDIR"
else
    echo "integration: logs in $VALETKEY_TEST_LOGDIR"
fi
echo "integration: all suites passed"
