// gantry-oci spec [--bundle DIR]: write Gantry's default config.json.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fd.h"
#include "runtime/cli/common.h"
#include "runtime/default_spec.h"
#include "runtime/security_steps.h"

namespace gantry::runtime::cli {

int cmd_spec(const Globals&, int argc, char** argv) {
    std::string bundle = ".";
    for (int i = 1; i < argc; i++) {
        std::string_view a = argv[i];
        if ((a == "--bundle" || a == "-b") && i + 1 < argc) {
            bundle = argv[++i];
        } else {
            return usage_error("spec", "usage: spec [--bundle DIR]");
        }
    }
    std::string path = bundle + "/config.json";
    struct stat sb;
    if (::stat(path.c_str(), &sb) == 0) {
        return report("spec", Error::msg("{} already exists; remove it first", path));
    }
    DefaultSpecOptions o;
    o.security = security_built();
    auto r = write_file_atomic(path, default_spec(o).dump(2) + "\n", 0644);
    if (!r) {
        return report("spec", r.error());
    }
    return 0;
}

}  // namespace gantry::runtime::cli
