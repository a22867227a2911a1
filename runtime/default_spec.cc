#include "runtime/default_spec.h"

#include "runtime/security_steps.h"

namespace gantry::runtime {

using json = nlohmann::json;

namespace {

// Docker's default set of 14 (moby oci/caps/defaults.go): enough for the usual daemon that
// starts as root, binds a low port and drops to its own user; nothing that reaches the
// kernel's global state (no SYS_ADMIN, SYS_MODULE, SYS_TIME, NET_ADMIN, ...).
const std::vector<std::string>& default_caps() {
    static const std::vector<std::string> caps = {
        "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
        "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
        "CAP_KILL",    "CAP_AUDIT_WRITE",
    };
    return caps;
}

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
    if (options.security) {
        const auto& caps = default_caps();
        // No inheritable or ambient caps: a non-root program exec'd later gets none.
        process["capabilities"] = {{"bounding", caps}, {"effective", caps}, {"permitted", caps}};
    }
    json linux = {
        {"namespaces",
         {{{"type", "pid"}},
          {{"type", "network"}},
          {{"type", "ipc"}},
          {{"type", "uts"}},
          {{"type", "mount"}},
          {{"type", "cgroup"}}}},
        // Kernel data that leaks host details or lets a container poke host-wide knobs
        // (the runc/moby list).
        {"maskedPaths",
         {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware", "/sys/devices/virtual/powercap"}},
        {"readonlyPaths",
         {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
    };
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
