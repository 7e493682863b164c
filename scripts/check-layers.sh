#!/bin/sh
# Enforces the module map of docs/architecture.md: a module includes only the modules listed
# for it, and each third-party header is included only where the map allows (curl's checksrc in
# spirit). Exit 1 with one line per violation.
set -uf
cd "$(dirname "$0")/.." || exit 2

allowed_modules() {
    case "$1" in
    base) echo "base" ;;
    jose) echo "base jose" ;;
    verify) echo "base jose verify" ;;
    http) echo "base http" ;;
    store) echo "base store" ;;
    grant) echo "base grant store/store.h" ;;
    token) echo "base jose token store/store.h" ;;
    auth) echo "base jose auth store/store.h" ;;
    ui) echo "base ui" ;;
    config) echo "base config" ;;
    oauth) echo "base http/request.h http/router.h http/form.h http/headers.h http/cookie.h grant token auth ui store/store.h config oauth jose verify/verify.h" ;;
    cli) echo "*" ;;
    *) echo "" ;;
    esac
}

# third-party header -> files allowed to include it (shell patterns)
allowed_header() {
    case "$1" in
    microhttpd.h) echo "src/http/server.c" ;;
    gnutls/*) echo "src/http/tls.c" ;;
    sqlite3.h) echo "src/store/sqlite.c src/store/sqlite_*.c src/store/sqlite_*.h" ;;
    libpq-fe.h) echo "src/store/postgres.c" ;;
    argon2.h) echo "src/auth/password.c" ;;
    curl/*) echo "src/verify/fetch.c" ;;
    ini.h) echo "src/config/config.c" ;;
    openssl/*) echo "src/base/* src/jose/*" ;;
    jansson.h) echo "src/jose/* src/verify/* src/oauth/* src/cli/* src/token/* src/config/*" ;;
    *) echo "*" ;;
    esac
}

fail=0
for f in $(find src -name '*.[ch]' | sort); do
    mod=$(echo "$f" | cut -d/ -f2)
    case "$mod" in *.c | *.h) continue ;; esac # src/main.c
    allow=$(allowed_modules "$mod")
    # valetkey verify wires http/ to the library only: no store, no OAuth endpoint code.
    case "$f" in src/cli/verify*) allow="base http cli/cli.h cli/verify_policy.h" ;; esac
    grep -n '^#include "' "$f" | while IFS= read -r line; do
        inc=$(echo "$line" | sed 's/.*#include "\([^"]*\)".*/\1/')
        case "$inc" in */*) ;; *) continue ;; esac # generated headers such as migrations.h
        target=$(echo "$inc" | cut -d/ -f1)
        ok=0
        for a in $allow; do
            if [ "$a" = "*" ] || [ "$a" = "$target" ] || [ "$a" = "$inc" ]; then ok=1; fi
        done
        if [ "$ok" = 0 ]; then
            echo "layer violation: $f includes \"$inc\" (module $mod may include: $allow)"
            echo x >>"${TMPDIR:-/tmp}/vk-layers.$$"
        fi
    done
    grep -n '^#include <' "$f" | while IFS= read -r line; do
        inc=$(echo "$line" | sed 's/.*#include <\([^>]*\)>.*/\1/')
        pats=$(allowed_header "$inc")
        ok=0
        for p in $pats; do
            # shellcheck disable=SC2254
            case "$f" in $p) ok=1 ;; esac
        done
        if [ "$ok" = 0 ]; then
            echo "header violation: $f includes <$inc> (allowed only in: $pats)"
            echo x >>"${TMPDIR:-/tmp}/vk-layers.$$"
        fi
    done
done
if [ -s "${TMPDIR:-/tmp}/vk-layers.$$" ]; then
    rm -f "${TMPDIR:-/tmp}/vk-layers.$$"
    exit 1
fi
rm -f "${TMPDIR:-/tmp}/vk-layers.$$"
echo "check-layers: ok"
