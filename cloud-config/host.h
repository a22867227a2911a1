// Host bits of the config: host name, time zone, users and their SSH keys, write_files.
//
// Plan, then apply (STYLE.md): plan_host() reads the current /etc files under a root dir,
// decodes every file's content, resolves every owner and computes the full list of writes;
// nothing is touched until the whole plan exists. apply_host() then only writes, each file
// atomically (temp file, fsync, rename). Root is a parameter so unit tests use a temp dir.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "cloud-config/model.h"

namespace gantry::config {

struct DirOp {
    std::string path;  // relative to the root, absolute in form ("/home/core")
    mode_t mode = 0755;
    uid_t uid = 0;
    gid_t gid = 0;
};

struct FileOp {
    std::string path;  // relative to the root, absolute in form
    std::string data;  // decoded
    mode_t mode = 0644;
    uid_t uid = 0;
    gid_t gid = 0;
    bool append = false;
};

struct HostPlan {
    std::string hostname;       // empty: leave the kernel's
    std::string timezone;       // empty: leave /etc/localtime
    std::vector<DirOp> dirs;    // created in order, parents first
    std::vector<FileOp> files;  // /etc/passwd, group, shadow, keys, then write_files in order
};

struct HostOptions {
    std::string root = "/";
    bool set_kernel_hostname = true;  // sethostname(2); off in unit tests
    bool change_owner = true;         // fchown to the planned owner; needs root
};

// The user top-level ssh_authorized_keys are given to (CoreOS's default user).
inline constexpr std::string_view kDefaultUser = "core";

Result<HostPlan> plan_host(const Config& config, const std::string& root);
Status apply_host(const HostPlan& plan, const HostOptions& options);

// mkdir -p: creates `path` and missing parents (parents 0755, `path` itself `mode`).
Status make_dirs(const std::string& path, mode_t mode);

// Writes `data` to `path` atomically with exactly `mode` and owner (when change_owner):
// the temp file gets its mode and owner before the rename, so the file never exists with
// looser permissions. base's write_file_atomic applies the umask and no owner.
Status write_file_exact(const std::string& path, std::string_view data, mode_t mode, uid_t uid,
                        gid_t gid, bool change_owner);

}  // namespace gantry::config
