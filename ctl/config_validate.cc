// gantryctl config validate FILE...: the boot's own parser and validator over each file;
// every error of every file is printed, and the exit code is 1 if any file is invalid.
#include <fmt/format.h>

#include <cstdio>

#include "base/fd.h"
#include "cloud-config/parse.h"
#include "ctl/commands.h"

namespace gantry::ctl {

int cmd_config_validate(const Args& args) {
    if (args.empty()) {
        fmt::print(stderr, "usage: gantryctl config validate FILE...\n");
        return kExitUsage;
    }
    int status = kExitOk;
    for (const auto& file : args) {
        auto bytes = read_file(file);
        if (!bytes) {
            fmt::print(stderr, "{}: {}\n", file, bytes.error().str());
            status = kExitUsage;
            continue;
        }
        auto c = config::parse_config(*bytes, file);
        if (!c) {
            fmt::print(stderr, "{}", config::format_diagnostics(c.error()));
            fmt::print(stderr, "{}: invalid ({} error{})\n", file, c.error().size(),
                       c.error().size() == 1 ? "" : "s");
            if (status == kExitOk) {
                status = kExitInvalid;
            }
            continue;
        }
        fmt::print("{}: ok ({} service{})\n", file, c->services.size(),
                   c->services.size() == 1 ? "" : "s");
    }
    return status;
}

}  // namespace gantry::ctl
