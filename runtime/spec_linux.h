// The "linux" object of config.json: namespaces, id mappings, devices, masked and
// read-only paths, sysctls. Internal to the spec parser (spec.cc).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "runtime/spec.h"

namespace gantry::runtime {

// `notes` receives fields that are accepted but ignored.
Result<Linux> parse_linux(const nlohmann::json& j, std::vector<std::string>& notes);

}  // namespace gantry::runtime
