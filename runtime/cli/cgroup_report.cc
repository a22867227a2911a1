// gantry-oci cgroup-report [--cgroup-root DIR]: what this host can enforce of a spec's
// linux.resources. Gantry is cgroup v2 only, and a requested limit the host cannot enforce is
// an error at create; this tells a user which limits will work before they write a spec.
#include <cstdio>

#include "runtime/cli/common.h"
#include "runtime/security_steps.h"

namespace gantry::runtime::cli {

int cmd_cgroup_report(const Globals&, int argc, char** argv) {
    std::string root = "/sys/fs/cgroup";
    for (int i = 1; i < argc; i++) {
        std::string_view a = argv[i];
        if (a == "--cgroup-root" && i + 1 < argc) {
            root = argv[++i];
        } else {
            return usage_error("cgroup-report", "usage: cgroup-report [--cgroup-root DIR]");
        }
    }
    auto r = cgroup_support_report(root);
    if (!r) {
        return report("cgroup-report", r.error());
    }
    fmt::print("{}", *r);
    return 0;
}

}  // namespace gantry::runtime::cli
