// MountPlan: the ordered list of mount steps that turns a bundle's rootfs into the
// container's root. Pure: built and unit-tested without root (sandbox2's Mounts); the
// container child carries it out with apply_mount_plan() (mount_apply.cc), allocation-free.
//
// The order, and why:
//   1. RootPropagation   make our copy of the host's / rslave (or the spec's propagation), so
//                        nothing we mount propagates back to the host.
//   2. BindRootfs        bind the rootfs onto itself: pivot_root needs a mount point.
//   3. Mount...          the spec's mounts in spec order (later ones may sit on earlier ones:
//                        /dev then /dev/pts). Destinations are resolved inside the rootfs
//                        with openat2(RESOLVE_BENEATH): a symlink that leads out is refused.
//   4. Device...         linux.devices plus the runtime's default devices, when /dev is ours.
//   5. Symlink...        /dev/fd, /dev/stdin..., /dev/ptmx.
//   6. PivotRoot         pivot_root(".", ".") then detach the old root (runc's trick: no
//                        temp directory inside the rootfs).
//   7. SetPropagation    rootfsPropagation on the new /, when the spec asks for one.
//   8. Sysctls           written under /proc/sys now that the container's /proc is mounted,
//                        and before step 10 makes /proc/sys read-only.
//   9. Mask...           maskedPaths: /dev/null over files, an empty read-only tmpfs over dirs.
//  10. ReadonlyPath...   readonlyPaths: bind onto itself, remount read-only.
//  11. RemountRootReadonly  root.readonly, last so that steps 3-5 could write.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "runtime/spec.h"

namespace gantry::runtime {

struct MountStep {
    enum class Kind {
        RootPropagation,
        BindRootfs,
        Mount,
        Device,
        Symlink,
        PivotRoot,
        SetPropagation,
        Sysctls,
        Mask,
        ReadonlyPath,
        RemountRootReadonly,
    };
    Kind kind = Kind::Mount;
    int spec_index = -1;  // index into mounts / linux.devices / maskedPaths / readonlyPaths
    std::string source;   // Mount: host path or fs source; Symlink: link contents
    // Before PivotRoot: relative to the rootfs ("dev/pts"); after: absolute ("/proc/kcore").
    std::string target;
    std::string fstype;
    std::string data;
    unsigned long flags = 0;          // mount(2) flags of the first mount
    unsigned long remount_flags = 0;  // bind mounts: MS_REMOUNT|MS_BIND|... for ro etc., or 0
    unsigned long propagation = 0;    // applied after the mount, or 0
    bool bind = false;
    // Device
    mode_t mode = 0;  // S_IFCHR|0666 ...
    dev_t dev = 0;
    uid_t uid = 0;
    gid_t gid = 0;

    // "mounts[2] (proc on /proc)", "maskedPaths[0] (/proc/kcore)", "pivot_root".
    std::string describe() const;
};

// Parsed mount options: mount(2) flags, propagation and the fs-specific data string.
struct MountOptions {
    unsigned long flags = 0;
    unsigned long clear = 0;  // flags the options turn off (rw, suid, ...)
    unsigned long propagation = 0;
    bool bind = false;
    bool recursive = false;
    std::string data;
};
// `path` prefixes errors ("mounts[3].options[1]: ...").
Result<MountOptions> parse_mount_options(const std::vector<std::string>& options,
                                         const std::string& path);

struct MountPlan {
    std::vector<MountStep> steps;

    // `bundle_dir` anchors relative bind sources; `rootfs` is spec.root.path made absolute.
    static Result<MountPlan> build(const Spec& spec, const std::string& bundle_dir,
                                   const std::string& rootfs);
};

// The devices every container gets when the runtime sets up /dev (runtime-spec "Default
// Devices"): null, zero, full, random, urandom, tty.
const std::vector<Device>& default_devices();

}  // namespace gantry::runtime
