// Unpacking an image's missing layers into the store together.
//
// Each layer unpacks into its own directory (overlayfs stacks them), so layers are
// independent: they are unpacked in parallel, each into a private staging directory, then
// made durable with one barrier for all of them, then published by rename. The store's
// rule holds for every layer: a crash never leaves layers/sha256/<diff_id> with missing or
// partial contents, because nothing is renamed before the barrier has returned.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "image/digest.h"
#include "image/oci.h"
#include "image/store.h"

namespace gantry::image {

struct LayerBatchOptions {
    // Layers unpacked at once; 0: one per CPU, at least two (a layer's threads, inflate,
    // tar reader and file writers, rarely fill more than a core together) and at most
    // kMaxParallel (each layer holds up to ~36 MiB of buffers in flight).
    unsigned parallel = 0;
    static constexpr unsigned kMaxParallel = 8;
};

// Makes sure every layer (blob `layers[i]`, uncompressed digest `diff_ids[i]`) is in the
// store and returns their directories in the same order. Layers already there are left
// alone; the same diff_id twice is unpacked once. On error no missing layer is published
// and the staging directories are removed.
Result<std::vector<std::string>> ensure_layers(const Store& store,
                                               const std::vector<Descriptor>& layers,
                                               const std::vector<Digest>& diff_ids,
                                               const LayerBatchOptions& opts = {});

}  // namespace gantry::image
