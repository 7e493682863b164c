#!/usr/bin/env bash
# Builds and runs the fuzz drivers in tests/fuzz/ (style.md §4.9; mod_auth_openidc's modes).
#
#   tests/fuzz/build.sh replay                 every corpus/<target>/ file through its driver,
#                                              built with ASan+UBSan and standalone.c (make test)
#   tests/fuzz/build.sh fuzz [SECONDS] [T...]  libFuzzer for SECONDS per target (default 60),
#                                              new inputs in tests/fuzz/out/<target>/, crashes in
#                                              tests/fuzz/out/crashes/
#   tests/fuzz/build.sh build                  only build both kinds of binaries
#
# Targets: fuzz_<target>.c for each target below. replay prints one summary line on success,
# "fuzz-replay: N passed, 0 failed" (N inputs), and exits non-zero on any failure after showing
# the failing inputs and the sanitizer's report. Needs clang and libclang-rt-14-dev
# (scripts/deps.sh test).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

ALL_TARGETS=(form basic jws jwks uri dpop revfeed certheader)
CC="${FUZZ_CC:-clang}"
SAN_COMMON="-fno-sanitize-recover=all -fno-omit-frame-pointer"
LIBS="$(pkg-config --libs libmicrohttpd libcrypto jansson sqlite3 libcurl inih) -largon2 -lpthread"
CFLAGS="-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc -Iinclude \
  $(pkg-config --cflags jansson) -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter"

# Reports from the sanitizers: a stack trace for UBSan too, and a non-zero exit for everything.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}"

die() { echo "fuzz: $*" >&2; exit 1; }

command -v "$CC" >/dev/null || die "$CC not found (run scripts/deps.sh test)"

# make_archive BUILD_DIR SAN_FLAGS: the static library with every module, via the Makefile so the
# objects match what the rest of the tree builds. Output only on failure.
make_archive() {
    local dir="$1" san="$2" log
    mkdir -p "$dir"
    log="$dir/make-fuzz.log"
    if ! make --no-print-directory BUILD="$dir" CC="$CC" OPT="-O1 -g" SAN="$san" \
            "$dir/libvkcore.a" >"$log" 2>&1; then
        cat "$log" >&2
        die "building $dir/libvkcore.a failed"
    fi
}

# needs_build BIN DEPS...: true when BIN is missing or older than any dependency.
needs_build() {
    local bin="$1" dep
    shift
    [[ -x "$bin" ]] || return 0
    for dep in "$@"; do
        [[ "$dep" -nt "$bin" ]] && return 0
    done
    return 1
}

# link BIN SAN_FLAGS ARCHIVE SOURCES...
link() {
    local bin="$1" san="$2" archive="$3" log
    shift 3
    log="$bin.log"
    if needs_build "$bin" "$@" "$archive" "$HERE/fuzz_common.h" "$HERE/build.sh"; then
        # shellcheck disable=SC2086 # the flag strings are meant to split
        if ! "$CC" $CFLAGS $san -o "$bin" "$@" "$archive" $LIBS >"$log" 2>&1; then
            cat "$log" >&2
            return 1
        fi
    fi
}

build_replay() {
    local t ok=0
    make_archive build/asan "-fsanitize=address,undefined $SAN_COMMON"
    mkdir -p build/fuzz/replay
    for t in "${ALL_TARGETS[@]}"; do
        link "build/fuzz/replay/fuzz_$t" "-fsanitize=address,undefined $SAN_COMMON" \
            build/asan/libvkcore.a "$HERE/fuzz_$t.c" "$HERE/standalone.c" || ok=1
    done
    return $ok
}

build_fuzz() {
    local t ok=0
    # The library gets coverage instrumentation too, or libFuzzer would be blind inside it.
    make_archive build/fuzz/obj "-fsanitize=fuzzer-no-link,address,undefined $SAN_COMMON"
    for t in "${TARGETS[@]}"; do
        link "build/fuzz/fuzz_$t" "-fsanitize=fuzzer,address,undefined $SAN_COMMON" \
            build/fuzz/obj/libvkcore.a "$HERE/fuzz_$t.c" || ok=1
    done
    return $ok
}

