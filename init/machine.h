// PID 1's machine-level steps, as plan-then-apply: the plans are values (unit-tested
// against a temp root), the apply steps make the syscalls (tested under QEMU).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace gantry::init {

struct MountStep {
    std::string source;
    std::string target;  // absolute, under the plan's root
    std::string fstype;
    unsigned long flags = 0;
    std::string data;
    mode_t mode = 0755;  // for mkdir of the target
};

// The early mounts, in order: /proc, /sys, /dev, /dev/pts, /dev/shm, /run, /tmp,
// cgroup2 at /sys/fs/cgroup. `root` prefixes every target ("" = the real root).
std::vector<MountStep> plan_mounts(const std::string& root);
// Mounts each step; a target that is already a mount point is left alone (the initramfs
// or a container runtime may have done it). Failures are collected, not fatal: PID 1 keeps
// going with what it has and says what is missing.
std::vector<Error> apply_mounts(const std::vector<MountStep>& plan);

// The controllers to enable: every one listed in cgroup.controllers, as "+cpu +memory".
std::string plan_subtree_control(std::string_view controllers_file);
// Writes the plan into <cgroup_root>/cgroup.subtree_control, and makes <cgroup_root>/gantry
// (services live below it) with the same controllers.
Status enable_controllers(const std::string& cgroup_root);

enum class FinalAction { Poweroff, Reboot };

// finish() reports its milestones here ("poweroff"/"reboot" once the services are down,
// "unmounted"), `fields` being "" or `"k":v,...`. PID 1 sends them on its event port.
using FinishReporter = std::function<void(std::string_view event, const std::string& fields)>;
void set_finish_reporter(FinishReporter fn);

// Last steps of PID 1: SIGTERM then SIGKILL to every process left, sync, unmount the plan in
// reverse (lazily), reboot(2). Never returns.
[[noreturn]] void finish(FinalAction action, const std::vector<MountStep>& plan);

// Reaps zombies that are not tracked by a pidfd watch (orphans re-parented to PID 1 or to
// the host-mode subreaper). `children_path` is /proc/self/task/<pid>/children; when it
// cannot be read, falls back to waitid(P_ALL, WNOWAIT) and stops at the first tracked pid.
// Returns how many were reaped.
int reap_orphans(const std::function<bool(pid_t)>& tracked, const std::string& children_path);

}  // namespace gantry::init
