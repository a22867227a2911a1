// gantryctl exec SERVICE -- CMD...: runs a command inside the service, prints its output
// and exits with its exit code (128+signal when killed, 124 on timeout like timeout(1)).
#include <fmt/format.h>

#include "ctl/service_cmds.h"
#include "ctl/service_common.h"

namespace gantry::ctl {

int cmd_exec(int argc, char** argv) {
    const char* usage = "exec [--socket PATH] [--timeout DURATION] SERVICE -- CMD [ARG...]";
    auto a = parse_args(argc, argv, {"timeout"}, {});
    if (!a) {
        return usage_error("exec", usage, a.error().str());
    }
    std::vector<std::string> cmd = a->after_dashdash;
    std::vector<std::string> pos = a->positional;
    if (cmd.empty() && pos.size() > 1) {  // "exec web ls -l" without "--"
        cmd.assign(pos.begin() + 1, pos.end());
        pos.resize(1);
    }
    if (pos.size() != 1 || cmd.empty()) {
        return usage_error("exec", usage, "name one service and a command");
    }
    nlohmann::json req{{"cmd", "exec"}, {"service", pos[0]}, {"argv", cmd}};
    if (auto t = a->option("timeout")) {
        req["timeout"] = *t;
    }
    auto r = call(*a, "exec", req);
    if (!r) {
        return 1;
    }
    if (a->json) {
        fmt::print("{}\n", r->dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    } else {
        fmt::print("{}", (*r)["output"].get<std::string>());
    }
    if ((*r)["timed_out"] == true) {
        fmt::print(stderr, "gantryctl exec: timed out\n");
        return 124;
    }
    return (*r)["exit_code"].get<int>();
}

}  // namespace gantry::ctl
