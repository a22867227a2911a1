// gantryctl start SERVICE...
#include "ctl/service_cmds.h"
#include "ctl/service_common.h"

namespace gantry::ctl {

int cmd_start(int argc, char** argv) {
    return per_service(argc, argv, "start");
}

}  // namespace gantry::ctl
