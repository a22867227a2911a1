// Cgroup v2 for containers, plan then apply (STYLE.md):
//   plan_cgroup()   pure: OCI linux.resources -> the exact files and values to write, in order,
//                   with the JSON path that asked for each, and the controllers they need.
//   Cgroup::create  apply: checks the host can enforce the plan, makes the directory,
//                   enables controllers down the tree, writes the values.
// cgroup_plan.cc holds the first, cgroup_host.cc the second and the host detection.
// Every kernel path is a parameter (cgroup root, mountinfo text) so tests use temp dirs.
//
// Cgroup v2 only (DESIGN.md). On a host without cgroup v2 at the root — this build host has
// cgroup v1 with a hybrid cgroup2 at /sys/fs/cgroup/unified — create() fails only when the
// plan actually asks for a limit, with a message that says what the host has; a plan with no
// limits gives an unmanaged Cgroup (managed() == false) whose operations are no-ops.
#pragma once

#include <sys/types.h>

#include <array>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/fd.h"

namespace gantry::runtime {

// The controllers Gantry uses, in the kernel's own order (cgroup.controllers lists them so).
inline constexpr std::array<std::string_view, 7> kCgroupControllers = {
    "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma"};

struct CgroupWrite {
    std::string file;        // "memory.max", relative to the container's cgroup directory
    std::string value;       // exactly what is written
    std::string controller;  // "memory"; "" for core cgroup.* files
    std::string source;      // JSON path that asked for it: "linux.resources.memory.limit"
    bool operator==(const CgroupWrite&) const = default;
};

struct CgroupPlan {
    std::string relative_path;             // "gantry/web", below the cgroup root, no leading /
    std::vector<CgroupWrite> writes;       // in the order they are written
    std::vector<std::string> controllers;  // needed controllers, in subtree_control order
    std::vector<std::string> warnings;     // fields accepted but meaningless on cgroup v2
    bool requests_limits() const { return !writes.empty(); }
};

// cpu.shares (v1, 2..262144, default 1024) -> cpu.weight (v2, 1..10000, default 100) with
// the formula crun and runc adopted in 2025 (crun #1767, opencontainers/cgroups #20): a
// quadratic in log2(shares) that maps 2 -> 1, 1024 -> 100, 262144 -> 10000. The older linear
// formula mapped the default 1024 to 39, starving containers against host services.
uint64_t cpu_shares_to_weight(uint64_t shares);
// blkio.weight (10..1000) -> io.weight (1..10000), linear as runc and crun do.
uint64_t blkio_weight_to_io_weight(uint64_t weight);

// OCI linux.resources (null or absent -> no limits). cgroups_path: the OCI cgroupsPath;
// "" means "gantry/<container_id>"; "/a/b" and "a/b" are both taken below the cgroup root;
// systemd "slice:prefix:name" paths are refused (no systemd on Gantry).
Result<CgroupPlan> plan_cgroup(const nlohmann::json& linux_resources, std::string_view cgroups_path,
                               std::string_view container_id, std::string_view path);

class Cgroup {
  public:
    // Validates the host against the plan (cgroup v2 at cgroup_root, every needed controller
    // available), then mkdir -p, "+controller" into each ancestor's cgroup.subtree_control,
    // and the plan's writes. An existing empty leaf is reused (a crash leftover); one with
    // processes in it is an error. Errors name the file, the value and the JSON path.
    static Result<Cgroup> create(const CgroupPlan& plan,
                                 const std::string& cgroup_root = "/sys/fs/cgroup");
    // As create(), with the mountinfo text used to explain a missing cgroup v2 (tests).
    static Result<Cgroup> create(const CgroupPlan& plan, const std::string& cgroup_root,
                                 const std::string& mountinfo);

    Cgroup() = default;
    Cgroup(Cgroup&&) = default;
    Cgroup& operator=(Cgroup&&) = default;

    // false: the host has no usable cgroup v2 and the plan asked for no limits.
    bool managed() const { return dir_.valid(); }
    // Writes to cgroup.procs. For a new container prefer clone3(CLONE_INTO_CGROUP, dir_fd()):
    // the child is then in the cgroup before it runs a single instruction.
    Status add_process(pid_t pid);
    // O_RDONLY|O_DIRECTORY fd of the cgroup (for CLONE_INTO_CGROUP and openat); -1 if unmanaged.
    int dir_fd() const { return dir_.get(); }
    // Absolute path of the cgroup directory; "" if unmanaged.
    const std::string& path() const { return path_; }
    // SIGKILL to every process: "1" into cgroup.kill (Linux 5.14+); without it, freeze,
    // signal each pid in cgroup.procs (frozen pids cannot exit and be reused), thaw.
    Status kill_all();
    // rmdir the container's directory (retrying briefly while the last processes exit).
    Status destroy();
    // Reads a file of the cgroup ("memory.current", "cgroup.events", ...).
    Result<std::string> read(const std::string& file) const;

  private:
    Cgroup(Fd dir, std::string path) : dir_(std::move(dir)), path_(std::move(path)) {}
    Status write(const std::string& file, std::string_view value, std::string_view source);

    Fd dir_;
    std::string path_;
};

// What a host can enforce, as read from mountinfo text and <mount>/cgroup.controllers.
struct HostCgroups {
    bool v2_at_root = false;                    // cgroup2 mounted at cgroup_root
    std::vector<std::string> root_controllers;  // cgroup.controllers at cgroup_root
    std::string hybrid_mount;                   // a cgroup2 mounted elsewhere (".../unified")
    std::vector<std::string> hybrid_controllers;
    std::vector<std::string> v1_controllers;  // controllers held by cgroup v1 hierarchies
};
HostCgroups detect_host_cgroups(const std::string& mountinfo, const std::string& cgroup_root);

// Human text: what is and is not enforceable here, one line per controller we use.
Result<std::string> host_cgroup_support_report(const std::string& mountinfo,
                                               const std::string& cgroup_root);

// The one-line explanation used in errors, e.g. "cgroup v2 is not mounted at /sys/fs/cgroup
// (this host has cgroup v1 with a hybrid cgroup2 at /sys/fs/cgroup/unified holding only:
// hugetlb)".
std::string describe_missing_cgroup2(const HostCgroups& host, const std::string& cgroup_root);

}  // namespace gantry::runtime
