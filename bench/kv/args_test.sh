#!/bin/sh
# kv_bench's command line: --help prints the usage and exits 0; an unknown flag, a flag
# missing its value or a bad number prints the usage to stderr and exits 2.
bench="$1"
fail() { echo "FAIL: $*"; exit 1; }
out=$("$bench" --help) || fail "--help exited $?"
echo "$out" | grep -q '^usage: kv_bench' || fail "--help printed: $out"
for args in "--bogus" "--runs" "2x" "-1" "--endpoint" "--client-cpus" "--client-cpus 0-x"; do
    # shellcheck disable=SC2086
    out=$("$bench" $args 2>&1)
    rc=$?
    [ "$rc" -eq 2 ] || fail "'$args' exited $rc: $out"
    echo "$out" | grep -q '^usage: kv_bench' || fail "'$args' printed: $out"
done
out=$("$bench" --client-cpus 0-x 2>&1)
echo "$out" | grep -q "^kv_bench: --client-cpus '0-x': bad CPU range" || fail "bad list printed: $out"
echo ok
