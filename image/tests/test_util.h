// Helpers shared by the image tests: temp dirs and small images built with gantry-build's
// library (scratch images need no busybox, so unit tests stay fast).
#pragma once

#include <string>
#include <vector>

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
