#include "image/rootfs.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "base/strings.h"
#include "image/fsutil.h"
#include "image/layer_batch.h"
#include "image/unpack.h"

namespace gantry::image {

namespace {
// mount(2) copies at most one page of option data; longer strings are cut (EINVAL at best).
constexpr size_t kMaxMountData = 4095;
}  // namespace

std::string layer_dir(const std::string& store_root, const Digest& diff_id) {
    return store_root + "/layers/sha256/" + diff_id.hex();
}

Result<std::string> ensure_layer(const Store& store, const Descriptor& layer,
                                 const Digest& diff_id) {
    auto dirs = GANTRY_TRY(ensure_layers(store, {layer}, {diff_id}));
    return dirs.front();
}

std::string OverlayPlan::options() const {
    std::string o = "lowerdir=" + join(lower, ":");
    if (!read_only) {
        o += ",upperdir=" + upper + ",workdir=" + work;
    }
    return o;
}

Status validate_container_id(std::string_view id) {
    if (id.empty() || id.size() > 128 || id.front() == '.') {
        return fail(Error::msg("container id '{}': 1-128 characters, not starting with '.'", id));
    }
    for (char c : id) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) {
            return fail(
                Error::msg("container id '{}': '{}' is not one of A-Z a-z 0-9 _ . -", id, c));
        }
    }
    return ok();
}

Result<OverlayPlan> plan_overlay(const std::string& store_root, const std::vector<Digest>& diff_ids,
                                 const std::string& container_id, const std::string& target,
                                 bool read_only) {
    GANTRY_TRY(validate_container_id(container_id));
    if (!target.starts_with('/')) {
        return fail(Error::msg("rootfs target '{}' is not an absolute path", target));
    }
    if (!store_root.starts_with('/') || store_root.find_first_of(",:\\") != std::string::npos) {
        return fail(
            Error::msg("store root '{}' must be absolute and free of ',', ':' and '\\' "
                       "(overlayfs option separators)",
                       store_root));
    }
    if (diff_ids.empty()) {
        return fail(Error::msg("the image has no layers; nothing to mount"));
    }
    OverlayPlan p;
    p.target = target;
    p.read_only = read_only;
    for (auto it = diff_ids.rbegin(); it != diff_ids.rend(); ++it) {
        p.lower.push_back(layer_dir(store_root, *it));
    }
    if (!read_only) {
        std::string c = store_root + "/containers/" + container_id;
        p.upper = c + "/upper";
        p.work = c + "/work";
    } else if (p.lower.size() == 1) {
        // overlayfs wants two lowers without an upper; an empty one changes nothing.
        p.lower.push_back(store_root + "/layers/empty");
    }
    // The same layer twice (an image that re-adds an identical layer) is legal but
    // overlayfs refuses duplicate lowerdirs; the upper copy wins, so drop the lower one.
    std::vector<std::string> uniq;
    for (const auto& l : p.lower) {
        if (std::find(uniq.begin(), uniq.end(), l) == uniq.end()) {
            uniq.push_back(l);
        }
    }
    p.lower = std::move(uniq);
    if (p.options().size() > kMaxMountData) {
        return fail(
            Error::msg("overlay options for {} layers are {} bytes, over the {}-byte "
                       "mount(2) limit; use a shorter store root",
                       diff_ids.size(), p.options().size(), kMaxMountData));
    }
    return p;
}

Status apply_overlay(const OverlayPlan& plan) {
    // 1. upper and work on the same filesystem (overlayfs requires it), fresh or reused.
    if (!plan.read_only) {
        GANTRY_TRY(mkdir_p(plan.upper, 0755));
        GANTRY_TRY(mkdir_p(plan.work, 0700));
    } else {
        for (const auto& l : plan.lower) {
            if (l.ends_with("/layers/empty")) {
                GANTRY_TRY(mkdir_p(l, 0755));
            }
        }
    }
    // 2. Mount. nodev: image content never gets to create usable device nodes.
    unsigned long flags = MS_NODEV | (plan.read_only ? MS_RDONLY : 0);
    if (::mount("overlay", plan.target.c_str(), "overlay", flags, plan.options().c_str()) != 0) {
        return fail(
            Error::sys("mount overlay on '{}' ({} layers)", plan.target, plan.lower.size()));
    }
    return ok();
}

Status unmount_rootfs(const std::string& target) {
    if (::umount2(target.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
        return fail(Error::sys("unmount '{}'", target));
    }
    return ok();
}

Result<OverlayPlan> prepare_rootfs(const Store& store, const Image& image,
                                   const std::string& container_id, const std::string& target,
                                   bool read_only) {
    GANTRY_TRY(validate_container_id(container_id));
    // 1. Record the layers first, so a GC running while we unpack keeps them.
    std::string cdir = store.root() + "/containers/" + container_id;
    GANTRY_TRY(mkdir_p(cdir, 0700));
    nlohmann::json rec = {{"image", image.record.name},
                          {"manifest", image.record.digest.str()},
                          {"layers", nlohmann::json::array()}};
    for (const auto& d : image.config.diff_ids) {
        rec["layers"].push_back(d.str());
    }
    GANTRY_TRY(write_file_atomic(cdir + "/container.json", rec.dump() + "\n", 0600));
    // 2. Unpack what is missing (in parallel, one durability barrier: layer_batch.h).
    GANTRY_TRY_CTX(ensure_layers(store, image.manifest.layers, image.config.diff_ids), "image {}",
                   image.record.name);
    // 3. Plan and mount.
    auto plan = GANTRY_TRY(
        plan_overlay(store.root(), image.config.diff_ids, container_id, target, read_only));
    GANTRY_TRY(apply_overlay(plan));
    return plan;
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

Status remove_container(const Store& store, const std::string& container_id) {
    GANTRY_TRY(validate_container_id(container_id));
    return remove_tree(store.root() + "/containers/" + container_id);
}

}  // namespace gantry::image
