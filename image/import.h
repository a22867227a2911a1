// Getting images in from files: an OCI image layout (a directory or a tar of one) and a
// `docker save` archive (the manifest.json format; newer Docker writes an OCI layout into
// the same tar, which is recognised as such).
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "image/oci.h"
#include "image/store.h"

namespace gantry::image {

struct ImportOptions {
    // Name to give the image. With a tag ("web:1.0") it names the single image of the
    // archive; without one ("web") it is the repository for the archive's own tags
    // (org.opencontainers.image.ref.name). Empty: use the names inside the archive.
    std::string name;
    // For an image index, the platform to keep.
    Platform platform = Platform::host();
};

// Imports from `path` (directory or tar, compression detected). Everything is verified
// before anything is named; on error the store is unchanged.
Result<std::vector<ImageRecord>> import_archive(const Store& store, const std::string& path,
                                                const ImportOptions& opts = {});

// Stages the image at `top` (an index or manifest descriptor) from an OCI layout
// directory: verifies and stages every blob it needs. Returns the chosen manifest's
// descriptor; sets *index_digest when `top` was an index. Shared with the registry pull.
Result<Descriptor> stage_from_layout(Txn& txn, const std::string& layout_dir, const Descriptor& top,
                                     const Platform& platform, Digest* index_digest,
                                     bool move_files);

}  // namespace gantry::image
