#!/bin/sh
# Migrations are append-only (src/store/migrations/README.md): a migration that has reached main
# is never edited again -- a database that ran it would not run it again -- and the numbers run
# 1, 2, 3, ... without gaps, in step for every back end that has migrations (NNN means the same
# schema version on each). SHA256SUMS pins every migration file: editing one fails here, and a new
# one must be added to it (sha256sum FILE >> src/store/migrations/SHA256SUMS).
set -u
cd "$(dirname "$0")/.." || exit 2
dir=src/store/migrations
fail=0
for f in "$dir"/*.sql; do
    name=$(basename "$f")
    want=$(awk -v n="$name" '$2 == n || $2 == "*"n {print $1}' "$dir/SHA256SUMS")
    have=$(sha256sum "$f" | cut -d' ' -f1)
    if [ -z "$want" ]; then
        echo "check-migrations: $name is not in $dir/SHA256SUMS (new migration? run: cd $dir && sha256sum $name >> SHA256SUMS)"
        fail=1
    elif [ "$want" != "$have" ]; then
        echo "check-migrations: $name changed; migrations are append-only once on main: write a new migration instead (only a migration not yet merged may be edited, with its SHA256SUMS line)"
        fail=1
    fi
done
while read -r _ name; do
    name=${name#\*}
    [ -f "$dir/$name" ] || { echo "check-migrations: SHA256SUMS names $name, which does not exist"; fail=1; }
done <"$dir/SHA256SUMS"
numbers() {
    for f in "$dir"/*."$1".sql; do
        [ -f "$f" ] && basename "$f" | sed 's/^0*\([0-9][0-9]*\)_.*/\1/'
    done
}
ref=""
for backend in sqlite pg; do
    nums=$(numbers "$backend" | tr '\n' ' ')
    [ -z "$nums" ] && continue
    i=1
    for n in $nums; do
        if [ "$n" != "$i" ]; then
            echo "check-migrations: $backend migrations must be numbered 1, 2, 3, ...: found $n where $i belongs"
            fail=1
            break
        fi
        i=$((i + 1))
    done
    if [ -n "$ref" ] && [ "$nums" != "$ref" ]; then
        echo "check-migrations: the back ends' migrations are not numbered in step (sqlite: $ref; $backend: $nums)"
        fail=1
    fi
    ref=$nums
done
[ "$fail" = 0 ] && echo "check-migrations: ok"
exit "$fail"
