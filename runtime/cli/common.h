// Shared bits of the gantry-oci subcommands (one file per subcommand, crun-style).
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "runtime/container.h"
#include "runtime/state.h"

namespace gantry::runtime::cli {

struct Globals {
    std::string root = "/run/gantry-oci";
    bool debug = false;
};

// argv[0] is the subcommand's name. Each returns the process exit code.
int cmd_create(const Globals& g, int argc, char** argv);
int cmd_start(const Globals& g, int argc, char** argv);
int cmd_state(const Globals& g, int argc, char** argv);
int cmd_kill(const Globals& g, int argc, char** argv);
int cmd_delete(const Globals& g, int argc, char** argv);
int cmd_run(const Globals& g, int argc, char** argv);
int cmd_exec(const Globals& g, int argc, char** argv);
int cmd_list(const Globals& g, int argc, char** argv);
int cmd_spec(const Globals& g, int argc, char** argv);
int cmd_cgroup_report(const Globals& g, int argc, char** argv);

// Prints "gantry-oci <cmd>: <error>" and returns 1.
int report(std::string_view cmd, const Error& e);
int usage_error(std::string_view cmd, std::string_view msg);

struct CreateArgs {
    std::string id;
    std::string bundle = ".";
    std::string pid_file;
};
// Parses `[--bundle DIR] [--pid-file FILE] ID` (runc's spellings, -b too).
Result<CreateArgs> parse_create_args(int argc, char** argv);

// create's body, shared with run. With `start_socket`, the init waits for `gantry-oci
// start`; without, the caller calls start(). The state file is written either way.
Result<Container> create_container(const Globals& g, const CreateArgs& a, bool start_socket);

// SIGTERM, "TERM", "15" -> 15.
Result<int> parse_signal(std::string_view s);

}  // namespace gantry::runtime::cli
