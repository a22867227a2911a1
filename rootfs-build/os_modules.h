// Kernel modules: which files a set of wanted modules needs, and in what order to load them.
//
// Debian's kernel package ships no modules.dep (depmod runs at install time), so the
// dependency graph is read from each module's own .modinfo "depends=" field, the same data
// depmod uses. Modules built into the kernel (modules.builtin) need no file and are skipped.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace gantry::osimage {

// What Gantry needs from the kernel beyond its built-ins: virtio devices, the file systems
// for images, disks and config drives, container networking and the fw_cfg config source.
// Names are module names (underscores), not aliases: "isofs" for iso9660.
const std::vector<std::string>& default_modules();
// The part of default_modules() PID 1 needs before it can read its config and bring up
// the machine: the virtio transport, console port, disks, NIC, RNG, fw_cfg and the ACPI
// power button (button + evdev). The rest
// (file systems for images, container networking) can load while services start; under
// TCG each module costs ~15 ms, so this split keeps them off the boot's critical path.
const std::vector<std::string>& early_modules();
// Shipped in the image and listed in /etc/gantry/modules.dep, but loaded only when a
// config asks for them (kernel.modules): handy, rarely needed, not worth ~15 ms a boot.
const std::vector<std::string>& optional_modules();

// "virtio-rng.ko.xz" -> "virtio_rng": the kernel treats '-' and '_' alike in names.
std::string module_name_from_file(std::string_view filename);

// Removes the signature that Debian's build appended to a module (scripts/sign-file:
// PKCS#7, struct module_signature, "~Module signature appended~\n"). Returns whether there
// was one. Unsigned, finit_module skips the check (under QEMU's TCG most of a module's
// load time) and the kernel taints itself 'E' ("module verification failed") once.
bool strip_module_signature(std::string& ko);

struct Module {
    std::string name;
    std::string rel_path;  // relative to lib/modules/VERSION, as found (maybe compressed)
    std::vector<std::string> depends;  // module names, from .modinfo
};

class ModuleTree {
  public:
    // Indexes lib/modules/VERSION under `dir` by file name; reads nothing else yet.
    static Result<ModuleTree> scan(const std::string& dir);

    // Wanted modules and everything they depend on, dependencies first; each module once.
    // Built-in modules are left out; a name that is neither a file nor built in is an error.
    Result<std::vector<Module>> load_order(const std::vector<std::string>& wanted) const;
    // The module's bytes, decompressed if the package ships .ko.xz or .ko.zst.
    Result<std::string> read_module(const Module& m) const;

    bool is_builtin(const std::string& name) const { return builtin_.contains(name); }
    const std::set<std::string>& builtins() const { return builtin_; }
    const std::string& dir() const { return dir_; }

  private:
    Result<std::vector<std::string>> depends_of(const Module& m) const;

    std::string dir_;
    std::map<std::string, std::string> files_;  // name -> rel path
    std::set<std::string> builtin_;
};

}  // namespace gantry::osimage
