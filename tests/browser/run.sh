#!/bin/sh
# Browser suite: Debian's Chromium (/usr/bin/chromium, driven by playwright-core; no browser is
# downloaded) signs in, consents and logs out against the real valetkey binary, and
# oauth4webapi + jose act as the relying party. Afterwards every secret the tests recorded is
# searched for in every log file the run produced.
#   VALETKEY_BIN          absolute path of the binary (default: ../../build/valetkey from here)
#   VALETKEY_TEST_LOGDIR  where server logs and secrets.txt go (default: a new temp directory)
#   VALETKEY_TEST_KEEP=1  keep the log directory, data directories and browser profiles
# Extra arguments go to `node --test` (e.g. --test-name-pattern=logout).
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
    echo "browser: $VALETKEY_BIN is not an executable file (build it with make)" >&2
    exit 2
fi
for tool in node npm sha256sum; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "browser: $tool not found" >&2
        exit 2
    fi
done
if [ ! -x "${VALETKEY_CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "browser: ${VALETKEY_CHROMIUM:-/usr/bin/chromium} not found (apt-get install chromium)" >&2
    exit 2
fi

# Install the locked packages when node_modules is missing or older than the lock file.
if [ ! -d "$here/node_modules" ] ||
   [ -n "$(find "$here/package-lock.json" -newer "$here/node_modules" 2>/dev/null)" ]; then
    (cd "$here" && npm ci --no-audit --no-fund)
    touch "$here/node_modules"
fi

own_logdir=0
if [ -z "${VALETKEY_TEST_LOGDIR:-}" ]; then
    VALETKEY_TEST_LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/valetkey-browser.XXXXXX")
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
node --test --test-concurrency=2 --test-timeout=60000 "$@" tests/browser/*.test.mjs || tests_rc=$?

# Log-leak check: each recorded secret (client secrets, the password, PKCE verifiers, codes,
# access/refresh/ID tokens, session cookies), as a fixed string, in each log file. A hit names
# the file and the secret's SHA-256 prefix, never the secret.
leak_rc=0
secrets=$VALETKEY_TEST_LOGDIR/secrets.txt
uniq_secrets=$VALETKEY_TEST_LOGDIR/secrets.uniq
sort -u "$secrets" | grep -v '^$' > "$uniq_secrets" || true
n_secrets=$(wc -l < "$uniq_secrets" | tr -d ' ')
n_logs=0
for f in "$VALETKEY_TEST_LOGDIR"/*.log; do
    [ -f "$f" ] && n_logs=$((n_logs + 1))
done
if [ "$n_secrets" -eq 0 ]; then
    echo "leak check FAILED: $secrets is empty, so nothing was checked" >&2
    leak_rc=1
elif ! ls "$VALETKEY_TEST_LOGDIR"/*-server.stderr.log >/dev/null 2>&1; then
    echo "leak check FAILED: no server log (*-server.stderr.log) in $VALETKEY_TEST_LOGDIR" >&2
    leak_rc=1
else
    hits=0
    while IFS= read -r secret; do
        for f in "$VALETKEY_TEST_LOGDIR"/*.log; do
            [ -f "$f" ] || continue
            if grep -qF -e "$secret" -- "$f"; then
                prefix=$(printf '%s' "$secret" | sha256sum | cut -c1-16)
                echo "leak check: $(basename "$f") contains a recorded secret (sha256 $prefix...)" >&2
                hits=$((hits + 1))
            fi
        done
    done < "$uniq_secrets"
    if [ "$hits" -ne 0 ]; then
        echo "leak check FAILED: $hits hit(s)" >&2
        leak_rc=1
    else
        echo "leak check: $n_secrets secrets, $n_logs log files, no hit"
    fi
fi
rm -f "$uniq_secrets"

if [ "$tests_rc" -ne 0 ] || [ "$leak_rc" -ne 0 ]; then
    echo "browser: FAILED (tests exit $tests_rc, leak check exit $leak_rc); logs kept in $VALETKEY_TEST_LOGDIR" >&2
    exit 1
fi
if [ "$own_logdir" -eq 1 ] && [ "${VALETKEY_TEST_KEEP:-0}" != 1 ]; then
    rm -rf "$VALETKEY_TEST_LOGDIR"
else
    echo "browser: logs in $VALETKEY_TEST_LOGDIR"
fi
echo "browser: all suites passed"
