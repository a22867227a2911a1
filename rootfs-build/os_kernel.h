// The kernel comes from Debian's package, never from the machine that builds the image:
// the build machine's kernel is whatever the host runs, while the image must get the same
// kernel on every machine that builds it from the same package.
#pragma once

#include <string>

#include "base/error.h"

namespace gantry::osimage {

inline constexpr const char* kKernelMetaPackage = "linux-image-cloud-amd64";

// The default cache: $GANTRY_CACHE_DIR, else $XDG_CACHE_HOME/gantry, else ~/.cache/gantry.
std::string default_cache_dir();

// Resolves the metapackage to the real package (apt-cache depends), downloads its .deb into
// CACHE/debs with `apt-get download` unless it is already there, and returns its path.
// Without a package index or network it falls back to the newest cached .deb, and fails
// with what to do when there is none.
Result<std::string> fetch_kernel_deb(const std::string& cache_dir);

struct KernelTree {
    std::string release;      // "6.1.0-56-cloud-amd64"
    std::string vmlinuz;      // path of the kernel image
    std::string modules_dir;  // .../lib/modules/RELEASE
};

// Unpacks the .deb (dpkg-deb -x) into CACHE/kernels/NAME once, then reuses it.
Result<KernelTree> unpack_kernel(const std::string& deb, const std::string& cache_dir);

}  // namespace gantry::osimage
