// Preloaded images' layers, unpacked at build time: the tree PID 1 would make at a
// service's first start (image/rootfs.h: ensure_layer, layers/sha256/<diff_id>), made by
// the same code here and carried in the initramfs, so the first start only mounts.
#pragma once

#include <ctime>
#include <string>
#include <vector>

#include "base/error.h"
#include "image/store.h"
#include "rootfs-build/os_cpio.h"

namespace gantry::osimage {

// Unpacks every layer of every image in `store` into the store's layers/. A layer the
// initramfs cannot carry as it is (xattrs, such as overlay's opaque directories or file
// capabilities; sockets) is removed again and stays packed. Returns one line per layer:
// "DIGEST unpacked" or "DIGEST packed: why". Needs root (owners, whiteout device nodes):
// without it nothing is unpacked and the lines say so.
Result<std::vector<std::string>> unpack_store_layers(const image::Store& store);

// Why the tree at `dir` cannot be carried by newc cpio as it is ("" when it can).
Result<std::string> cpio_unsafe(const std::string& dir);

// Adds the tree at `dir` (itself included) under `dest`, with every entry's type, mode,
// owner, mtime, hard links and device numbers as they are on disk. An mtime at or after
// `made_since` was not given by the layer (a directory the tar only implies, or one whose
// children the unpack created) but by the build's clock: it becomes the archive's own mtime
// (SOURCE_DATE_EPOCH), so the image stays reproducible.
Status add_tree(CpioArchive& a, const std::string& dir, const std::string& dest, time_t made_since);

}  // namespace gantry::osimage
