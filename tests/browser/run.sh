#!/bin/sh
# Browser suite: Debian's Chromium (/usr/bin/chromium, driven by playwright-core; no browser is
# downloaded) signs in, consents and logs out against the real valetkey binary, with
# oauth4webapi + jose as the relying party; then the log-leak check. See tests/lib/run-suite.sh
# for the environment variables. Extra arguments go to `node --test`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -x "${VALETKEY_CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "browser: ${VALETKEY_CHROMIUM:-/usr/bin/chromium} not found (apt-get install chromium)" >&2
    exit 2
fi
exec "$here/../lib/run-suite.sh" "$here" 2 "$@"
