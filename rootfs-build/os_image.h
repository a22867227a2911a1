// The OS image: what goes into the initramfs, as a plan (a CpioArchive value) built from
// inputs, then written out. The plan is pure given its inputs, which is what makes the
// image reproducible and lets unit tests check it without a kernel or QEMU.
//
// Layout (merged /usr, like Debian): /usr/bin holds Gantry's programs, /usr/lib the shared
// libraries and /usr/lib/modules/RELEASE the kernel modules; /bin, /sbin, /lib, /lib64 are
// symlinks into /usr. /init -> /usr/bin/<init>. /etc/gantry/modules lists the module
// files PID 1 needs early (early_modules()), one absolute path a line, dependencies first:
// PID 1 loads them in that order. /etc/gantry/modules.late lists the rest, same format,
// to load after the early ones (it may rely on them being loaded). /etc/gantry/modules.dep
// indexes every shipped module (optional ones too) and every built-in one by name, for
// the config's kernel.modules: "NAME PATH [DEPENDENCY ...]" or "NAME builtin".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "rootfs-build/os_cpio.h"
#include "rootfs-build/os_modules.h"

namespace gantry::osimage {

inline constexpr const char* kModuleListPath = "etc/gantry/modules";
inline constexpr const char* kLateModuleListPath = "etc/gantry/modules.late";
inline constexpr const char* kModuleIndexPath = "etc/gantry/modules.dep";

struct ImageInputs {
    std::string init;                   // host path of PID 1 (gantry-init, or a test init)
    std::vector<std::string> programs;  // more programs for /usr/bin (gantryctl, gantry-kv...)
    std::string busybox;                // --debug: a static busybox and its applet links
    bool strip = true;                  // strip debug info from init and programs
    std::string kernel_release;
    const ModuleTree* modules = nullptr;        // nullptr: an image without modules (tests)
    std::vector<std::string> early_modules;     // -> etc/gantry/modules
    std::vector<std::string> wanted_modules;    // -> etc/gantry/modules.late, minus the early
    std::vector<std::string> optional_modules;  // shipped, only in etc/gantry/modules.dep
    // Ship modules without Debian's appended signature (os_modules.h,
    // strip_module_signature): the kernel then skips a ~13M-instruction check per module
    // and taints itself 'E' once; a kernel that enforces signatures (module.sig_enforce,
    // Secure Boot lockdown) refuses them, so --keep-module-signatures turns this off.
    bool strip_module_signatures = true;
    std::string version = "0.1.0";  // os-release VERSION_ID
};

struct ImagePlan {
    CpioArchive archive;
    std::vector<Module> modules;  // in load order, early ones first, optional ones last
    size_t early_count = 0;       // how many of `modules` are in etc/gantry/modules
};

Result<ImagePlan> plan_image(const ImageInputs& in);

// The fixed skeleton: directories, /usr symlinks, /dev/console and /dev/null (the kernel
// opens /dev/console for PID 1 before anything can mount devtmpfs), and /etc.
void add_skeleton(CpioArchive& a, const std::string& version);

struct BuildOutput {
    std::string initramfs_path;
    std::string vmlinuz_path;
    uint64_t initramfs_bytes = 0;  // compressed
    uint64_t unpacked_bytes = 0;
    uint64_t vmlinuz_bytes = 0;
    size_t entries = 0;
    size_t modules = 0;
};

// Serializes with `mtime` everywhere, compresses, writes OUT/initramfs.cpio.zst and copies
// `vmlinuz` (when given) to OUT/vmlinuz, plus OUT/manifest.txt listing every entry.
Result<BuildOutput> write_image(const ImagePlan& plan, const std::string& out_dir,
                                const std::string& vmlinuz, uint32_t mtime, int zstd_level);

}  // namespace gantry::osimage
