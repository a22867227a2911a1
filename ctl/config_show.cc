// gantryctl config show [--output yaml|json] [FILE]: the effective config with every
// default filled in. Without FILE, the config this machine would boot (the same source
// search as gantry-init), preceded by a comment saying where it came from.
#include <fmt/format.h>

#include <cstdio>

#include "base/fd.h"
#include "cloud-config/emit.h"
#include "cloud-config/parse.h"
#include "cloud-config/sources.h"
#include "ctl/commands.h"

namespace gantry::ctl {

int cmd_config_show(const Args& args) {
    std::string output = "yaml";
    std::string file;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if ((a == "--output" || a == "-o") && i + 1 < args.size()) {
            output = args[++i];
        } else if (a.rfind("--output=", 0) == 0) {
            output = a.substr(9);
        } else if (!a.empty() && a[0] == '-') {
            fmt::print(stderr, "gantryctl config show: unknown flag \"{}\"\n", a);
            return kExitUsage;
        } else if (file.empty()) {
            file = a;
        } else {
            fmt::print(stderr, "gantryctl config show: one FILE at most\n");
            return kExitUsage;
        }
    }
    if (output != "yaml" && output != "json") {
        fmt::print(stderr, "gantryctl config show: --output is yaml or json, not \"{}\"\n", output);
        return kExitUsage;
    }
    config::Config c;
    if (file.empty()) {
        config::Loaded loaded =
            config::load_config(config::SourcePaths{}, /*keep_last_good=*/false);
        if (!loaded.refused_errors.empty()) {
            fmt::print(stderr, "{}", config::format_diagnostics(loaded.refused_errors));
        }
        fmt::print(stderr, "{}\n", loaded.message);
        c = std::move(loaded.config);
    } else {
        auto bytes = read_file(file);
        if (!bytes) {
            fmt::print(stderr, "{}: {}\n", file, bytes.error().str());
            return kExitUsage;
        }
        auto parsed = config::parse_config(*bytes, file);
        if (!parsed) {
            fmt::print(stderr, "{}", config::format_diagnostics(parsed.error()));
            return kExitInvalid;
        }
        c = std::move(*parsed);
    }
    fmt::print("{}", output == "json" ? config::to_json(c) : config::to_yaml(c));
    return kExitOk;
}

}  // namespace gantry::ctl
