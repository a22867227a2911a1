// `gantryctl vm ...`: boot a config in a local QEMU VM. argv[0] is "vm".
//   gantryctl vm up CONFIG.yaml [--disk FILE|SIZE]... [--port HOST:GUEST]... [--name NAME]
//   gantryctl vm test CONFIG.yaml [--timeout DURATION]
#pragma once

int vm_command(int argc, char** argv);
