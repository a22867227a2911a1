// gantryctl's service subcommands, one file each (ps.cc, logs.cc, ...). The dispatcher in
// ctl/main.cc calls cmd_<name>(argc, argv) with argv[0] = the subcommand name and the
// rest its arguments; each returns the process exit code.
//
// Socket: `--socket PATH` among the arguments, else $GANTRY_SOCKET (the dispatcher sets
// it from the global --socket option), else /run/gantry/api.sock.
#pragma once

namespace gantry::ctl {

int cmd_ps(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_logs(int argc, char** argv);
int cmd_start(int argc, char** argv);
int cmd_stop(int argc, char** argv);
int cmd_restart(int argc, char** argv);
int cmd_exec(int argc, char** argv);
int cmd_events(int argc, char** argv);
int cmd_poweroff(int argc, char** argv);
int cmd_reboot(int argc, char** argv);
// `gantryctl config status` (argv[0] = "config-status" or "status").
int cmd_config_status(int argc, char** argv);

// For the dispatcher's help text: {name, one-line summary}.
struct ServiceCommand {
    const char* name;
    int (*fn)(int, char**);
    const char* summary;
};
extern const ServiceCommand kServiceCommands[];
extern const int kServiceCommandCount;

}  // namespace gantry::ctl
