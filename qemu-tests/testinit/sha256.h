// SHA-256 (FIPS 180-4), so the test init can prove the config arrived byte for byte
// without linking a crypto library into a static PID 1.
#pragma once

#include <string>
#include <string_view>

namespace gantry::testinit {

// Lower-case hex digest.
std::string sha256_hex(std::string_view data);

}  // namespace gantry::testinit
