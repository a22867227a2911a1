#!/bin/sh
# Runs the container-start benchmark (see runtime_bench.cc) as root:
#   bench/runtime/run.sh [BUILD_DIR] [--iterations N]
# crun refuses this host's hybrid cgroup layout (v1 controllers + a cgroup2 at
# /sys/fs/cgroup/unified), so everything runs in a private mount namespace where the
# unified mount is gone; the host's mounts are untouched.
set -eu
build=${1:-build}
[ $# -gt 0 ] && shift
exec unshare -m --propagation private sh -c '
    umount /sys/fs/cgroup/unified 2>/dev/null || true
    exec "$@"' -- "$build/bench/runtime/gantry-runtime-bench" "$@"
