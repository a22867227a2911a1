// THROWAWAY test dispatcher for the service subcommands; the real ctl/main.cc belongs to
// the cloud-config branch. Removed before merge.
#include <fmt/format.h>

#include <cstdlib>
#include <string>

#include "ctl/service_cmds.h"

int main(int argc, char** argv) {
    using namespace gantry::ctl;
    int i = 1;
    while (i + 1 < argc && std::string(argv[i]) == "--socket") {
        setenv("GANTRY_SOCKET", argv[i + 1], 1);
        i += 2;
    }
    if (i >= argc) {
        for (int k = 0; k < kServiceCommandCount; ++k) {
            fmt::print("  {:<10} {}\n", kServiceCommands[k].name, kServiceCommands[k].summary);
        }
        return 2;
    }
    for (int k = 0; k < kServiceCommandCount; ++k) {
        if (argv[i] == std::string(kServiceCommands[k].name)) {
            return kServiceCommands[k].fn(argc - i, argv + i);
        }
    }
    fmt::print(stderr, "gantryctl: unknown command {}\n", argv[i]);
    return 2;
}
