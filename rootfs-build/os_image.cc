#include "rootfs-build/os_image.h"

#include <unistd.h>

#include <filesystem>
#include <set>

#include "base/fd.h"
#include "base/strings.h"
#include "rootfs-build/os_elf.h"
#include "rootfs-build/os_proc.h"

namespace gantry::osimage {

namespace fs = std::filesystem;

namespace {

std::string basename_of(const std::string& p) {
    return fs::path(p).filename().string();
}

// Gantry's own binaries come from a RelWithDebInfo build: debug info would triple the
// image. `strip` is deterministic, so this keeps the image reproducible.
Result<std::string> read_program(const std::string& path, bool strip) {
    if (access(path.c_str(), R_OK) != 0) {
        return fail(Error::sys("{}", path));
    }
    if (!strip) {
        return read_file(path);
    }
    std::string tmp = fs::temp_directory_path().string() + "/gantry-strip." +
                      std::to_string(getpid()) + "." + basename_of(path);
    auto r = run_capture({"strip", "--strip-debug", "-o", tmp, path});
    if (!r) {
        return fail(std::move(r).error().context("strip " + path));
    }
    auto bytes = read_file(tmp);
    std::error_code ec;
    fs::remove(tmp, ec);
    return bytes;
}

Status add_programs(CpioArchive& a, const ImageInputs& in) {
    std::vector<std::string> all = {in.init};
    all.insert(all.end(), in.programs.begin(), in.programs.end());
    for (const auto& p : all) {
        auto bytes = GANTRY_TRY_CTX(read_program(p, in.strip), "add program");
        if (auto elf = parse_elf(bytes); !elf) {
            return fail(std::move(elf).error().context(p));
        }
        a.add_file("usr/bin/" + basename_of(p), std::move(bytes), 0755);
    }
    if (!in.busybox.empty()) {
        all.push_back(in.busybox);
    }
    auto libs = GANTRY_TRY(library_closure(all));
    for (const auto& lib : libs) {
        if (!lib.symlink_to.empty()) {
            a.add_symlink(lib.image_path, lib.symlink_to);
            continue;
        }
        auto bytes = GANTRY_TRY_CTX(read_file(lib.host_path), "add library");
        a.add_file(lib.image_path, std::move(bytes), 0755);
    }
    a.add_symlink("init", "/usr/bin/" + basename_of(in.init));
    return ok();
}

Status add_busybox(CpioArchive& a, const std::string& busybox) {
    a.add_file("usr/bin/busybox", GANTRY_TRY_CTX(read_file(busybox), "--debug"), 0755);
    auto list = GANTRY_TRY_CTX(run_capture({busybox, "--list"}), "--debug");
    for (const auto& applet : split(list, '\n')) {
        std::string path = "usr/bin/" + applet;
        if (!applet.empty() && applet.find('/') == std::string::npos && !a.contains(path)) {
            a.add_symlink(path, "busybox");
        }
    }
    return ok();
}

Status add_modules(CpioArchive& a, const ImageInputs& in, ImagePlan& plan) {
    auto early = GANTRY_TRY(in.modules->load_order(in.early_modules));
    std::vector<std::string> all_wanted = in.early_modules;
    all_wanted.insert(all_wanted.end(), in.wanted_modules.begin(), in.wanted_modules.end());
    auto all = GANTRY_TRY(in.modules->load_order(all_wanted));
    std::set<std::string> early_names;
    for (const auto& m : early) {
        early_names.insert(m.name);
    }
    // `all` is a valid order; the early ones moved to the front stay valid because the
    // early set is closed under dependencies.
    std::vector<Module> order = early;
    for (auto& m : all) {
        if (!early_names.contains(m.name)) {
            order.push_back(std::move(m));
        }
    }
    size_t listed = order.size();
    if (!in.optional_modules.empty()) {
        all_wanted.insert(all_wanted.end(), in.optional_modules.begin(), in.optional_modules.end());
        std::set<std::string> have;
        for (const auto& m : order) {
            have.insert(m.name);
        }
        for (auto& m : GANTRY_TRY(in.modules->load_order(all_wanted))) {
            if (!have.contains(m.name)) {
                order.push_back(std::move(m));
            }
        }
    }
    std::string lists[2];
    std::string index =
        "# NAME PATH [DEPENDENCY ...] or NAME builtin: every module of this image, for "
        "kernel.modules\n";
    std::string base = "usr/lib/modules/" + in.kernel_release + "/";
    for (size_t i = 0; i < order.size(); ++i) {
        auto& m = order[i];
        // Stored decompressed: the initramfs is compressed as a whole, which packs better
        // than per-module xz, and finit_module then needs no decompressor in the kernel.
        std::string rel = m.rel_path.substr(0, m.rel_path.find(".ko")) + ".ko";
        auto bytes = GANTRY_TRY(in.modules->read_module(m));
        if (in.strip_module_signatures) {
            strip_module_signature(bytes);
        }
        a.add_file(base + rel, std::move(bytes), 0644);
        std::string path = "/lib/modules/" + in.kernel_release + "/" + rel;
        if (i < listed) {
            lists[i < early.size() ? 0 : 1] += path + "\n";
        }
        index += m.name + " " + path;
        for (const auto& d : m.depends) {
            if (!in.modules->is_builtin(d)) {
                index += " " + d;
            }
        }
        index += "\n";
        m.rel_path = rel;
    }
    for (const auto& b : in.modules->builtins()) {
        index += b + " builtin\n";
    }
    a.add_file(kModuleListPath, lists[0], 0644);
    a.add_file(kLateModuleListPath, lists[1], 0644);
    a.add_file(kModuleIndexPath, index, 0644);
    plan.early_count = early.size();
    plan.modules = std::move(order);
    return ok();
}

}  // namespace

void add_skeleton(CpioArchive& a, const std::string& version) {
    for (const char* d : {"dev", "proc", "sys", "run", "mnt", "var", "var/lib", "var/log", "etc",
                          "etc/gantry", "usr/bin", "usr/lib", "usr/lib64"}) {
        a.add_dir(d, 0755);
    }
    a.add_dir("tmp", 01777);
    a.add_dir("root", 0700);
    a.add_symlink("bin", "usr/bin");
    a.add_symlink("sbin", "usr/bin");
    a.add_symlink("lib", "usr/lib");
    a.add_symlink("lib64", "usr/lib64");
    a.add_char_device("dev/console", 5, 1, 0600);
    a.add_char_device("dev/null", 1, 3, 0666);
    a.add_file("etc/passwd",
               "root:x:0:0:root:/root:/sbin/nologin\n"
               "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n");
    a.add_file("etc/group", "root:x:0:\nnogroup:x:65534:\n");
    a.add_file("etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    a.add_file("etc/nsswitch.conf",
               "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n");
    a.add_file("etc/hostname", "gantry\n");
    a.add_file("etc/os-release", fmt::format("NAME=\"Gantry\"\nID=gantry\nVERSION_ID={0}\n"
                                             "PRETTY_NAME=\"Gantry {0}\"\n"
                                             "HOME_URL=\"https://example.invalid/gantry\"\n",
                                             version));
}

Result<ImagePlan> plan_image(const ImageInputs& in) {
    if (in.init.empty()) {
        return fail(Error::msg("no init: pass --init PATH (the build's init/gantry-init)"));
    }
    ImagePlan plan;
    add_skeleton(plan.archive, in.version);
    GANTRY_TRY(add_programs(plan.archive, in));
    if (!in.busybox.empty()) {
        GANTRY_TRY(add_busybox(plan.archive, in.busybox));
    }
    if (in.modules != nullptr) {
        GANTRY_TRY_CTX(add_modules(plan.archive, in, plan), "kernel modules");
    } else {
        plan.archive.add_file(kModuleListPath, "", 0644);
        plan.archive.add_file(kLateModuleListPath, "", 0644);
    }
    return plan;
}

Result<BuildOutput> write_image(const ImagePlan& plan, const std::string& out_dir,
                                const std::string& vmlinuz, uint32_t mtime, int zstd_level) {
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    if (ec) {
        return fail(Error::with_errno(ec.value(), "create " + out_dir));
    }
    BuildOutput out;
    std::string cpio = plan.archive.serialize(mtime);
    out.unpacked_bytes = cpio.size();
    auto packed = GANTRY_TRY(zstd_compress(cpio, zstd_level));
    out.initramfs_bytes = packed.size();
    out.initramfs_path = out_dir + "/initramfs.cpio.zst";
    GANTRY_TRY(write_file_atomic(out.initramfs_path, packed));
    std::string manifest;
    for (const auto& [path, e] : plan.archive.entries()) {
        manifest += fmt::format("{:o} {:>9} /{}\n", e.perm, e.data.size(), path);
    }
    GANTRY_TRY(write_file_atomic(out_dir + "/manifest.txt", manifest));
    if (!vmlinuz.empty()) {
        auto k = GANTRY_TRY(read_file(vmlinuz));
        out.vmlinuz_bytes = k.size();
        out.vmlinuz_path = out_dir + "/vmlinuz";
        GANTRY_TRY(write_file_atomic(out.vmlinuz_path, k));
    }
    out.entries = plan.archive.entries().size();
    out.modules = plan.modules.size();
    return out;
}

}  // namespace gantry::osimage
