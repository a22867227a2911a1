// The runtime's only door to the security part (capabilities.h, seccomp.h, cgroup.h, built
// from runtime/sec.cmake). Everything the core calls of it goes through these two small
// types, so a build without that part still links: a spec that asks for capabilities,
// seccomp or resource limits then fails with a clear "not built" error, and a spec that
// asks for none of them runs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "runtime/spec.h"

namespace gantry::runtime {

// True when the security part is compiled in.
bool security_built();

// How many seccomp filters this process has compiled. Security::prepare() compiles each
// distinct linux.seccomp once and reuses the program (tests check this).
uint64_t seccomp_compilations();
// Also keep compiled programs as files in `dir` (created 0700 on first use; "" = memory
// only). For gantry-oci, where every run is a new process: loading the BPF is cheaper than
// libseccomp's compile. The supervisor, a long-lived process, needs no disk cache.
void set_seccomp_cache_dir(std::string dir);
// Programs compiled at build time, read-only (gantry-init: the OS image's
// kSeccompPrebuiltDir, written by `gantry-build os`): looked up, by the same key and file
// name as the cache dir, before the cache dir and before compiling; never written. Under
// TCG the first compile of the default profile is tens of milliseconds of PID 1's boot.
void set_seccomp_prebuilt_dir(std::string dir);
inline constexpr const char* kSeccompPrebuiltDir = "/usr/lib/gantry/seccomp";

// Capabilities and the seccomp filter of one process, prepared in the parent. The two
// apply calls run in the container child: allocation-free, 0 or -errno.
class Security {
  public:
    Security();
    ~Security();
    Security(Security&&) noexcept;
    Security& operator=(Security&&) noexcept;

    // Parses process.capabilities and compiles linux.seccomp (null JSON: none), or takes the
    // program compiled earlier for the same profile in this process.
    static Result<Security> prepare(const nlohmann::json& capabilities,
                                    const nlohmann::json& seccomp);

    int apply_capabilities() const noexcept;
    int install_seccomp() const noexcept;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// The container's cgroup. Inactive (no cgroup at all) when the spec requests no limits and
// the host has no usable cgroup v2; a requested limit on such a host is an error.
class CgroupHandle {
  public:
    CgroupHandle();
    ~CgroupHandle();
    CgroupHandle(CgroupHandle&&) noexcept;
    CgroupHandle& operator=(CgroupHandle&&) noexcept;

    // `notes` receives why a cgroup was skipped.
    static Result<CgroupHandle> create(const Linux& linux, const std::string& container_id,
                                       const std::string& cgroup_root,
                                       std::vector<std::string>& notes);

    bool active() const;
    const std::string& path() const;  // "" when inactive
    Status add_process(pid_t pid);
    Status kill_all();
    Status destroy();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// True when linux.resources asks for a limit (anything but an empty object / device rules,
// which v2 enforces with eBPF in the security part).
bool resources_request_limits(const nlohmann::json& resources);

// For `gantry-oci delete` and exec, which only have the path from the state file: kill
// every process (cgroup.kill) and remove the directory. A missing directory is success.
Status cgroup_kill_and_remove(const std::string& path);
Status cgroup_add_pid(const std::string& path, pid_t pid);

// What this host can enforce with cgroup v2, one line per controller (gantry-oci
// cgroup-report), from /proc/self/mountinfo and <cgroup_root>/cgroup.controllers.
Result<std::string> cgroup_support_report(const std::string& cgroup_root);

}  // namespace gantry::runtime
