// gantryctl restart SERVICE...
#include "ctl/service_cmds.h"
#include "ctl/service_common.h"

namespace gantry::ctl {

int cmd_restart(int argc, char** argv) {
    return per_service(argc, argv, "restart");
}

}  // namespace gantry::ctl
