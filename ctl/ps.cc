// gantryctl ps: one line per service.
#include <fmt/format.h>

#include "base/units.h"
#include "ctl/service_cmds.h"
#include "ctl/service_common.h"

namespace gantry::ctl {

int cmd_ps(int argc, char** argv) {
    const char* usage = "ps [--socket PATH] [--output json|table]";
    auto a = parse_args(argc, argv, {}, {});
    if (!a) {
        return usage_error("ps", usage, a.error().str());
    }
    auto r = call(*a, "ps", {{"cmd", "ps"}});
    if (!r) {
        return 1;
    }
    if (a->json) {
        fmt::print("{}\n", (*r)["services"].dump(2));
        return 0;
    }
    fmt::print("{:<20} {:<10} {:<10} {:>8} {:>8} {:>10} {:>8}\n", "NAME", "STATE", "HEALTH",
               "RESTARTS", "UPTIME", "MEMORY", "PID");
    for (const auto& s : (*r)["services"]) {
        std::string mem =
            s["memory_bytes"].is_number() ? format_size(s["memory_bytes"].get<uint64_t>()) : "-";
        int pid = s.value("pid", 0);
        std::string health = s.value("health", "");
        fmt::print("{:<20} {:<10} {:<10} {:>8} {:>8} {:>10} {:>8}\n", s.value("name", ""),
                   s.value("state", ""), health.empty() ? "-" : health, s.value("restarts", 0),
                   human_duration(s.value("uptime_s", 0.0)), mem,
                   pid > 0 ? fmt::to_string(pid) : "-");
    }
    return 0;
}

}  // namespace gantry::ctl
