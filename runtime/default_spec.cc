#include "runtime/default_spec.h"

#include "runtime/seccomp.h"

namespace gantry::runtime {

using json = nlohmann::json;

namespace {

json mount(const char* dest, const char* type, const char* source,
           std::vector<std::string> options) {
    return json{{"destination", dest}, {"type", type}, {"source", source}, {"options", options}};
}

}  // namespace

json default_spec(const DefaultSpecOptions& options) {
    json process = {
        {"terminal", false},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", {"sh"}},
        {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
        {"cwd", "/"},
        {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
        {"noNewPrivileges", true},
    };
    // The profile is data (runtime/profile/*.json, docs/container-profile.md): Docker's 14
    // capabilities in bounding/effective/permitted (no inheritable or ambient, so a non-root
    // program exec'd later gets none), the masked and read-only paths, the namespaces, and
    // the deny-by-default seccomp allowlist.
    const json& profile = default_profile();
    if (options.security) {
        process["capabilities"] = profile.at("capabilities");
    }
    json linux = {
        {"namespaces", profile.at("namespaces")},
        {"maskedPaths", profile.at("maskedPaths")},
        {"readonlyPaths", profile.at("readonlyPaths")},
    };
    if (options.security) {
        linux["seccomp"] = default_seccomp_profile();
    }
    // Not written: profile "devices" (the runtime creates the runtime-spec default nodes in a
    // /dev tmpfs by itself) and "deviceCgroup" (linux.resources.devices: cgroup v2 enforces
    // it only with an eBPF program the runtime does not attach yet, and a spec should not
    // claim a guarantee that is not there; seccomp refuses mknod of device nodes instead).
    return json{
        // 1.0.2, not the newest: Debian's crun 1.8 refuses versions it does not know, and
        // the same bundle must run under every runtime (bench/runtime).
        {"ociVersion", "1.0.2"},
        {"process", process},
        {"root", {{"path", "rootfs"}, {"readonly", true}}},
        {"hostname", "gantry"},
        {"mounts",
         {mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
          mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
          mount("/dev/pts", "devpts", "devpts",
                {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
          mount("/dev/shm", "tmpfs", "shm",
                {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
          mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
          mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
          mount("/sys/fs/cgroup", "cgroup", "cgroup",
                {"nosuid", "noexec", "nodev", "relatime", "ro"})}},
        {"linux", linux},
    };
}

}  // namespace gantry::runtime
