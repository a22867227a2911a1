// gantry-build os --out DIR --init PATH [--bin PATH ...] [--debug] [--kernel-deb FILE]
//                 [--cache-dir DIR] [--module NAME ...] [--no-strip] [--level N]
//                 [--keep-module-signatures]
//                 [--image [REPO=]LAYOUT_DIR_OR_TAR ...]   preloaded into the image store
#include "rootfs-build/os_cmd.h"

#include <fmt/format.h>
#include <sys/file.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "base/fd.h"
#include "base/units.h"
#include "rootfs-build/os_image.h"
#include "rootfs-build/os_kernel.h"
#include "rootfs-build/os_seccomp.h"
#include "rootfs-build/os_store.h"

namespace {

using namespace gantry;
using namespace gantry::osimage;

constexpr const char* kUsage =
    "usage: gantry-build os --out DIR --init PATH [--bin PATH ...] [--debug]\n"
    "                       [--kernel-deb FILE] [--cache-dir DIR] [--module NAME ...]\n"
    "                       [--busybox PATH] [--no-strip] [--level N]\n"
    "                       [--keep-module-signatures]\n"
    "                       [--image [REPO=]LAYOUT_DIR_OR_TAR ...]\n"
    "Builds OUT/vmlinuz and OUT/initramfs.cpio.zst from Debian's cloud kernel package and\n"
    "Gantry's binaries. The same inputs and SOURCE_DATE_EPOCH give the same bytes.\n"
    "Modules ship without their signature (loading skips the check; the kernel taints\n"
    "itself 'E' once) unless --keep-module-signatures: for kernels that enforce them.\n";

struct Flags {
    std::string out;
    std::string kernel_deb;
    std::string cache_dir = default_cache_dir();
    bool debug = false;
    std::string busybox = "/bin/busybox";
    std::vector<PreloadImage> images;
    int level = 19;
    ImageInputs in;
};

Result<Flags> parse_flags(int argc, char** argv) {
    Flags f;
    f.in.early_modules = early_modules();
    f.in.wanted_modules = default_modules();
    f.in.optional_modules = optional_modules();
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> Result<std::string> {
            if (i + 1 >= argc) {
                return fail(Error::msg("{} needs a value", a));
            }
            return std::string(argv[++i]);
        };
        if (a == "--out") {
            f.out = GANTRY_TRY(value());
        } else if (a == "--init") {
            f.in.init = GANTRY_TRY(value());
        } else if (a == "--bin") {
            f.in.programs.push_back(GANTRY_TRY(value()));
        } else if (a == "--kernel-deb") {
            f.kernel_deb = GANTRY_TRY(value());
        } else if (a == "--cache-dir") {
            f.cache_dir = GANTRY_TRY(value());
        } else if (a == "--image") {
            f.images.push_back(parse_preload(GANTRY_TRY(value())));
        } else if (a == "--module") {
            f.in.wanted_modules.push_back(GANTRY_TRY(value()));
        } else if (a == "--busybox") {
            f.busybox = GANTRY_TRY(value());
        } else if (a == "--level") {
            f.level = std::atoi(GANTRY_TRY(value()).c_str());
            if (f.level < 1 || f.level > 22) {
                return fail(Error::msg("--level must be 1..22"));
            }
        } else if (a == "--debug") {
            f.debug = true;
        } else if (a == "--no-strip") {
            f.in.strip = false;
        } else if (a == "--keep-module-signatures") {
            f.in.strip_module_signatures = false;
        } else if (a == "-h" || a == "--help") {
            fmt::print("{}", kUsage);
            std::exit(0);
        } else {
            return fail(Error::msg("unknown argument '{}'", a));
        }
    }
    if (f.out.empty()) {
        return fail(Error::msg("--out DIR is required"));
    }
    if (f.in.init.empty()) {
        return fail(Error::msg("--init PATH is required (the build's init/gantry-init)"));
    }
    if (f.debug) {
        f.in.busybox = f.busybox;
    }
    return f;
}

// SOURCE_DATE_EPOCH (reproducible-builds.org) or 0: never the clock.
uint32_t source_date_epoch() {
    const char* s = std::getenv("SOURCE_DATE_EPOCH");
    return s != nullptr ? static_cast<uint32_t>(std::strtoul(s, nullptr, 10)) : 0;
}

Status run(int argc, char** argv) {
    auto f = GANTRY_TRY(parse_flags(argc, argv));
    // Builds of several images run in parallel (ninja): one at a time downloads and
    // unpacks into the shared cache, the others then find it there.
    std::error_code ec;
    std::filesystem::create_directories(f.cache_dir, ec);
    auto lock = GANTRY_TRY_CTX(Fd::open(f.cache_dir + "/.lock", O_RDWR | O_CREAT, 0644), "cache");
    while (flock(lock.get(), LOCK_EX) < 0) {
        if (errno != EINTR) {
            return fail(Error::sys("lock {}/.lock", f.cache_dir));
        }
    }
    std::string deb = f.kernel_deb;
    if (deb.empty()) {
        deb = GANTRY_TRY_CTX(fetch_kernel_deb(f.cache_dir), "kernel");
    }
    auto kernel = GANTRY_TRY_CTX(unpack_kernel(deb, f.cache_dir), "kernel");
    lock.reset();
    auto tree = GANTRY_TRY_CTX(ModuleTree::scan(kernel.modules_dir), "kernel");
    f.in.kernel_release = kernel.release;
    f.in.modules = &tree;
    auto plan = GANTRY_TRY(plan_image(f.in));
    auto stored = GANTRY_TRY(add_image_store(plan.archive, f.images, source_date_epoch()));
    for (const auto& name : stored.names) {
        fmt::print("image      {}\n", name);
    }
    for (const auto& layer : stored.layers) {
        fmt::print("layer      {}\n", layer);
    }
    fmt::print("seccomp    /{}\n", GANTRY_TRY(add_seccomp_programs(plan.archive)));
    auto out = GANTRY_TRY(write_image(plan, f.out, kernel.vmlinuz, source_date_epoch(), f.level));
    fmt::print("kernel     {} ({} modules)\n", kernel.release, out.modules);
    fmt::print("vmlinuz    {}  {}\n", out.vmlinuz_path, format_size(out.vmlinuz_bytes));
    fmt::print("initramfs  {}  {} compressed, {} unpacked, {} entries\n", out.initramfs_path,
               format_size(out.initramfs_bytes), format_size(out.unpacked_bytes), out.entries);
    if (out.initramfs_bytes > 25ull << 20) {
        fmt::print(stderr, "warning: the initramfs is over the 25MiB budget\n");
    }
    return ok();
}

}  // namespace

int os_command(int argc, char** argv) {
    auto st = run(argc, argv);
    if (!st) {
        fmt::print(stderr, "gantry-build os: {}\n", st.error());
        return 1;
    }
    return 0;
}
