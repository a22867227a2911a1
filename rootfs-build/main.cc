// gantry-build: builds what Gantry ships. A trivial dispatcher; each subcommand is a library.
#include <cstdio>
#include <cstring>

#include "rootfs-build/os_cmd.h"

int main(int argc, char** argv) {
    if (argc >= 2 && std::strcmp(argv[1], "os") == 0) {
        return os_command(argc - 1, argv + 1);
    }
    std::fprintf(stderr, "usage: gantry-build os ...   (the OS image: kernel + initramfs)\n");
    return 2;
}
