// Leaving the initramfs's rootfs for a tmpfs, as switch_root(8) does for a real root.
//
// Why: the kernel's initial rootfs cannot be the old root of a pivot_root(2) (it fails
// with EINVAL), and every container start pivots. A tmpfs moved over "/" can, which is
// the situation on every distribution after its initramfs hands over. So PID 1, when it
// finds itself on rootfs, copies the image into a tmpfs (freeing each file of the rootfs as
// it goes, so memory does not double), moves the tmpfs onto "/", chroots into it and
// re-executes itself. The copy keeps modes, owners, symlinks and device nodes.
#pragma once

#include "base/error.h"

namespace gantry::init {

// True when "/" is the kernel's initial rootfs (ramfs or tmpfs) and we have not switched.
bool on_initial_rootfs();

// Copies everything under `from` (except `skip`, a mount point, and the API file systems
// /proc, /sys, /dev, which stay empty directories) into `to`, unlinking each copied file.
Status move_tree(const std::string& from, const std::string& to, const std::string& skip);

// The whole switch; on success execs argv again and does not return.
Status switch_off_rootfs(char** argv);

}  // namespace gantry::init
