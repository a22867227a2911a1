// `gantry-build os ...`: the OS image subcommand. argv[0] is "os".
#pragma once

int os_command(int argc, char** argv);
