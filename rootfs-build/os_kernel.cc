#include "rootfs-build/os_kernel.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "base/strings.h"
#include "rootfs-build/os_proc.h"

namespace gantry::osimage {

namespace fs = std::filesystem;

std::string default_cache_dir() {
    if (const char* d = std::getenv("GANTRY_CACHE_DIR"); d != nullptr && *d != '\0') {
        return d;
    }
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0') {
        return std::string(x) + "/gantry";
    }
    const char* home = std::getenv("HOME");
    return std::string(home != nullptr && *home != '\0' ? home : "/tmp") + "/.cache/gantry";
}

namespace {

// Cached debs of `prefix` ("linux-image-6.1.0-56-cloud-amd64_"), newest name last.
std::vector<std::string> cached_debs(const std::string& dir, const std::string& prefix) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        std::string name = e.path().filename().string();
        if (name.starts_with(prefix) && name.ends_with(".deb")) {
            out.push_back(e.path().string());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

Result<std::string> resolve_kernel_package() {
    auto deps = GANTRY_TRY(run_capture({"apt-cache", "depends", kKernelMetaPackage}));
    for (const auto& line : split(deps, '\n')) {
        std::string_view l = trim(line);
        if (l.starts_with("Depends: linux-image-")) {
            return std::string(trim(l.substr(9)));
        }
    }
    return fail(
        Error::msg("apt-cache depends {} names no linux-image package", kKernelMetaPackage));
}

}  // namespace

Result<std::string> fetch_kernel_deb(const std::string& cache_dir) {
    std::string debs = cache_dir + "/debs";
    std::error_code ec;
    fs::create_directories(debs, ec);
    if (ec) {
        return fail(Error::with_errno(ec.value(), "create " + debs));
    }
    auto pkg = resolve_kernel_package();
    if (!pkg && geteuid() == 0) {
        // A fresh machine may have no package lists yet (apt-cache then knows nothing);
        // refreshing them is what `apt-get download` needs anyway.
        if (run_capture({"apt-get", "update", "-qq"})) {
            pkg = resolve_kernel_package();
        }
    }
    if (pkg) {
        if (auto have = cached_debs(debs, *pkg + "_"); !have.empty()) {
            return have.back();
        }
        if (run_capture({"apt-get", "download", "-q", *pkg}, debs)) {
            if (auto have = cached_debs(debs, *pkg + "_"); !have.empty()) {
                return have.back();
            }
        }
    }
    // Offline, or the index is gone: any kernel fetched before is still Debian's package.
    if (auto have = cached_debs(debs, "linux-image-"); !have.empty()) {
        return have.back();
    }
    return fail(Error::msg(
        "cannot fetch Debian's kernel ({}): {}; run `apt-get update` and check that Debian's "
        "package mirror is reachable, or pass --kernel-deb FILE",
        kKernelMetaPackage, pkg ? "apt-get download failed" : pkg.error().str()));
}

Result<KernelTree> unpack_kernel(const std::string& deb, const std::string& cache_dir) {
    std::string name = fs::path(deb).stem().string();
    std::string dir = cache_dir + "/kernels/" + name;
    std::error_code ec;
    if (!fs::exists(dir + "/.complete", ec)) {
        std::string tmp = dir + ".tmp." + std::to_string(getpid());
        fs::remove_all(tmp, ec);
        fs::create_directories(tmp, ec);
        if (ec) {
            return fail(Error::with_errno(ec.value(), "create " + tmp));
        }
        GANTRY_TRY_CTX(run_capture({"dpkg-deb", "-x", deb, tmp}), "unpack {}", deb);
        GANTRY_TRY(run_capture({"touch", tmp + "/.complete"}));
        // Only a crashed unpack leaves a dir without .complete; a finished one is reused.
        fs::remove_all(dir, ec);
        fs::rename(tmp, dir, ec);
        if (ec) {
            fs::remove_all(tmp, ec);
            if (!fs::exists(dir + "/.complete", ec)) {
                return fail(Error::msg("cannot move the unpacked kernel into {}", dir));
            }
        }
    }
    KernelTree t;
    for (const char* mods : {"/lib/modules", "/usr/lib/modules"}) {
        for (const auto& e : fs::directory_iterator(dir + mods, ec)) {
            t.release = e.path().filename().string();
            t.modules_dir = e.path().string();
        }
        if (!t.release.empty()) {
            break;
        }
    }
    if (t.release.empty()) {
        return fail(Error::msg("{}: no lib/modules/RELEASE in the package", deb));
    }
    t.vmlinuz = dir + "/boot/vmlinuz-" + t.release;
    if (!fs::exists(t.vmlinuz, ec)) {
        return fail(Error::msg("{}: no boot/vmlinuz-{} in the package", deb, t.release));
    }
    return t;
}

}  // namespace gantry::osimage