replay() {
    local t f bin log passed=0 failed=0 n
    build_replay || die "building the replay drivers failed"
    for t in "${ALL_TARGETS[@]}"; do
        bin="build/fuzz/replay/fuzz_$t"
        log="build/fuzz/replay/fuzz_$t.out"
        n=$(find "$HERE/corpus/$t" -maxdepth 1 -type f ! -name '.*' | wc -l)
        [[ "$n" -gt 0 ]] || die "no corpus in tests/fuzz/corpus/$t"
        # The braces keep bash's "Aborted" job notice out of the output: the log has the report.
        if { "$bin" "$HERE/corpus/$t" >"$log" 2>&1; } 2>/dev/null; then
            passed=$((passed + n))
            continue
        fi
        # Something failed: run each input alone to count and name the failures.
        while IFS= read -r f; do
            if { "$bin" "$f" >"$log.one" 2>&1; } 2>/dev/null; then
                passed=$((passed + 1))
            else
                failed=$((failed + 1))
                echo "FAIL fuzz_$t ${f#"$ROOT"/}" >&2
                sed 's/^/    /' "$log.one" | head -60 >&2
            fi
        done < <(find "$HERE/corpus/$t" -maxdepth 1 -type f ! -name '.*' | sort)
        if [[ "$failed" -eq 0 ]]; then
            # Failed together but not alone (state across inputs): show the whole run.
            failed=$((failed + 1))
            echo "FAIL fuzz_$t (whole corpus; each input alone passes)" >&2
            sed 's/^/    /' "$log" | tail -60 >&2
        fi
    done
    echo "fuzz-replay: $passed passed, $failed failed"
    [[ "$failed" -eq 0 ]]
}

# Per-target libFuzzer settings: the largest input worth trying.
max_len_for() {
    case "$1" in
        form) echo 20000 ;;   # 65 parameters, VK_MAX_PARAM_LEN values
        basic) echo 20000 ;;  # 4 * VK_MAX_PARAM_LEN of base64
        jws) echo 9000 ;;     # VK_MAX_JWT_LEN + a little
        jwks) echo 70000 ;;   # VK_MAX_JSON_INPUT + a little
        uri) echo 4200 ;;     # a registered list and a URI of VK_URI_MAX_LEN
        dpop) echo 9000 ;;    # VK_MAX_JWT_LEN + a little
        revfeed) echo 70000 ;; # VK_MAX_JSON_INPUT + a little
    esac
}

fuzz() {
    local secs="$1" t bin dict log rc status=0 execs cov corp crash new before
    build_fuzz || die "building the libFuzzer drivers failed"
    mkdir -p "$HERE/out/crashes"
    for t in "${TARGETS[@]}"; do
        bin="build/fuzz/fuzz_$t"
        log="$HERE/out/fuzz_$t.log"
        mkdir -p "$HERE/out/$t"
        dict=()
        [[ -f "$HERE/dict/$t.dict" ]] && dict=(-dict="$HERE/dict/$t.dict")
        before=$(find "$HERE/out/$t" -type f | wc -l)
        rc=0
        # The first corpus directory receives new inputs; the seed corpus is only read.
        timeout --kill-after=30 $((secs + 120)) "$bin" \
            -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 \
            -max_len="$(max_len_for "$t")" -print_final_stats=1 \
            -artifact_prefix="$HERE/out/crashes/$t-" "${dict[@]}" \
            "$HERE/out/$t" "$HERE/corpus/$t" >"$log" 2>&1 || rc=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
        corp=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
        new=$(( $(find "$HERE/out/$t" -type f | wc -l) - before ))
        if [[ "$rc" -eq 0 ]]; then
            printf 'fuzz_%-6s %10s execs in %ss, cov %s, corpus %s, %s new inputs: ok\n' \
                "$t" "${execs:-?}" "$secs" "${cov:-?}" "${corp:-?}" "$new"
        else
            status=1
            crash=$(grep -o "$HERE/out/crashes/$t-[^ ]*" "$log" | tail -1 || true)
            printf 'fuzz_%-6s FAILED (exit %s) after %s execs; reproducer: %s; log: %s\n' \
                "$t" "$rc" "${execs:-?}" "${crash:-none}" "${log#"$ROOT"/}"
            grep -m1 -A25 -E '^==[0-9]+==ERROR|runtime error|invariant violated' "$log" \
                | sed 's/^/    /' || true
        fi
    done
    return $status
}

mode="${1:-replay}"
case "$mode" in
    replay)
        replay
        ;;
    fuzz)
        secs="${2:-60}"
        [[ "$secs" =~ ^[0-9]+$ ]] || die "SECONDS must be a number"
        shift $(( $# >= 2 ? 2 : $# ))
        TARGETS=("$@")
        [[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=("${ALL_TARGETS[@]}")
        fuzz "$secs"
        ;;
    build)
        TARGETS=("${ALL_TARGETS[@]}")
        build_replay && build_fuzz
        ;;
    *)
        echo "usage: $0 replay | fuzz [SECONDS] [TARGET...] | build" >&2
        exit 2
        ;;
esac
