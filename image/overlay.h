// Mounting a container's root from layers already unpacked in the store: the part of
// the rootfs path that PID 1 runs itself (gantry_image_store: no libarchive, no libcurl,
// no libcrypto). Unpacking missing layers is rootfs.h's ensure_layers(), which runs in the
// image helper (gantry-image, image/helper_main.cc) or in gantry-build.
//
// Plan, then apply: plan_overlay() is pure and unit-tested; apply_overlay() mounts.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "image/digest.h"
#include "image/store.h"

namespace gantry::image {

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

// Indexes (into config.diff_ids / manifest.layers) of the layers not unpacked in the store.
std::vector<size_t> missing_layers(const Store& store, const Image& image);
// Writes containers/<id>/container.json: which layers the container uses, so GC keeps them.
Status record_container(const Store& store, const Image& image, const std::string& container_id);
// record_container, then plan and mount. Fails, naming the first one, when a layer is not
// unpacked: PID 1 never unpacks (that is the helper's work).
Result<OverlayPlan> mount_image_root(const Store& store, const Image& image,
                                     const std::string& container_id, const std::string& target,
                                     bool read_only);

// Removes a container's upper/work and its record (after unmount_rootfs).
Status remove_container(const Store& store, const std::string& container_id);

}  // namespace gantry::image
