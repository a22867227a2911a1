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

struct StoredImages {
    std::vector<std::string> names;   // the names stored, sorted
    std::vector<std::string> layers;  // per layer: "DIGEST unpacked" or "DIGEST packed: why"
};

// Imports every image into a fresh store in a temp dir and adds the store to `a`. The
// store's timestamps become `epoch` and its staging files are left out, so the same
// images give the same bytes.
//
// Each layer is also unpacked into the store's layers/ (image/rootfs.h: ensure_layer, the
// same code and layout PID 1 uses), so a service's first start mounts it without unpacking.
// newc cpio carries modes, owners, mtimes, symlinks, hard links, device nodes and fifos but
// no xattrs: a layer whose tree has any (overlay's opaque directories, file capabilities)
// stays packed, and PID 1 unpacks it at first start as it would without this. Unpacking
// needs root (owners, whiteout device nodes); without it every layer stays packed.
Result<StoredImages> add_image_store(CpioArchive& a, const std::vector<PreloadImage>& images,
                                     int64_t epoch);

}  // namespace gantry::osimage
