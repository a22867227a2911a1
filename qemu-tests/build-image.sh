#!/bin/sh
# Builds one OS image for the qemu tests: build-image.sh GANTRY_BUILD OUT INIT [--bin P ...]
# When Debian's kernel cannot be fetched (no network, no package index) the build must
# still succeed: the reason goes to OUT/unavailable.txt and the qemu cases skip with it.
set -u
gantry_build=$1 out=$2 init=$3
shift 3
mkdir -p "$out"
rm -f "$out/unavailable.txt"
if ! "$gantry_build" os --out "$out" --init "$init" --level 19 "$@" >"$out/build.log" 2>&1; then
    tail -n 3 "$out/build.log" >"$out/unavailable.txt"
    rm -f "$out/initramfs.cpio.zst"
    echo "os-image: $out unavailable: $(cat "$out/unavailable.txt")" >&2
fi
cat "$out/build.log"
touch "$out/stamp"
