// Leaving the kernel's initial rootfs, so that containers can pivot_root(2).
//
// Why: pivot_root(2) needs the caller's root to be the root of a mount that has a parent
// (fs/namespace.c, mnt_has_parent); the kernel's initial rootfs has none, so every
// container start would fail with EINVAL. The fix needs no copy: PID 1 bind-mounts "/"
// onto a directory, moves that bind mount over "/" and chroots into it (what
// switch_root(8) does, with a bind instead of a new file system). The new root is the
// same tmpfs (same files, same memory, same statfs), but its mount now has a parent: the
// rootfs underneath. Nothing is copied and PID 1 goes on without re-executing.
//
// Fallback, only if the bind or the move fails: copy the image into a fresh tmpfs
// (freeing each file of the rootfs as it goes), move that onto "/", chroot and re-execute
// (the copy keeps modes, owners, symlinks and device nodes). It costs ~0.5 s for the
// 73 MiB image under TCG, which is why it is no longer the normal path.
#pragma once

#include "base/error.h"

namespace gantry::init {

// True when "/" is the kernel's initial rootfs (ramfs or tmpfs) and we have not switched.
bool on_initial_rootfs();

// Copies everything under `from` (except `skip`, a mount point, and the API file systems
// /proc, /sys, /dev, which stay empty directories) into `to`, unlinking each copied file.
Status move_tree(const std::string& from, const std::string& to, const std::string& skip);

// The whole switch. Normally (the bind) it returns ok with "/" switched; only the copy
// fallback execs argv again and then does not return on success.
Status switch_off_rootfs(char** argv);

}  // namespace gantry::init
