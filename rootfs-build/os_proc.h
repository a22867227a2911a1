// Running the few host tools the OS build relies on (apt-get, apt-cache, dpkg-deb, xz).
#pragma once

#include <string>
#include <vector>

#include "base/error.h"

namespace gantry::osimage {

// Runs argv[0] (searched in PATH) with stdin from /dev/null, waits, and returns its
// stdout. stderr passes through to ours so a person sees apt's own explanation. A non-zero
// exit is an error that names the command.
Result<std::string> run_capture(const std::vector<std::string>& argv, const std::string& cwd = "");

}  // namespace gantry::osimage
