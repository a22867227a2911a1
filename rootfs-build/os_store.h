// Preloaded service images: OCI layouts or tars imported into an image store (the format
// of image/store.h) and carried in the initramfs at /var/lib/gantry/images, so a machine
// runs `image: gantry/web:1.0` with no registry and no network.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "rootfs-build/os_cpio.h"

namespace gantry::osimage {

inline constexpr const char* kImageStorePath = "var/lib/gantry/images";

// "[NAME=]PATH": NAME is the repository ("gantry/web") for the layout's own tags; without
// it the names inside the layout are used as they are.
struct PreloadImage {
    std::string name;
    std::string path;
};
PreloadImage parse_preload(const std::string& arg);

// Imports every image into a fresh store in a temp dir and adds the store to `a`. The
// store's timestamps become `epoch` and its staging files are left out, so the same
// images give the same bytes. Returns the names stored.
Result<std::vector<std::string>> add_image_store(CpioArchive& a,
                                                 const std::vector<PreloadImage>& images,
                                                 int64_t epoch);

}  // namespace gantry::osimage
