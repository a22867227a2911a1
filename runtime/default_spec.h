// The config.json that `gantry-oci spec` writes: Gantry's default container profile
// (docs/container-profile.md) in OCI form, for a rootfs at "rootfs" running `sh`.
#pragma once

#include <nlohmann/json.hpp>

namespace gantry::runtime {

struct DefaultSpecOptions {
    // Include process.capabilities and linux.seccomp. gantry-oci spec leaves them out when
    // this build has no security part (a spec asking for them could not run here).
    bool security = true;
};

nlohmann::json default_spec(const DefaultSpecOptions& options = {});

}  // namespace gantry::runtime
