// gantryctl poweroff: stops every service in reverse dependency order, then poweroffs the machine.
#include "ctl/service_cmds.h"
#include "ctl/service_common.h"

namespace gantry::ctl {

int cmd_poweroff(int argc, char** argv) {
    auto a = parse_args(argc, argv, {}, {});
    if (!a) {
        return usage_error("poweroff", "poweroff [--socket PATH]", a.error().str());
    }
    if (!a->positional.empty()) {
        return usage_error("poweroff", "poweroff [--socket PATH]", "takes no arguments");
    }
    return call(*a, "poweroff", {{"cmd", "poweroff"}}) ? 0 : 1;
}

}  // namespace gantry::ctl
