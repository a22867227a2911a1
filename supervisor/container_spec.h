// ServiceSpec -> runtime::Spec (as OCI config.json): pure, unit-tested without root.
//
// Starts from Gantry's default profile (runtime::default_spec: default capabilities,
// masked and read-only paths, no_new_privileges, the usual /proc /dev /sys mounts) plus the
// default seccomp profile, then applies the service: argv/env/cwd/user, hostname,
// namespaces (network shared with the host only for network_mode: host), volumes as binds,
// tmpfs, NOTIFY_SOCKET, caps from cap_add/cap_drop, privileged, ulimits, sysctls and the
// cgroup limits.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"
#include "runtime/spec.h"
#include "supervisor/service_spec.h"

namespace gantry::supervisor {

// Where the supervisor's NOTIFY_SOCKET appears inside a container.
inline constexpr std::string_view kContainerNotifySocket = "/run/gantry-notify.sock";

struct ContainerSpecInput {
    std::string rootfs;         // absolute, already mounted
    uint32_t uid = 0, gid = 0;  // spec.user resolved against the image's /etc/passwd
    std::vector<uint32_t> additional_gids;
    std::string notify_socket;  // host path; "" = none
    std::string cgroups_path;   // OCI cgroupsPath; "" = runtime default gantry/<id>
};

Result<nlohmann::json> container_spec_json(const ServiceSpec& spec, const ContainerSpecInput& in);
Result<runtime::Spec> container_spec(const ServiceSpec& spec, const ContainerSpecInput& in);

// "uid[:gid]" or "name[:group]", names looked up in the rootfs's /etc/passwd and
// /etc/group (bytes passed in, so tests need no files). "" = root.
struct UserIds {
    uint32_t uid = 0, gid = 0;
};
Result<UserIds> resolve_container_user(std::string_view user, std::string_view passwd,
                                       std::string_view group);

}  // namespace gantry::supervisor
