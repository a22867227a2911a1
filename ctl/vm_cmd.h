// `gantryctl vm ...`: boot a config in a local QEMU VM. argv[0] is "vm".
//   gantryctl vm up CONFIG.yaml [--disk FILE|SIZE]... [--port HOST:GUEST]... [--name NAME]
//   gantryctl vm test CONFIG.yaml [--timeout DURATION]
#pragma once

#include <string>

int vm_command(int argc, char** argv);

// The API socket of the VM that `gantryctl vm up --name NAME` runs (`gantryctl --vm NAME`).
std::string vm_ctl_socket(const std::string& name);

// Where `vm up --name NAME` keeps NAME/ (ctl.sock, logs): $XDG_RUNTIME_DIR/gantry/vm,
// /run/gantry/vm as root, else /tmp/gantry-vm-UID.
std::string vm_state_root();
