#include "image/rootfs.h"

#include <sys/stat.h>
#include <unistd.h>

#include "base/fd.h"
#include "base/strings.h"
#include "image/fsutil.h"
#include "image/layer_batch.h"
#include "image/unpack.h"

namespace gantry::image {

Result<std::string> ensure_layer(const Store& store, const Descriptor& layer,
                                 const Digest& diff_id) {
    auto dirs = GANTRY_TRY(ensure_layers(store, {layer}, {diff_id}));
    return dirs.front();
}

Status ensure_layers(const Store& store, const Image& image) {
    // In parallel, one durability barrier for all (layer_batch.h); present layers skipped.
    GANTRY_TRY_CTX(ensure_layers(store, image.manifest.layers, image.config.diff_ids),
                   "image {}", image.record.name);
    return ok();
}

Result<OverlayPlan> prepare_rootfs(const Store& store, const Image& image,
                                   const std::string& container_id, const std::string& target,
                                   bool read_only) {
    // 1. Record the layers first, so a GC running while we unpack keeps them.
    GANTRY_TRY(record_container(store, image, container_id));
    // 2. Unpack what is missing.
    GANTRY_TRY(ensure_layers(store, image));
    // 3. Plan and mount.
    return mount_image_root(store, image, container_id, target, read_only);
}

Result<UnpackStats> flatten_image(const Store& store, const Image& image, int target_dirfd) {
    UnpackStats total;
    for (size_t i = 0; i < image.manifest.layers.size(); ++i) {
        auto blob = GANTRY_TRY(store.open_blob(image.manifest.layers[i].digest));
        UnpackOptions opts;
        opts.whiteouts = WhiteoutMode::kApply;
        opts.same_owner = ::geteuid() == 0;
        opts.expect_diff_id = image.config.diff_ids[i];
        auto st = GANTRY_TRY_CTX(unpack_layer(blob.get(), target_dirfd, opts), "layer {}",
                                 image.manifest.layers[i].digest.str());
        total.entries += st.entries;
        total.bytes += st.bytes;
        total.warnings.insert(total.warnings.end(), st.warnings.begin(), st.warnings.end());
    }
    return total;
}

}  // namespace gantry::image
