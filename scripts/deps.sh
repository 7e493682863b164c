#!/bin/sh
# Installs the Debian 12 packages valetkey needs. Idempotent: only missing
# packages are installed. Usage: scripts/deps.sh [build|test]
#   build (default): compiler and libraries to build and run the server
#   test:            adds what `make test` needs (cmocka, clang for fuzzing,
#                    node/npm for the integration clients, nginx, wrk, chromium,
#                    the sqlite3 shell that tests open the database with, nginx-dev
#                    to build ngx_http_valetkey_module against Debian's nginx)
set -eu
mode=${1:-build}

BUILD_PKGS="build-essential pkg-config libmicrohttpd-dev libssl-dev libjansson-dev \
libsqlite3-dev libpq-dev libargon2-dev libcurl4-openssl-dev libinih-dev libgnutls28-dev"
TEST_PKGS="libcmocka-dev clang libclang-rt-14-dev nodejs npm wrk curl chromium sqlite3 openssl nginx \
nginx-dev"

pkgs=$BUILD_PKGS
[ "$mode" = test ] && pkgs="$pkgs $TEST_PKGS"

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        # nodejs/npm may come from elsewhere on developer machines: accept binaries on PATH
        case "$p" in
        nodejs) command -v node >/dev/null 2>&1 && continue ;;
        npm) command -v npm >/dev/null 2>&1 && continue ;;
        esac
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

echo "valetkey: installing Debian packages:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
