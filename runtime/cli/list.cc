// gantry-oci list: one line per container, runc's columns.
#include <cstdio>

#include "runtime/cli/common.h"

namespace gantry::runtime::cli {

int cmd_list(const Globals& g, int argc, char**) {
    if (argc != 1) {
        return usage_error("list", "usage: list");
    }
    StateDir sd(g.root);
    auto ids = sd.list();
    if (!ids) {
        return report("list", ids.error());
    }
    fmt::print("{:<24} {:<8} {:<8} {:<40} {}\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
    for (const auto& id : *ids) {
        auto st = sd.load(id);
        if (!st) {
            continue;  // being created or deleted right now
        }
        std::string status = sd.status(*st);
        fmt::print("{:<24} {:<8} {:<8} {:<40} {}\n", id, status == "stopped" ? 0 : st->pid, status,
                   st->bundle, st->created);
    }
    return 0;
}

}  // namespace gantry::runtime::cli
