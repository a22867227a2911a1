// Container root filesystems: each image layer is unpacked once into the store
// (layers/sha256/<diff_id>, with overlayfs whiteouts) and shared by every image and
// container that uses it; a container's root is an overlayfs of those layers plus its own
// upper/work directories, or just the layers when read-only.
//
// This header is the unpacking side (gantry_image, full: libarchive); the mounting side
// that PID 1 uses is overlay.h (gantry_image_store).
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "image/digest.h"
#include "image/overlay.h"
#include "image/store.h"
#include "image/unpack.h"

namespace gantry::image {

// Unpacks one layer into the store if it is not there yet and returns its directory.
// The diff_id is verified during the unpack; the directory appears by rename, complete.
Result<std::string> ensure_layer(const Store& store, const Descriptor& layer,
                                 const Digest& diff_id);

// Unpacks every layer of the image that is not in the store yet.
Status ensure_layers(const Store& store, const Image& image);

// The whole path for a service: unpack missing layers, record which layers the container
// uses (so GC keeps them), plan, mount.
Result<OverlayPlan> prepare_rootfs(const Store& store, const Image& image,
                                   const std::string& container_id, const std::string& target,
                                   bool read_only);
// Applies all of an image's layers, base first, into one plain tree at `target_dirfd`
// (whiteouts applied, not kept) -- what `umoci unpack` produces; used for exports, the
// comparison test and the benchmark. Returns the summed stats.
Result<UnpackStats> flatten_image(const Store& store, const Image& image, int target_dirfd);

}  // namespace gantry::image
