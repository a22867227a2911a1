// SHA-256 (FIPS 180-4) of a buffer in memory, as lower-case hex. Built as its own library
// (gantry::sha256) with no dependencies, so a static binary can link it alone.
#pragma once

#include <string>
#include <string_view>

namespace gantry {

std::string sha256_hex(std::string_view data);

}  // namespace gantry
