// What an image contributes to a service, and how the cloud-config overrides it.
//
// The image config gives defaults (Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts,
// StopSignal, Healthcheck); a service's settings override them by Docker Compose's rules:
//   - `entrypoint` replaces the image's Entrypoint and drops the image's Cmd (Docker's
//     --entrypoint does the same); `entrypoint: []` means none;
//   - `command` replaces Cmd; the process is Entrypoint + Cmd;
//   - `environment` is merged by key over the image's Env (service wins, order kept, new
//     keys appended); a key set to null is removed; PATH gets Docker's default if absent;
//   - `working_dir`, `user`, `stop_signal` replace the image's (defaults "/", "", SIGTERM);
//   - `expose` adds to the image's ExposedPorts ("80" means "80/tcp");
//   - `healthcheck` is merged field by field over the image's; `disable: true` or a test of
//     ["NONE"] turns it off; unset timings take Docker's defaults (30s, 30s, 0s, 3).
// Pure functions; the supervisor turns the result into a runtime spec.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/units.h"
#include "image/oci.h"

namespace gantry::image {

struct HealthcheckSpec {
    std::vector<std::string> test;  // ["CMD", ...] or ["CMD-SHELL", "..."]
    Duration interval{};
    Duration timeout{};
    Duration start_period{};
    int retries = 0;
};

struct HealthcheckOverride {
    bool disable = false;
    std::optional<std::vector<std::string>> test;
    std::optional<Duration> interval, timeout, start_period;
    std::optional<int> retries;
};

// A service's image-related settings as written in the cloud-config (all optional).
struct ServiceOverrides {
    std::optional<std::vector<std::string>> entrypoint;
    std::optional<std::vector<std::string>> command;
    std::vector<std::pair<std::string, std::optional<std::string>>> environment;
    std::optional<std::string> working_dir;
    std::optional<std::string> user;
    std::optional<std::string> stop_signal;
    std::vector<std::string> expose;
    std::optional<HealthcheckOverride> healthcheck;
};

struct ServiceDefaults {
    std::vector<std::string> argv;
    std::vector<std::string> env;  // KEY=VALUE
    std::string working_dir;
    std::string user;
    std::vector<std::string> exposed_ports;  // "80/tcp"
    std::string stop_signal;
    std::optional<HealthcheckSpec> healthcheck;
};

inline constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Image config + overrides → what to run. Errors: nothing to run, malformed env or port.
Result<ServiceDefaults> resolve_service(const ContainerConfig& image,
                                        const ServiceOverrides& service);

}  // namespace gantry::image
