// The state directory of gantry-oci (--root, default /run/gantry-oci): one directory per
// container holding state.json and, while the container is "created", start.sock.
//
// The status is never stored: it is read from the kernel each time (is the pid alive, and is
// it still the process we started, by its start time; is start.sock still there), so a
// container that died while nobody watched reads "stopped", not a stale "running".
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/pidfd.h"

namespace gantry::runtime {

// A directory in the state root that is not a container: gantry-oci's cache of compiled
// seccomp programs. The name is reserved (validate_container_id refuses it; list skips it).
inline constexpr std::string_view kSeccompCacheDirName = ".seccomp-cache";

struct ContainerState {
    std::string oci_version;
    std::string id;
    pid_t pid = 0;
    uint64_t start_time = 0;  // /proc/<pid>/stat field 22, to tell a reused pid apart
    std::string bundle;
    std::string cgroup_path;
    std::string created;  // RFC 3339
    std::map<std::string, std::string> annotations;

    nlohmann::json to_json() const;  // our file format (a superset of the OCI state)
    static Result<ContainerState> from_json(const nlohmann::json& j);
    // The OCI state document, with the live status.
    nlohmann::json oci_json(std::string_view status) const;
};

// Parses /proc/<pid>/stat bytes: the process state letter and the start time (field 22).
// The comm field may hold spaces and parentheses, so fields count from the last ')'.
struct ProcStat {
    char state = '?';
    uint64_t start_time = 0;
};
Result<ProcStat> parse_proc_stat(std::string_view text);

class StateDir {
  public:
    explicit StateDir(std::string root) : root_(std::move(root)) {}

    const std::string& root() const { return root_; }
    std::string dir(const std::string& id) const { return root_ + "/" + id; }
    std::string start_socket(const std::string& id) const { return dir(id) + "/start.sock"; }

    // Checks the id (no '/', not "." or "..", not empty) and creates its directory; fails
    // with "already exists" if it is taken (mkdir is the atomic test).
    Status reserve(const std::string& id) const;
    Status save(const ContainerState& st) const;
    // "container \"x\" does not exist" when unknown.
    Result<ContainerState> load(const std::string& id) const;
    Status remove(const std::string& id) const;
    Result<std::vector<std::string>> list() const;

    // "created", "running" or "stopped", from the kernel.
    std::string status(const ContainerState& st) const;
    // A pidfd for the container's init, if it is still the process we started.
    Result<std::optional<PidFd>> open_init(const ContainerState& st) const;

  private:
    std::string root_;
};

Status validate_container_id(const std::string& id);
// The start time of a live process, or 0 if it is gone.
uint64_t process_start_time(pid_t pid);
std::string now_rfc3339();

}  // namespace gantry::runtime
