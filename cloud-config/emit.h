// The effective config, defaults filled in, as `gantryctl config show` and the API print it.
#pragma once

#include <string>

#include "cloud-config/model.h"

namespace gantry::config {

// Pretty JSON (2-space indent), keys as in the YAML file.
std::string to_json(const Config& c);
// The same tree as YAML; parse_config() of it gives back an equal Config.
std::string to_yaml(const Config& c);

}  // namespace gantry::config
