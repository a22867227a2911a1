// gantry-build: builds what Gantry ships. A trivial dispatcher; each subcommand is a library.
//   gantry-build os ...      the OS image: kernel + initramfs (docs/os-image.md)
//   gantry-build image ...   OCI images for services (docs/images.md)
#include <cstdio>
#include <cstring>

#include "rootfs-build/image_cmd.h"
#include "rootfs-build/os_cmd.h"

int main(int argc, char** argv) {
    if (argc >= 2 && std::strcmp(argv[1], "os") == 0) {
        return os_command(argc - 1, argv + 1);
    }
    if (argc >= 2 && std::strcmp(argv[1], "image") == 0) {
        return image_command(argc - 2, argv + 2);
    }
    std::fprintf(stderr,
                 "usage: gantry-build os ...      the OS image: kernel + initramfs\n"
                 "       gantry-build image --spec SPEC.json --out LAYOUT_DIR [--tar FILE.tar]\n");
    return 2;
}
