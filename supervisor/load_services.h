// TEMPORARY: services from a small JSON file, until the cloud-config loader lands.
//
// The lead replaces this with config::Config -> ServiceSpec; keep every caller going
// through load_services() so the swap is one function. The format mirrors Compose
// (docs/supervisor.md, "Temporary service file").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "supervisor/service_spec.h"

namespace gantry::supervisor {

Result<std::vector<ServiceSpec>> load_services(const std::string& path);
// The same from bytes; `origin` names the source in errors.
Result<std::vector<ServiceSpec>> parse_services(std::string_view json_text,
                                                std::string_view origin);

}  // namespace gantry::supervisor
