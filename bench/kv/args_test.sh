#!/bin/sh
# kv_bench's command line: --help prints the usage and exits 0; an unknown flag, a flag
# missing its value or a bad number prints the usage to stderr and exits 2. Then the same
# for floor_server (its bad port, its unusable directory).
bench="$1"
floor="$2"
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
out=$("$floor" 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q '^usage: floor_server PORT DIR' || fail "floor_server without arguments: $out"
out=$("$floor" 0x /tmp 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "^floor_server: bad port '0x'" || fail "floor_server 0x: $out"
out=$("$floor" 1 /nonexistent/dir 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q "^floor_server: /nonexistent/dir/floor.log: No such file" ||
    fail "floor_server with a missing directory: $out"
echo ok
