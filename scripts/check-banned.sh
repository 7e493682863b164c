#!/bin/sh
# Rejects functions that have safer replacements in base/ (docs/architecture.md, "Banned"):
# unbounded copies, unchecked number parsing, non-cryptographic randomness, and the wall clock
# inside protocol code, which takes `now` as a parameter.
set -u
cd "$(dirname "$0")/.." || exit 2
fail=0
banned='\<(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|atoll|strncpy|rand|random|srand|alloca)[[:space:]]*\('
if grep -rnE "$banned" src --include='*.[ch]'; then
    echo "check-banned: use vk_strscpy, vk_parse_u64, vk_rand or a bounded buffer instead"
    fail=1
fi
if grep -rnE '\<time[[:space:]]*\(' src/grant src/token src/verify 2>/dev/null; then
    echo "check-banned: protocol code takes \`now\` as a parameter; do not read the clock"
    fail=1
fi
id='[A-Za-z_][A-Za-z0-9_>.-]*(secret|digest|password)[A-Za-z0-9_]*'
if grep -rnE "\\<(memcmp|strcmp|strncmp)[[:space:]]*\\(([[:space:]]*$id|[^,]*,[[:space:]]*$id)" src; then
    echo "check-banned: compare secrets with vk_ct_eq_digest"
    fail=1
fi
[ "$fail" = 0 ] && echo "check-banned: ok"
exit $fail
