// Parsing and checking a cloud-config file: bytes in, a valid Config or every problem out.
//
// This is the code both boot (load_config) and `gantryctl config validate` run. It never
// throws: yaml-cpp's exceptions are caught here, at the part's border.
#pragma once

#include <string>
#include <string_view>

#include "cloud-config/diagnostics.h"

namespace gantry::config {

// Parses `bytes` (named `file` in diagnostics), fills in defaults, and validates the whole
// config (references, cycles, conflicts). Either every check passed or all problems are
// returned, sorted by position.
Checked parse_config(std::string_view bytes, const std::string& file);

}  // namespace gantry::config
