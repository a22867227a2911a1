// gantryctl: a thin main. Finds the subcommand in a table and hands it the rest of argv.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
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
               "  --vm NAME       the API of the VM `gantryctl vm up --name NAME` runs\n");
}

}  // namespace

int main(int argc, char** argv) {
    // Global options come before the command; the service commands read $GANTRY_SOCKET.
    // `--vm NAME` is the API of the VM that `gantryctl vm up --name NAME` runs.
    while (argc >= 3 &&
           (std::string_view(argv[1]) == "--socket" || std::string_view(argv[1]) == "--vm")) {
        std::string sock =
            std::string_view(argv[1]) == "--vm" ? vm_ctl_socket(argv[2]) : std::string(argv[2]);
        ::setenv("GANTRY_SOCKET", sock.c_str(), 1);
        argv[2] = argv[0];
        argc -= 2;
        argv += 2;
    }
    gantry::ctl::Args args(argv + 1, argv + argc);
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
