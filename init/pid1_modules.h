// Kernel modules listed by the OS image (docs/os-image.md, "Modules: the contract"):
// /etc/gantry/modules before the config is read, /etc/gantry/modules.late while services
// start. One absolute path a line, dependencies first; '#' comments.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

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

// /etc/gantry/modules.dep: every module the image ships (loaded at boot or not) and every
// module built into the kernel, so a name from the config's kernel.modules can be loaded
// with its dependencies first, or known to need nothing. One module a line:
//   NAME PATH [DEPENDENCY ...]      dependencies by name
//   NAME builtin
inline constexpr const char* kModuleIndexPath = "/etc/gantry/modules.dep";

struct ModuleIndex {
    struct Entry {
        std::string path;  // "" when built in
        std::vector<std::string> depends;
    };
    std::map<std::string, Entry> modules;
};

// "nls-cp437" -> "nls_cp437": the kernel treats '-' and '_' alike in module names.
std::string module_name(std::string_view name);
ModuleIndex parse_module_index(std::string_view text);

// The files to load for `name`, dependencies first, each once; empty when built in. An
// error names what the image does not ship.
Result<std::vector<std::string>> module_files(const ModuleIndex& index, std::string_view name);

// How loading one module by name went.
enum class ModuleOutcome { loaded, already_loaded, builtin, failed };
struct NamedModule {
    std::string name;
    ModuleOutcome outcome = ModuleOutcome::failed;
    std::string error;  // for failed: what and why
};
std::string_view to_string(ModuleOutcome o);

// Loads each name with its dependencies (finit_module), in the order given.
std::vector<NamedModule> load_named_modules(const ModuleIndex& index,
                                            const std::vector<std::string>& names);

}  // namespace gantry::init
