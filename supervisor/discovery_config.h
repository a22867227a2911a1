// The config's `kv:` section -> where discovery registers, and (PID 1, embedded) the
// built-in gantry-kv service. Kept beside from_config: config structs become specs here.
#pragma once

#include <optional>
#include <string>

#include "cloud-config/model.h"
#include "supervisor/discovery.h"
#include "supervisor/service_spec.h"

namespace gantry::supervisor {

inline constexpr const char* kEmbeddedKvName = "gantry-kv";
inline constexpr const char* kEmbeddedKvSocket = "/run/gantry/kv.sock";

struct DiscoveryPlan {
    bool enabled = false;
    DiscoveryOptions options;
    std::string why;  // for the log: where it registers, or why it does not
};

// `endpoint_flag` (gantry-init --kv-endpoint) replaces the embedded store's endpoints;
// host mode registers only with an etcd backend or with that flag (it runs no gantry-kv).
DiscoveryPlan plan_discovery(const config::Kv& kv, bool pid1, const std::string& endpoint_flag);

// Where the embedded store keeps its data: /var/lib/gantry/kv when /var/lib is on a
// persistent file system (not tmpfs/ramfs: the initramfs root), else /run/gantry/kv.
std::string embedded_kv_data_dir(const std::string& var_lib = "/var/lib",
                                 const std::string& run = "/run/gantry");

// PID 1 with `kv.backend: embedded`: gantry-kv as a host process, restarted always, on
// the unix socket and 127.0.0.1:2379. nullopt when the binary is missing.
std::optional<ServiceSpec> embedded_kv_service(const std::string& binary,
                                               const std::string& data_dir);

}  // namespace gantry::supervisor
