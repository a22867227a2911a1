// gantryctl stop SERVICE...
#include "ctl/service_cmds.h"
#include "ctl/service_common.h"

namespace gantry::ctl {

int cmd_stop(int argc, char** argv) {
    return per_service(argc, argv, "stop");
}

}  // namespace gantry::ctl
