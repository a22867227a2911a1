#include "image/rootfs.h"

#include <sys/stat.h>
#include <unistd.h>

#include "base/fd.h"
#include "base/strings.h"
#include "image/fsutil.h"
#include "image/unpack.h"

namespace gantry::image {

Result<std::string> ensure_layer(const Store& store, const Descriptor& layer,
                                 const Digest& diff_id) {
    std::string dst = layer_dir(store.root(), diff_id);
    if (::access(dst.c_str(), F_OK) == 0) {
        return dst;
    }
    // 1. Unpack into a private staging directory.
    auto tmp = GANTRY_TRY(make_temp_dir(store.root() + "/tmp", "layer-"));
    std::string fs = tmp + "/fs";
    auto cleanup = [&] { (void)remove_tree(tmp); };
    if (::mkdir(fs.c_str(), 0755) != 0) {
        cleanup();
        return fail(Error::sys("mkdir '{}'", fs));
    }
    auto blob = store.open_blob(layer.digest);
    auto dir = Fd::open(fs, O_RDONLY | O_DIRECTORY);
    if (!blob || !dir) {
        cleanup();
        return fail(std::move(!blob ? blob.error() : dir.error()));
    }
    UnpackOptions opts;
    opts.whiteouts = WhiteoutMode::kOverlay;
    opts.same_owner = ::geteuid() == 0;
    opts.expect_diff_id = diff_id;
    auto stats = unpack_layer(blob->get(), dir->get(), opts);
    if (!stats) {
        cleanup();
        return fail(
            std::move(stats.error()).context(fmt::format("unpack layer {}", layer.digest.str())));
    }
    // 2. Make the whole tree durable with one syncfs (no per-file fsync), so a layer that a
    //    crash leaves under layers/ is complete: after a power cut, a renamed directory of
    //    empty files would be trusted forever. syncfs also writes other dirty data of this
    //    filesystem, which the store's own partition keeps small.
    if (::syncfs(dir->get()) != 0) {
        auto err = Error::sys("syncfs '{}'", fs);
        cleanup();
        return fail(std::move(err));
    }
    // 3. Publish by rename, made durable by the parent's fsync. Losing a race to another
    //    unpack of the same layer is fine.
    if (::rename(fs.c_str(), dst.c_str()) != 0 && errno != EEXIST && errno != ENOTEMPTY) {
        auto err = Error::sys("rename '{}' to '{}'", fs, dst);
        cleanup();
        return fail(std::move(err));
    }
    cleanup();
    GANTRY_TRY(fsync_dir(store.root() + "/layers/sha256"));
    return dst;
}

Status ensure_layers(const Store& store, const Image& image) {
    for (size_t i : missing_layers(store, image)) {
        GANTRY_TRY_CTX(ensure_layer(store, image.manifest.layers[i], image.config.diff_ids[i]),
                       "image {}", image.record.name);
    }
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
