// Container root filesystems: each image layer is unpacked once into the store
// (layers/sha256/<diff_id>, with overlayfs whiteouts) and shared by every image and
// container that uses it; a container's root is an overlayfs of those layers plus its own
// upper/work directories, or just the layers when read-only.
//
// Plan, then apply: plan_overlay() is pure and unit-tested; apply_overlay() mounts.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "image/digest.h"
#include "image/store.h"
#include "image/unpack.h"

namespace gantry::image {

// Unpacks one layer into the store if it is not there yet and returns its directory.
// The diff_id is verified during the unpack; the directory appears by rename, complete.
Result<std::string> ensure_layer(const Store& store, const Descriptor& layer,
                                 const Digest& diff_id);
std::string layer_dir(const std::string& store_root, const Digest& diff_id);

struct OverlayPlan {
    std::vector<std::string> lower;  // topmost first, the order overlayfs reads them
    std::string upper;               // empty when read-only
    std::string work;                // empty when read-only
    std::string target;
    bool read_only = false;

    // The mount(2) data string: "lowerdir=...,upperdir=...,workdir=...".
    std::string options() const;
};

// Container ids become directory names: 1-128 of [A-Za-z0-9_.-], not starting with '.'.
Status validate_container_id(std::string_view id);

// Pure: where each directory of the container's root lives. `diff_ids` are base first, as
// in the image config.
Result<OverlayPlan> plan_overlay(const std::string& store_root, const std::vector<Digest>& diff_ids,
                                 const std::string& container_id, const std::string& target,
                                 bool read_only);

// Creates upper/work and mounts the overlay on plan.target (which must exist).
Status apply_overlay(const OverlayPlan& plan);
// Unmounts a container root (detached, so a lingering process does not block shutdown).
Status unmount_rootfs(const std::string& target);

// The whole path for a service: unpack missing layers, record which layers the container
// uses (so GC keeps them), plan, mount.
Result<OverlayPlan> prepare_rootfs(const Store& store, const Image& image,
                                   const std::string& container_id, const std::string& target,
                                   bool read_only);
// Applies all of an image's layers, base first, into one plain tree at `target_dirfd`
// (whiteouts applied, not kept) -- what `umoci unpack` produces; used for exports, the
// comparison test and the benchmark. Returns the summed stats.
Result<UnpackStats> flatten_image(const Store& store, const Image& image, int target_dirfd);

// Removes a container's upper/work and its record (after unmount_rootfs).
Status remove_container(const Store& store, const std::string& container_id);

}  // namespace gantry::image
