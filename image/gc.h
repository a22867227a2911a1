// Garbage collection and image removal.
//
// Roots: every name in index.json (its manifest, index, config and layer blobs, and the
// unpacked layer dirs of its diff_ids) and every container record (containers/<id>/
// container.json: the layer dirs a mounted root uses). Everything else in blobs/ and
// layers/ goes, and so do staging directories of imports that died (their flock is free).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "image/store.h"

namespace gantry::image {

struct GcReport {
    std::vector<std::string> blobs_removed;   // digests
    std::vector<std::string> layers_removed;  // diff_ids
    size_t staging_removed = 0;
    uint64_t bytes_freed = 0;  // blobs only (layer dirs are counted by entries)
};

Result<GcReport> collect_garbage(const Store& store, bool dry_run = false);

// Removes a name. Refuses when a container record uses the image and no other name keeps
// it, unless `force`. The blobs go at the next collect_garbage().
Status remove_image(const Store& store, std::string_view ref, bool force);

// Total size of an image's blobs (manifest + config + layers), as `image ls` shows.
Result<uint64_t> image_size(const Store& store, const ImageRecord& rec);

}  // namespace gantry::image
