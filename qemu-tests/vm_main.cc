// gantry-vm: `gantryctl vm ...` as its own binary, for scripts/run and bench before (and
// besides) gantryctl's dispatcher: `gantry-vm up CONFIG.yaml` == `gantryctl vm up ...`.
#include "ctl/vm_cmd.h"

int main(int argc, char** argv) {
    return vm_command(argc, argv);
}
