// The config's `kernel` section, applied by PID 1 on every boot before services start
// (docs/config.md, "kernel"):
//
//   1. kernel.modules  each name with its dependencies (init/pid1_modules.h, the image's
//                      /etc/gantry/modules.dep), in the order listed
//   2. kernel.sysctl   each key written under /proc/sys, keys in sorted order; after the
//                      modules, so a module's sysctls (net.bridge.* of br_netfilter) exist
//
// Nothing here stops the boot: a module that does not load or a sysctl the kernel does not
// know is one line in the report, which PID 1 puts on the console, the event channel and
// the API.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace gantry::init {

// sysctl.d(5) rules: "net.ipv4.ip_forward" -> <proc_sys>/net/ipv4/ip_forward. When the
// first separator is a '/', the key is a path as written; when it is a '.', dots and
// slashes swap, so "net.ipv4.conf.eth0/100.rp_filter" reaches the VLAN eth0.100. Refuses
// empty, "." and ".." components: the key must stay under /proc/sys.
Result<std::string> sysctl_path(std::string_view key, const std::string& proc_sys = "/proc/sys");

struct KernelPaths {
    std::string module_index = "/etc/gantry/modules.dep";
    std::string proc_sys = "/proc/sys";
};

struct KernelItem {
    std::string what;    // "module" or "sysctl"
    std::string name;    // module name or sysctl key
    std::string value;   // the sysctl value; "" for a module
    std::string result;  // "loaded", "already loaded", "built in", "set"; "" on error
    std::string error;   // why it failed; "" when it did not
};

struct KernelReport {
    std::vector<KernelItem> items;  // modules first, in config order; then sysctls
    int modules_loaded = 0;         // loaded now, already loaded, or built in
    int sysctls_set = 0;
    int errors = 0;
};

KernelReport apply_kernel_settings(const std::vector<std::string>& modules,
                                   const std::map<std::string, std::string>& sysctl,
                                   const KernelPaths& paths = {});

}  // namespace gantry::init
