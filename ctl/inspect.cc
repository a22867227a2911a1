// gantryctl inspect: the whole record of one service (spec, state, history) as JSON.
#include <fmt/format.h>

#include "ctl/service_cmds.h"
#include "ctl/service_common.h"

namespace gantry::ctl {

int cmd_inspect(int argc, char** argv) {
    const char* usage = "inspect [--socket PATH] SERVICE";
    auto a = parse_args(argc, argv, {}, {});
    if (!a) {
        return usage_error("inspect", usage, a.error().str());
    }
    if (a->positional.size() != 1) {
        return usage_error("inspect", usage, "name one service");
    }
    auto r = call(*a, "inspect", {{"cmd", "inspect"}, {"service", a->positional[0]}});
    if (!r) {
        return 1;
    }
    fmt::print("{}\n",
               (*r)["service"].dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    return 0;
}

}  // namespace gantry::ctl
