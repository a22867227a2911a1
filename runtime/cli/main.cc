// gantry-oci: a runc-compatible CLI over libgantry-runtime. Flags in, library calls out.
#include <getopt.h>
#include <string.h>

#include <cstdio>
#include <string_view>

#include "runtime/cli/common.h"
#include "runtime/security_steps.h"

namespace {

using namespace gantry::runtime::cli;

constexpr const char* kUsage =
    "usage: gantry-oci [--root DIR] COMMAND [ARGS]\n"
    "\n"
    "  create [--bundle DIR] [--pid-file FILE] ID   set up a container, do not run it\n"
    "  start ID                                     run the created container's process\n"
    "  state ID                                     print the OCI state JSON\n"
    "  kill ID [SIGNAL]                             send SIGNAL (default SIGTERM)\n"
    "  delete [--force] ID                          remove a stopped container\n"
    "  run [--bundle DIR] [--pid-file FILE] ID      create + start + wait; exits with its status\n"
    "  exec [--process FILE] [--env K=V] [--cwd DIR] ID [CMD ARGS...]\n"
    "  list                                         list containers\n"
    "  spec [--bundle DIR]                          write a default config.json\n"
    "  cgroup-report [--cgroup-root DIR]            which resource limits this host enforces\n"
    "\n"
    "  --root DIR   state directory (default /run/gantry-oci)\n";

struct Command {
    std::string_view name;
    int (*fn)(const Globals&, int, char**);
};

constexpr Command kCommands[] = {
    {"create", cmd_create}, {"start", cmd_start},
    {"state", cmd_state},   {"kill", cmd_kill},
    {"delete", cmd_delete}, {"run", cmd_run},
    {"exec", cmd_exec},     {"list", cmd_list},
    {"spec", cmd_spec},     {"cgroup-report", cmd_cgroup_report},
};

}  // namespace

int main(int argc, char** argv) {
    Globals g;
    static const struct option opts[] = {
        {"root", required_argument, nullptr, 'r'},
        {"debug", no_argument, nullptr, 'd'},
        // Accepted for callers that pass runc's logging flags; gantry-oci logs to stderr.
        {"log", required_argument, nullptr, 'l'},
        {"log-format", required_argument, nullptr, 'f'},
        {"systemd-cgroup", no_argument, nullptr, 's'},
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    int c;
    // "+": stop at the first non-option, the subcommand; its flags are its own.
    while ((c = ::getopt_long(argc, argv, "+h", opts, nullptr)) != -1) {
        switch (c) {
            case 'r':
                g.root = optarg;
                break;
            case 'd':
                g.debug = true;
                break;
            case 'l':
            case 'f':
                break;
            case 's':
                fmt::print(stderr, "gantry-oci: --systemd-cgroup: not supported\n");
                return 2;
            case 'h':
                fmt::print("{}", kUsage);
                return 0;
            default:
                fmt::print(stderr, "{}", kUsage);
                return 2;
        }
    }
    if (optind >= argc) {
        fmt::print(stderr, "{}", kUsage);
        return 2;
    }
    std::string_view cmd = argv[optind];
    // Every run is a new process, so the library's in-memory seccomp cache never hits here;
    // a file under --root does (docs/runtime.md, Benchmark).
    gantry::runtime::set_seccomp_cache_dir(
        fmt::format("{}/{}", g.root, gantry::runtime::kSeccompCacheDirName));
    for (const auto& k : kCommands) {
        if (k.name == cmd) {
            return k.fn(g, argc - optind, argv + optind);
        }
    }
    fmt::print(stderr, "gantry-oci: unknown command \"{}\"\n{}", cmd, kUsage);
    return 2;
}
