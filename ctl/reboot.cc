// gantryctl reboot: stops every service in reverse dependency order, then reboots the machine.
#include "ctl/service_cmds.h"
#include "ctl/service_common.h"

namespace gantry::ctl {

int cmd_reboot(int argc, char** argv) {
    auto a = parse_args(argc, argv, {}, {});
    if (!a) {
        return usage_error("reboot", "reboot [--socket PATH]", a.error().str());
    }
    if (!a->positional.empty()) {
        return usage_error("reboot", "reboot [--socket PATH]", "takes no arguments");
    }
    return call(*a, "reboot", {{"cmd", "reboot"}}) ? 0 : 1;
}

}  // namespace gantry::ctl
