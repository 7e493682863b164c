#!/bin/sh
# Runs one node test suite (tests/integration or tests/browser) against the real valetkey binary,
# then the log-leak check (tests/lib/leakcheck.mjs): every secret the tests recorded is searched
# for in every log file of the run. Both suites' run.sh call this.
#   usage: tests/lib/run-suite.sh SUITE-DIR CONCURRENCY [node --test arguments...]
#   VALETKEY_BIN          absolute path of the binary (default: build/valetkey)
#   VALETKEY_TEST_LOGDIR  where server logs and secrets.txt go (default: a new temp directory)
#   VALETKEY_TEST_KEEP=1  keep the log directory and the servers' data directories
set -eu

suite_dir=$(cd "$1" && pwd)
concurrency=$2
shift 2
suite=$(basename "$suite_dir")
lib=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$lib/../.." && pwd)

VALETKEY_BIN=${VALETKEY_BIN:-$repo/build/valetkey}
case $VALETKEY_BIN in
    /*) ;;
    *) VALETKEY_BIN=$(pwd)/$VALETKEY_BIN ;;
esac
export VALETKEY_BIN
if [ ! -x "$VALETKEY_BIN" ]; then
    echo "$suite: $VALETKEY_BIN is not an executable file (build it with make)" >&2
    exit 2
fi
for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "$suite: $tool not found (Node.js 20 or later is needed)" >&2
        exit 2
    fi
done

# Install the locked packages when node_modules is missing or older than the lock file.
if [ ! -d "$suite_dir/node_modules" ] ||
   [ -n "$(find "$suite_dir/package-lock.json" -newer "$suite_dir/node_modules" 2>/dev/null)" ]; then
    (cd "$suite_dir" && npm ci --no-audit --no-fund)
    touch "$suite_dir/node_modules"
fi

own_logdir=0
if [ -z "${VALETKEY_TEST_LOGDIR:-}" ]; then
    VALETKEY_TEST_LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/valetkey-$suite.XXXXXX")
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
node --test --test-concurrency="$concurrency" --test-timeout=120000 --test-reporter=spec "$@" \
    "$suite_dir"/*.test.mjs || tests_rc=$?

leak_rc=0
node "$lib/leakcheck.mjs" "$VALETKEY_TEST_LOGDIR" || leak_rc=$?

if [ "$tests_rc" -ne 0 ] || [ "$leak_rc" -ne 0 ]; then
    echo "$suite: FAILED (tests exit $tests_rc, leak check exit $leak_rc); logs kept in $VALETKEY_TEST_LOGDIR" >&2
    exit 1
fi
if [ "$own_logdir" -eq 1 ] && [ "${VALETKEY_TEST_KEEP:-0}" != 1 ]; then
    rm -rf "$VALETKEY_TEST_LOGDIR"
else
    echo "$suite: logs in $VALETKEY_TEST_LOGDIR"
fi
echo "$suite: all suites passed"
