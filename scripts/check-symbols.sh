#!/bin/sh
# libvaletkey exports nothing but its API: every dynamic symbol libvaletkey.so defines, and every
# global symbol libvaletkey.a defines, must start with valetkey_ (style.md §1). It also checks
# that the library was built from base/, jose/ and verify/ only: no libmicrohttpd, SQLite or
# argon2 among its dependencies, and no logging code (base/log.c's writer thread).
# Usage: scripts/check-symbols.sh [BUILD_DIR]   (default: build)
set -u
cd "$(dirname "$0")/.." || exit 2
build=${1:-build}
so=$build/libvaletkey.so
a=$build/libvaletkey.a
fail=0
for f in "$so" "$a"; do
    if [ ! -e "$f" ]; then
        echo "check-symbols: $f is missing (run make lib)"
        exit 2
    fi
done
bad=$(nm -D --defined-only "$so" | awk '$2 ~ /^[A-Z]$/ {print $3}' | grep -v '^valetkey_')
if [ -n "$bad" ]; then
    echo "check-symbols: $so exports symbols outside the API:"
    echo "$bad" | sed 's/^/  /'
    fail=1
fi
bad=$(nm -g --defined-only "$a" 2>/dev/null | awk 'NF == 3 {print $3}' | grep -v '^valetkey_')
if [ -n "$bad" ]; then
    echo "check-symbols: $a defines global symbols outside the API:"
    echo "$bad" | sed 's/^/  /'
    fail=1
fi
n=$(nm -D --defined-only "$so" | grep -c ' T valetkey_')
if [ "$n" -lt 10 ]; then
    echo "check-symbols: only $n valetkey_ functions exported: the API is missing"
    fail=1
fi
deps=$(readelf -d "$so" | grep NEEDED | grep -E 'microhttpd|sqlite|argon2|pq')
if [ -n "$deps" ]; then
    echo "check-symbols: $so depends on a server library:"
    echo "$deps"
    fail=1
fi
if nm "$a" | grep -q -E ' [tT] vk_log(_start_async)?$'; then
    echo "check-symbols: $a contains the server's logging (base/log.c)"
    fail=1
fi
[ "$fail" = 0 ] && echo "check-symbols: ok ($n functions exported)"
exit $fail
