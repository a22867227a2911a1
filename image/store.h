// The content-addressed image store.
//
// Layout under the root (default /var/lib/gantry/images):
//     blobs/sha256/<hex>   every manifest, config and layer, named by its digest
//     index.json           names ("docker.io/library/redis:7") → image manifest digest
//     layers/sha256/<hex>  unpacked layers, keyed by diff_id (see layers.h)
//     containers/<id>/     per-container overlay upper/work dirs (see rootfs.h)
//     tmp/txn-*/           staging of an import in progress
//     lock                 flock: held while index.json or blobs/ change
//
// Atomicity: an import stages every blob in its own tmp/txn-* directory, verifies digest
// and size there, and only then (under the lock) renames the blobs into blobs/ and
// replaces index.json with write_file_atomic. A crash before the index rename leaves the
// index as it was; blobs renamed in already are complete, verified and unreferenced, and
// the next GC removes them. Readers never take the lock: every file they read is
// replaced by rename, never rewritten in place.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "image/digest.h"
#include "image/oci.h"

namespace gantry::image {

inline constexpr std::string_view kDefaultStoreRoot = "/var/lib/gantry/images";

struct ImageRecord {
    std::string name;        // canonical reference, e.g. "docker.io/library/redis:7"
    Digest digest;           // the image manifest (one platform)
    std::string media_type;  // of that manifest
    uint64_t size = 0;       // of that manifest
    Digest index_digest;     // the index it was chosen from, if any
    int64_t created = 0;     // unix seconds when the name was last set
};

// An image resolved to its documents.
struct Image {
    ImageRecord record;
    Manifest manifest;
    ImageConfig config;
};

class Txn;

class Store {
  public:
    // Opens (creating if needed) a store rooted at `root`.
    static Result<Store> open(std::string root);

    const std::string& root() const { return root_; }
    std::string blob_path(const Digest& d) const;
    bool has_blob(const Digest& d) const;
    // Reads a blob and checks its digest (for the small JSON documents; up to 64 MiB).
    Result<std::string> read_blob(const Digest& d) const;
    Result<Fd> open_blob(const Digest& d) const;

    Result<std::vector<ImageRecord>> list() const;
    // Finds by name (normalised as a reference: "redis" = "docker.io/library/redis:latest"),
    // by manifest or index digest ("sha256:..." or name@sha256:...), or by a unique prefix of
    // at least 6 hex digits of the manifest digest.
    Result<ImageRecord> find(std::string_view ref) const;
    Result<Image> load(std::string_view ref) const;
    Result<Image> load(const ImageRecord& rec) const;

    Result<Txn> begin() const;
    // Removes a name. The blobs stay until gc().
    Status untag(std::string_view ref);

    // Takes the store's writer lock (flock on root/lock) for the life of the Fd.
    Result<Fd> lock() const;
    // Reads index.json; a missing file is an empty index.
    Result<std::map<std::string, ImageRecord>> read_index() const;
    Status write_index(const std::map<std::string, ImageRecord>& idx) const;

  private:
    explicit Store(std::string root) : root_(std::move(root)) {}
    std::string root_;
};

// A blob being written (from a registry stream or a file), hashed as it goes.
class BlobWriter {
  public:
    Status write(std::string_view data);
    // Starts over (a retried download whose server ignored Range).
    Status restart();
    uint64_t size() const { return hasher_.bytes(); }

  private:
    friend class Txn;
    Fd fd_;
    std::string path_;
    Sha256 hasher_;
};

// One import: blobs staged and verified, names to set, all applied by commit() or none.
class Txn {
  public:
    Txn(Txn&& o) noexcept
        : store_(std::move(o.store_)),
          dir_(std::exchange(o.dir_, {})),
          dir_lock_(std::move(o.dir_lock_)),
          staged_(std::move(o.staged_)),
          tags_(std::move(o.tags_)),
          seq_(o.seq_) {}
    Txn& operator=(Txn&&) = delete;
    ~Txn();

    // Stages bytes, verifying them against `expect` when given; returns their descriptor
    // (media type as passed).
    Result<Descriptor> put_bytes(std::string_view data, std::string_view media_type,
                                 const Descriptor* expect = nullptr);
    // Stages the file at `path`. With `move` the file is renamed into staging (it must be on
    // the store's filesystem), else copied. Digest and size must equal `expect`'s.
    Status put_file(const std::string& path, const Descriptor& expect, bool move);
    // Streaming: start a blob, write() into it, then finish_blob() verifies it.
    Result<BlobWriter> start_blob();
    Status finish_blob(BlobWriter w, const Descriptor& expect);
    // True when the blob is staged here or already in the store (no need to fetch it).
    bool have(const Digest& d) const;
    // Reads a staged-or-stored small blob (manifests, configs).
    Result<std::string> read(const Digest& d) const;

    // Names to set on commit. Every blob the image references must be staged or stored.
    void tag(ImageRecord rec) { tags_.push_back(std::move(rec)); }
    // Applies the import: blobs into blobs/, then names into index.json.
    Status commit();
    const std::string& staging_dir() const { return dir_; }

  private:
    friend class Store;
    Txn(Store store, std::string dir, Fd lock);
    Status stage_verified(const std::string& tmp_path, const Digest& d);

    Store store_;  // a copy: it is only the root path
    std::string dir_;
    Fd dir_lock_;  // flock'd for the txn's life, so GC knows it is live
    std::map<Digest, std::string> staged_;
    std::vector<ImageRecord> tags_;
    int seq_ = 0;
};

}  // namespace gantry::image
