// Helpers shared by the image tests: temp dirs and small images built with gantry-build's
// library (scratch images need no busybox, so unit tests stay fast).
#pragma once

#include <string>
#include <vector>

#include "base/fd.h"
#include "rootfs-build/image_builder.h"

namespace gantry::image::testing {

class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

  private:
    std::string path_;
};

// Builds an OCI layout from a JSON spec (see rootfs-build/image_builder.h) into `dir`.
build::BuiltImage build_layout(const std::string& spec_json, const std::string& dir);
// A two-layer scratch image: a base layer (shared) and one with `marker` in /etc/marker.
std::string scratch_spec(const std::string& marker, const std::string& compression = "gzip");
// Number of entries in a directory (0 if missing).
size_t count_entries(const std::string& dir);
std::string slurp(const std::string& path);

}  // namespace gantry::image::testing

namespace gantry::image::testing {

// Writes arbitrary (also hostile) tar entries with libarchive's writer.
class TarBuilder {
  public:
    TarBuilder& file(const std::string& path, const std::string& content, mode_t mode = 0644,
                     uid_t uid = 0, gid_t gid = 0);
    TarBuilder& dir(const std::string& path, mode_t mode = 0755);
    TarBuilder& symlink(const std::string& path, const std::string& target);
    TarBuilder& hardlink(const std::string& path, const std::string& target);
    TarBuilder& device(const std::string& path, bool block, unsigned major, unsigned minor);
    TarBuilder& xattr(const std::string& key, const std::string& value);  // on the next entry
    // A header claiming `size` bytes (data written as zeros).
    TarBuilder& sized(const std::string& path, uint64_t size);
    // The tar, compressed with "none", "gzip" or "zstd".
    std::string build(const std::string& compression = "none") const;

  private:
    struct Entry {
        std::string path, content, link;
        mode_t type;
        mode_t mode;
        uid_t uid = 0;
        gid_t gid = 0;
        bool hard = false;
        unsigned major = 0, minor = 0;
        uint64_t size = 0;
        std::vector<std::pair<std::string, std::string>> xattrs;
    };
    std::vector<Entry> entries_;
    std::vector<std::pair<std::string, std::string>> pending_xattrs_;
    Entry& add(Entry e);
};

// Writes `data` to a file and opens it for reading.
Fd data_fd(const TempDir& t, const std::string& name, const std::string& data);

}  // namespace gantry::image::testing
