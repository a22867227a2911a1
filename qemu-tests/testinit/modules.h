// Loading the kernel modules listed by the image builder (/etc/gantry/modules: one
// absolute path a line, dependencies first). Kept free of gantry_base so it links into a
// static PID 1; the init engineer may lift it into init/ as is.
#pragma once

#include <string>
#include <vector>

namespace gantry::testinit {

struct ModuleLoadResult {
    int loaded = 0;
    int already = 0;                  // EEXIST: built in or loaded before
    int no_device = 0;                // ENODEV: the hardware is not there; not an error
    std::vector<std::string> failed;  // "path: strerror"
};

// Parses the list: blank lines and '#' comments are skipped.
std::vector<std::string> parse_module_list(const std::string& text);

// finit_module(2) for each path in order. A failure is recorded and the rest still load:
// a missing optional driver must not keep the machine from booting.
ModuleLoadResult load_modules(const std::vector<std::string>& paths);

}  // namespace gantry::testinit
