// gantry-oci state: the OCI state JSON, with the status read from the kernel.
#include <cstdio>

#include "runtime/cli/common.h"

namespace gantry::runtime::cli {

int cmd_state(const Globals& g, int argc, char** argv) {
    if (argc != 2) {
        return usage_error("state", "usage: state ID");
    }
    StateDir sd(g.root);
    auto st = sd.load(argv[1]);
    if (!st) {
        return report("state", st.error());
    }
    fmt::print("{}\n", st->oci_json(sd.status(*st)).dump(2));
    return 0;
}

}  // namespace gantry::runtime::cli
