#!/bin/bash
# Builds ngx_http_valetkey_module.so (nginx/) against an nginx source tree, the way Debian builds
# its own dynamic modules (dh's nginx_mod build system): nginx's ./configure with the flags the
# installed nginx was built with and --with-compat, --add-dynamic-module, then `make modules`.
#   usage: scripts/build-nginx-module.sh BUILD_DIR [CC] [SANITIZER_FLAGS]
#   NGINX_SRC    the nginx tree (default /usr/share/nginx/src, Debian's nginx-dev: headers and
#                build scripts only, which is all a dynamic module needs). An upstream source
#                tree of another version works too: then NGINX_CONFIGURE_FLAGS are used instead
#                of Debian's conf_flags and should match `nginx -V` of the nginx that will load
#                the module (at least --with-compat and the same version).
# The tree is copied into BUILD_DIR/nginx/src first, since configure writes into it.
# Output: BUILD_DIR/nginx/ngx_http_valetkey_module.so (links BUILD_DIR/libvaletkey.a).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(mkdir -p "$1" && cd "$1" && pwd)
cc=${2:-cc}
san=${3:-}
src=${NGINX_SRC:-/usr/share/nginx/src}
out=$build/nginx

if [ ! -x "$src/configure" ]; then
    echo "build-nginx-module: no nginx build tree at $src (install nginx-dev: scripts/deps.sh test)" >&2
    exit 2
fi
if [ ! -f "$build/libvaletkey.a" ]; then
    echo "build-nginx-module: $build/libvaletkey.a is missing (make lib)" >&2
    exit 2
fi

flags=()
if [ -f "$src/conf_flags" ]; then
    # shellcheck disable=SC1091
    . "$src/conf_flags" # NGX_CONF_FLAGS=( ... ): how Debian's nginx was configured
    flags=("${NGX_CONF_FLAGS[@]}")
else
    read -r -a flags <<<"${NGINX_CONFIGURE_FLAGS:---with-compat --with-threads --with-http_ssl_module}"
fi

cc_opt="-g -O2 -fPIC -fstack-protector-strong -Wformat -Werror=format-security -D_FORTIFY_SOURCE=2 -Wshadow -Wvla"
ld_opt="-Wl,-z,relro -Wl,-z,now -fPIC"
if [ -n "$san" ]; then
    # Sanitizer runtime: provided by the process (LD_PRELOAD), as a shared object cannot bring
    # its own; no FORTIFY under ASan.
    # -asan-globals=0: nginx's configure generates, for a dynamic module, a file that defines
    # ngx_modules[] again (dlsym finds it in the module); nginx exports its own ngx_modules, so
    # the module's symbol resolves to the executable's array, and an instrumented definition
    # would register ASan redzones of its own size around nginx's array (a false report at the
    # first reload). The module's globals go unchecked; heap and stack are checked as usual, and
    # libvaletkey.a is built with every check by the Makefile.
    cc_opt="-g -O1 -fPIC -fno-omit-frame-pointer $san -mllvm -asan-globals=0"
    ld_opt="-fPIC $san"
fi

stamp="$src|$cc|$cc_opt|$ld_opt|${flags[*]}|$(cat "$repo/nginx/config")"
if [ ! -f "$out/objs/Makefile" ] || [ "$(cat "$out/configured" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$out"
    mkdir -p "$out"
    cp -a "$src" "$out/src"
    (
        cd "$out/src"
        VALETKEY_INC="$repo/include" \
        VALETKEY_LIBS="$build/libvaletkey.a $(pkg-config --libs libcrypto jansson libcurl) -lpthread" \
            ./configure --with-cc="$cc" --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" \
            "${flags[@]}" --with-compat --add-dynamic-module="$repo/nginx" --builddir="$out/objs" \
            >"$out/configure.log" 2>&1
    ) || { cat "$out/configure.log" >&2; exit 1; }
    printf '%s' "$stamp" >"$out/configured"
fi
# The library is linked statically: a new libvaletkey.a must relink the module.
if [ -f "$out/objs/ngx_http_valetkey_module.so" ] &&
   [ "$build/libvaletkey.a" -nt "$out/objs/ngx_http_valetkey_module.so" ]; then
    rm -f "$out/objs/ngx_http_valetkey_module.so"
fi
make -s -C "$out/src" -f "$out/objs/Makefile" modules
cp "$out/objs/ngx_http_valetkey_module.so" "$out/ngx_http_valetkey_module.so.tmp"
mv "$out/ngx_http_valetkey_module.so.tmp" "$out/ngx_http_valetkey_module.so"
