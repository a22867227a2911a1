// Kernel modules listed by the OS image (docs/os-image.md, "Modules: the contract"):
// /etc/gantry/modules before the config is read, /etc/gantry/modules.late while services
// start. One absolute path a line, dependencies first; '#' comments.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gantry::init {

std::vector<std::string> parse_module_list(std::string_view text);

struct ModuleResult {
    int loaded = 0;
    std::vector<std::string> failed;  // "path: reason"
};

// finit_module(2) each, in order. EEXIST (built in / already loaded) and ENODEV (no such
// hardware, e.g. crc32c_intel under TCG) are not failures.
ModuleResult load_modules(const std::vector<std::string>& paths);
ModuleResult load_module_file(const std::string& list_path);

}  // namespace gantry::init
