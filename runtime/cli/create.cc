// gantry-oci create: set up the container; its process waits on start.sock for `start`.
#include "runtime/cli/common.h"

namespace gantry::runtime::cli {

int cmd_create(const Globals& g, int argc, char** argv) {
    auto a = parse_create_args(argc, argv);
    if (!a) {
        return usage_error("create", a.error().str());
    }
    auto c = create_container(g, *a, true);
    if (!c) {
        return report("create", c.error());
    }
    // The init outlives us, as with runc: it is reparented to the nearest subreaper.
    (void)c->release();
    return 0;
}

}  // namespace gantry::runtime::cli
