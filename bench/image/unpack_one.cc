// gantry-unpack-one: unpacks layer blobs into a directory with unpack_layer(), for profiling
// (strace -c, perf) against `bsdtar -x` on the same files.
//
//   gantry-unpack-one [--overlay] [--sync [--no-writeback]] [--writers N] TARGET_DIR BLOB...
//
// --sync: start writeback of large files while unpacking, and syncfs at the end (timed
// separately), as the store does. --writers N: threads creating small files (default 2,
// 0: all on the reading thread).
#include <fmt/core.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

#include "base/fd.h"
#include "image/unpack.h"

int main(int argc, char** argv) {
    using namespace gantry;
    image::UnpackOptions opts;
    opts.same_owner = ::geteuid() == 0;
    int i = 1;
    bool sync = false;
    bool no_writeback = false;  // with --sync: do not start writeback early (to measure it)
    for (; i < argc && std::string(argv[i]).starts_with("--"); ++i) {
        if (std::string(argv[i]) == "--overlay") {
            opts.whiteouts = image::WhiteoutMode::kOverlay;
        } else if (std::string(argv[i]) == "--writers" && i + 1 < argc) {
            opts.writers = static_cast<unsigned>(std::stoul(argv[++i]));
        } else if (std::string(argv[i]) == "--no-writeback") {
            no_writeback = true;
        } else if (std::string(argv[i]) == "--sync") {
            sync = true;
            opts.start_writeback = true;
        }
    }
    opts.start_writeback = sync && !no_writeback;
    if (argc - i < 2) {
        fmt::print(stderr,
                   "usage: gantry-unpack-one [--overlay] [--sync [--no-writeback]] [--writers N] "
                   "TARGET_DIR BLOB...\n");
        return 2;
    }
    auto dir = Fd::open(argv[i], O_RDONLY | O_DIRECTORY);
    if (!dir) {
        fmt::print(stderr, "{}\n", dir.error());
        return 1;
    }
    for (++i; i < argc; ++i) {
        auto blob = Fd::open(argv[i], O_RDONLY);
        if (!blob) {
            fmt::print(stderr, "{}\n", blob.error());
            return 1;
        }
        auto t0 = std::chrono::steady_clock::now();
        auto st = image::unpack_layer(blob->get(), dir->get(), opts);
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!st) {
            fmt::print(stderr, "{}: {}\n", argv[i], st.error());
            return 1;
        }
        fmt::print(stderr, "{}: {} entries, {} bytes, {:.3f}s\n", argv[i], st->entries, st->bytes,
                   s);
    }
    if (sync) {
        auto t0 = std::chrono::steady_clock::now();
        if (::syncfs(dir->get()) != 0) {
            fmt::print(stderr, "syncfs: {}\n", std::strerror(errno));
            return 1;
        }
        fmt::print(stderr, "syncfs: {:.3f}s\n",
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return 0;
}
