// gantryctl: a thin main. Finds the subcommand in a table and hands it the rest of argv.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "ctl/commands.h"
#include "ctl/image_cmd.h"
#include "ctl/kv_cmd.h"
#include "ctl/service_cmds.h"
#include "ctl/vm_cmd.h"

namespace {

struct Command {
    std::string_view group;
    std::string_view name;
    int (*run)(const gantry::ctl::Args&);
    std::string_view usage;
};

// `config status` lives with the service commands (it asks the API); argv[0] = "status".
int config_status(const gantry::ctl::Args& args) {
    std::vector<char*> argv;
    std::string name = "config-status";
    argv.push_back(name.data());
    for (const auto& a : args) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    return gantry::ctl::cmd_config_status(static_cast<int>(argv.size() - 1), argv.data());
}

constexpr Command kCommands[] = {
    {"config", "validate", gantry::ctl::cmd_config_validate,
     "config validate FILE...          check configs; errors as FILE:LINE:COLUMN"},
    {"config", "show", gantry::ctl::cmd_config_show,
     "config show [--output yaml|json] [FILE]   the effective config, defaults filled in"},
    {"config", "status", config_status,
     "config status [--output json]     which config is running, from where, what was refused"},
};

// image_command takes argv starting at the subcommand.
int image_group(int argc, char** argv) {
    return gantry::ctl::image_command(argc - 1, argv + 1);
}

// Command groups that parse their own argv (argv[0] is the group name).
struct Group {
    std::string_view name;
    int (*run)(int argc, char** argv);
    std::string_view usage;
};

constexpr Group kGroups[] = {
    {"kv", gantry::ctl::kv_cli_main,
     "kv get|put|del|watch|lease|txn ...   the discovery store (gantryctl kv --help)"},
    {"image", image_group, "image ls|import|pull|inspect|rm|prune ...   the local image store"},
    {"vm", vm_command, "vm up|test CONFIG.yaml ...        boot a config in a local QEMU VM"},
};

void usage(FILE* out) {
    fmt::print(out, "usage: gantryctl COMMAND [ARGS...]\n\ncommands:\n");
    for (const auto& c : kCommands) {
        fmt::print(out, "  {}\n", c.usage);
    }
    for (const auto& g : kGroups) {
        fmt::print(out, "  {}\n", g.usage);
    }
    for (int i = 0; i < gantry::ctl::kServiceCommandCount; ++i) {
        const auto& c = gantry::ctl::kServiceCommands[i];
        fmt::print(out, "  {:<33}{}\n", c.name, c.summary);
    }
    fmt::print(out,
               "\nglobal options (before COMMAND):\n"
               "  --socket PATH   the API socket (default /run/gantry/api.sock, or "
               "$GANTRY_SOCKET)\n"
               "  --vm NAME       the API of `gantryctl vm up --name NAME` (its ctl.sock); with\n"
               "                  either, `kv` reaches that machine's store through the API\n");
}

// `gantryctl --vm NAME kv ...` (or --socket PATH): the store of that gantry-init, which
// is on its machine only (/run/gantry/kv.sock, 127.0.0.1:2379). The API carries it: the
// same command runs as `gantryctl exec gantry-kv -- /usr/bin/gantryctl kv ...` (the
// built-in store is a host process with gantryctl beside it). exec has no stdin, so a txn
// body read here goes along as --data.
int kv_through_api(int argc, char** argv) {
    std::vector<std::string> a = {"exec", "--timeout",          "60s", "gantry-kv",
                                  "--",   "/usr/bin/gantryctl", "kv"};
    a.insert(a.end(), argv + 1, argv + argc);
    bool txn = a.size() > 7 && a[7] == "txn";
    bool data = std::find(a.begin() + 7, a.end(), "--data") != a.end();
    bool help = std::find(a.begin() + 7, a.end(), "--help") != a.end();
    if (help || argc < 2) {
        return gantry::ctl::kv_cli_main(argc, argv);
    }
    if (txn && !data) {
        a.push_back("--data");
        a.emplace_back(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    std::vector<char*> v;
    for (auto& s : a) {
        v.push_back(s.data());
    }
    v.push_back(nullptr);
    return gantry::ctl::cmd_exec(static_cast<int>(a.size()), v.data());
}

}  // namespace

int main(int argc, char** argv) {
    // Global options come before the command; the service commands read $GANTRY_SOCKET.
    bool remote = false;
    while (argc >= 3 &&
           (std::string_view(argv[1]) == "--socket" || std::string_view(argv[1]) == "--vm")) {
        std::string path = argv[2];
        if (std::string_view(argv[1]) == "--vm") {
            path = vm_ctl_socket(path);
        }
        ::setenv("GANTRY_SOCKET", path.c_str(), 1);
        remote = true;
        argv[2] = argv[0];
        argc -= 2;
        argv += 2;
    }
    gantry::ctl::Args args(argv + 1, argv + argc);
    if (remote && !args.empty() && args[0] == "kv") {
        return kv_through_api(argc - 1, argv + 1);
    }
    if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
        usage(args.empty() ? stderr : stdout);
        return args.empty() ? gantry::ctl::kExitUsage : gantry::ctl::kExitOk;
    }
    for (const auto& g : kGroups) {
        if (args[0] == g.name) {
            return g.run(argc - 1, argv + 1);
        }
    }
    for (int i = 0; i < gantry::ctl::kServiceCommandCount; ++i) {
        const auto& c = gantry::ctl::kServiceCommands[i];
        if (args[0] == c.name) {
            return c.fn(argc - 1, argv + 1);
        }
    }
    for (const auto& c : kCommands) {
        if (args.size() >= 2 && args[0] == c.group && args[1] == c.name) {
            return c.run(gantry::ctl::Args(args.begin() + 2, args.end()));
        }
    }
    fmt::print(stderr, "gantryctl: unknown command \"{}{}{}\"\n\n", args[0],
               args.size() > 1 ? " " : "", args.size() > 1 ? args[1] : "");
    usage(stderr);
    return gantry::ctl::kExitUsage;
}
