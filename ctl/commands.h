// gantryctl subcommands. Each lives in its own file (crun's src/create.c, src/run.c, ...)
// and gets the arguments after its name; it returns the process exit code.
//
// To add one: write ctl/GROUP_NAME.cc with `int cmd_group_name(const Args&)`, declare it
// here, and add a row to kCommands in main.cc.
#pragma once

#include <string>
#include <vector>

namespace gantry::ctl {

using Args = std::vector<std::string>;

// Exit codes: 0 ok, 1 the input is invalid (a config with errors), 2 usage or I/O error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitInvalid = 1;
inline constexpr int kExitUsage = 2;

int cmd_config_validate(const Args& args);
int cmd_config_show(const Args& args);

}  // namespace gantry::ctl
