// `gantryctl vm ...`: boot a config in a local QEMU VM. argv[0] is "vm".
//   gantryctl vm up CONFIG.yaml [--disk FILE|SIZE]... [--port HOST:GUEST]... [--name NAME]
//   gantryctl vm test CONFIG.yaml [--timeout DURATION]
#pragma once

#include <string>

int vm_command(int argc, char** argv);
// Where `vm up --name NAME` keeps NAME/ (ctl.sock, logs): $XDG_RUNTIME_DIR/gantry/vm,
// /run/gantry/vm as root, else /tmp/gantry-vm-UID.
std::string vm_state_root();
