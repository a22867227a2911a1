// config::Config -> ServiceSpec: the one place where the cloud-config's services become the
// supervisor's input (DESIGN.md: supervisor turns config structs into per-part specs).
//
// Compose semantics, merged with the image's defaults by image::resolve_service():
// `entrypoint` replaces the image's Entrypoint and drops its Cmd, `command` replaces Cmd,
// `environment` (after `env_file`) is merged by key over the image's Env, `working_dir`,
// `user`, `stop_signal` replace the image's, and a `healthcheck` written in the config
// replaces the image's whole (the config model fills defaults, so which timing fields were
// written is not known; `disable: true` turns the image's off).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "cloud-config/model.h"
#include "image/oci.h"
#include "supervisor/service_spec.h"

namespace gantry::supervisor {

// Finds an image in the store and returns its config. Called once per distinct image at
// load. ENOENT (not in the store, or a transport reference not imported yet) leaves the
// service pending: the supervisor waits for the image helper and maps it again
// (PendingImage). Any other error leaves the service with `image_error` (it then fails
// at start with that message) instead of refusing the whole config.
using ImageLookup = std::function<Result<image::ContainerConfig>(std::string_view image)>;

struct FromConfigOptions {
    // Relative `env_file` paths are read from here (the directory of the config file).
    std::string base_dir = "/";
    // Named volumes (`data:/var/lib/x`) become <volumes_dir>/<name> on the host.
    std::string volumes_dir = "/var/lib/gantry/volumes";
    // null: no image lookup; argv is entrypoint + command as written.
    ImageLookup lookup;
};

struct PendingImage {
    config::Service service;
    FromConfigOptions options;
};

// Maps a pending service again with its image's config, now that the store has it.
Result<ServiceSpec> resolve_pending_image(const PendingImage& p,
                                          const image::ContainerConfig& image_config);

// One service. Fails only on the config's own problems (an unreadable env_file, a bad
// image reference); image problems go to spec.image_error.
Result<ServiceSpec> service_from_config(const config::Service& svc, const FromConfigOptions& opts,
                                        const image::ContainerConfig* image_config);

// Every service of the config, in the config's order (sorted by name).
Result<std::vector<ServiceSpec>> services_from_config(const config::Config& cfg,
                                                      const FromConfigOptions& opts);

// Parses an env_file's bytes: KEY=VALUE lines, `#` comments and blank lines skipped, a
// `KEY` alone takes nothing (Compose reads the caller's env; PID 1 has none worth passing).
Result<std::vector<std::pair<std::string, std::string>>> parse_env_file(std::string_view bytes,
                                                                        std::string_view origin);

}  // namespace gantry::supervisor
