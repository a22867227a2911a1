// Unpacking one layer tarball into a directory, safely.
//
// Every path is resolved inside the target with openat2(RESOLVE_IN_ROOT), and every leaf
// operation is an *at() call on the resolved parent with O_NOFOLLOW semantics, so neither
// "..", absolute paths, nor symlinks or hard links planted by earlier entries can make a
// write land outside the target (runc CVE-2019-14271, containerd CVE-2021-32760 style
// escapes). Rules:
//   - absolute paths are neutralised (made relative, as GNU tar does);
//   - a ".." component refuses the layer;
//   - symlinks are created verbatim but never followed outside the target;
//   - hard links must point at an entry inside the target;
//   - device nodes refuse the layer unless allow_devices (FIFOs are always fine);
//   - trusted.overlay.* / user.overlay.* xattrs are dropped (they would forge whiteouts);
//   - per-entry, total and entry-count limits refuse decompression bombs.
// Whiteouts (".wh.name", ".wh..wh..opq") are either turned into overlayfs whiteouts (char
// 0:0, trusted.overlay.opaque=y) for a layer directory that overlayfs stacks, or applied
// (delete) when flattening layers into one tree, as `umoci unpack` does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "image/digest.h"

namespace gantry::image {

enum class WhiteoutMode {
    kOverlay,  // this layer will be an overlayfs lowerdir: write overlay whiteouts
    kApply,    // layers are being flattened into the target: delete what is whited out
};

struct UnpackOptions {
    WhiteoutMode whiteouts = WhiteoutMode::kApply;
    // chown entries to the archive's uid/gid (needs CAP_CHOWN); default: when root.
    bool same_owner = true;
    bool allow_devices = false;
    uint64_t max_entry_size = 64ull << 30;
    uint64_t max_total_size = 256ull << 30;
    uint64_t max_entries = 4'000'000;
    // When set, the uncompressed stream must hash to this (the config's diff_id).
    std::optional<Digest> expect_diff_id;
    // The caller will make the tree durable (syncfs) when this returns: start writeback of
    // each large file as soon as it is written, so the barrier finds most of it done.
    bool start_writeback = false;
    // Threads that create small regular files while the caller's thread reads the tar
    // (file_writers.h); 0: every file on the caller's thread.
    unsigned writers = 2;
};

struct UnpackStats {
    uint64_t entries = 0;
    uint64_t bytes = 0;                 // file content written
    Digest diff_id;                     // of the uncompressed stream
    std::vector<std::string> warnings;  // things neutralised, for the log
};

// Unpacks the layer read from `layer_fd` (gzip, zstd, xz, bzip2 or plain tar) into the
// directory `target_dirfd`. On error the target may hold part of the layer: callers unpack
// into a staging directory and rename it into place only on success.
Result<UnpackStats> unpack_layer(int layer_fd, int target_dirfd, const UnpackOptions& opts);

}  // namespace gantry::image
