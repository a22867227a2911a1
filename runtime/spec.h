// The OCI runtime-spec model (config.json): parsed, validated values.
//
// Only what Gantry runs is modelled; fields the runtime cannot honour are errors (a spec
// that asks for a terminal must not silently get none) or notes (apparmor: Gantry has no
// LSM profile loader, so the field is ignored and a note says so). Every error names the
// JSON path, e.g. `process.user.uid: expected an unsigned integer, got "root"`.
// The security objects (process.capabilities, linux.seccomp, linux.resources) are kept as
// raw JSON here and parsed by the security part (capabilities.h, seccomp.h, cgroup.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace gantry::runtime {

struct Rlimit {
    int resource = 0;  // RLIMIT_*
    std::string type;  // "RLIMIT_NOFILE", kept for messages
    uint64_t soft = 0;
    uint64_t hard = 0;
};

struct User {
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::vector<uint32_t> additional_gids;
    std::optional<mode_t> umask;
};

struct Process {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string cwd = "/";
    User user;
    std::vector<Rlimit> rlimits;
    bool no_new_privileges = false;
    std::optional<int> oom_score_adj;
    nlohmann::json capabilities;  // null when absent; see capabilities.h
};

struct Root {
    std::string path;  // absolute once loaded from a bundle
    bool readonly = false;
};

struct Mount {
    std::string destination;
    std::string type;
    std::string source;
    std::vector<std::string> options;
};

enum class NsType { Pid, Network, Mount, Ipc, Uts, User, Cgroup, Time };

struct Namespace {
    NsType type = NsType::Pid;
    std::string path;  // join this namespace instead of creating one
};

struct IdMapping {
    uint32_t container_id = 0;
    uint32_t host_id = 0;
    uint32_t size = 0;
};

struct Device {
    std::string path;
    char type = 'c';  // 'c' (or 'u'), 'b', 'p'
    int64_t major = 0;
    int64_t minor = 0;
    std::optional<mode_t> file_mode;
    std::optional<uint32_t> uid;
    std::optional<uint32_t> gid;
};

struct Linux {
    std::vector<Namespace> namespaces;
    std::vector<IdMapping> uid_mappings;
    std::vector<IdMapping> gid_mappings;
    std::vector<Device> devices;
    std::vector<std::string> masked_paths;
    std::vector<std::string> readonly_paths;
    std::map<std::string, std::string> sysctl;
    std::string rootfs_propagation;  // "" = runtime default (rslave on the host's /)
    std::string cgroups_path;
    nlohmann::json resources;  // null when absent; see cgroup.h
    nlohmann::json seccomp;    // null when absent; see seccomp.h

    bool has_namespace(NsType t) const;
    const Namespace* find_namespace(NsType t) const;
};

struct Spec {
    std::string oci_version;
    Process process;
    Root root;
    std::string hostname;
    std::vector<Mount> mounts;
    Linux linux_;  // `linux` is a predefined macro in GNU mode
    std::map<std::string, std::string> annotations;
    // Things accepted but not acted on, for the caller to log ("process.apparmorProfile:
    // ignored, Gantry loads no AppArmor profiles").
    std::vector<std::string> notes;
};

// Parses config.json bytes. root.path stays as written (may be relative to the bundle).
Result<Spec> parse_spec(std::string_view json_text);
Result<Spec> parse_spec_json(const nlohmann::json& j);
// Reads <bundle>/config.json and makes root.path absolute against the bundle.
Result<Spec> load_bundle(const std::string& bundle_dir);

// Parses a single OCI "process" object (gantry-oci exec --process); `path` prefixes errors.
Result<Process> parse_process(const nlohmann::json& j, std::string_view path);

std::string_view ns_type_name(NsType t);  // "pid", "network", ...
int ns_clone_flag(NsType t);              // CLONE_NEWPID, ...

// Lexically normalises an absolute path ("/a/./b/../c" -> "/a/c"); fails on a relative
// path or one whose ".." climbs above "/" (which, inside a rootfs, means "outside it").
Result<std::string> normalize_abs_path(std::string_view p);

}  // namespace gantry::runtime
