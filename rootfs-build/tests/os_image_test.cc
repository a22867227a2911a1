#include "rootfs-build/os_image.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "base/fd.h"
#include "rootfs-build/os_kernel.h"

namespace gantry::osimage {
namespace {

namespace fs = std::filesystem;

std::string temp_dir(const std::string& name) {
    std::string d = fs::temp_directory_path().string() + "/osimage_test." +
                    std::to_string(getpid()) + "." + name;
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

TEST(PlanImage, HasInitSkeletonAndLibraries) {
    ImageInputs in{.init = "/bin/true", .strip = false};
    auto plan = plan_image(in);
    ASSERT_TRUE(plan) << plan.error().str();
    const auto& e = plan->archive.entries();
    ASSERT_TRUE(e.contains("init"));
    EXPECT_EQ(e.at("init").data, "/usr/bin/true");
    EXPECT_EQ(e.at("dev/console").kind, CpioEntry::Kind::CharDev);
    EXPECT_TRUE(e.contains("usr/lib/x86_64-linux-gnu/libc.so.6"));
    ASSERT_TRUE(e.contains("usr/lib64/ld-linux-x86-64.so.2"));
    EXPECT_EQ(e.at("usr/lib64/ld-linux-x86-64.so.2").kind, CpioEntry::Kind::File);
    // libc's DT_NEEDED on the loader must not store the loader twice.
    if (e.contains("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")) {
        EXPECT_EQ(e.at("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2").data,
                  "/usr/lib64/ld-linux-x86-64.so.2");
    }
    EXPECT_TRUE(e.contains("etc/os-release"));
    EXPECT_EQ(e.at("lib64").data, "usr/lib64");
    EXPECT_FALSE(e.contains("usr/bin/sh"));  // no shell without --debug
}

TEST(PlanImage, DebugAddsBusyboxAndItsApplets) {
    if (access("/bin/busybox", X_OK) != 0) {
        GTEST_SKIP() << "/bin/busybox not installed (busybox-static)";
    }
    ImageInputs in{.init = "/bin/true", .busybox = "/bin/busybox", .strip = false};
    auto plan = plan_image(in);
    ASSERT_TRUE(plan) << plan.error().str();
    const auto& e = plan->archive.entries();
    EXPECT_TRUE(e.contains("usr/bin/busybox"));
    ASSERT_TRUE(e.contains("usr/bin/sh"));
    EXPECT_EQ(e.at("usr/bin/sh").data, "busybox");
    EXPECT_EQ(e.at("usr/bin/true").kind, CpioEntry::Kind::File);  // the init wins over applets
}

TEST(PlanImage, RequiresInit) {
    EXPECT_FALSE(plan_image(ImageInputs{}));
}

TEST(WriteImage, TwoBuildsAreByteIdentical) {
    ImageInputs in{.init = "/bin/true", .strip = false};
    std::string a = temp_dir("a"), b = temp_dir("b");
    auto p1 = plan_image(in);
    auto p2 = plan_image(in);
    ASSERT_TRUE(p1 && p2);
    ASSERT_TRUE(write_image(*p1, a, "", 1234, 3));
    ASSERT_TRUE(write_image(*p2, b, "", 1234, 3));
    EXPECT_EQ(*read_file(a + "/initramfs.cpio.zst"), *read_file(b + "/initramfs.cpio.zst"));
    fs::remove_all(a);
    fs::remove_all(b);
}

// With Debian's kernel package already in the cache (the qemu build target fetches it),
// a whole image, modules included, comes out byte-identical twice.
TEST(WriteImage, RealKernelImageIsReproducible) {
    std::string cache = default_cache_dir();
    std::vector<std::string> debs;
    std::error_code ec;
    for (const auto& d : fs::directory_iterator(cache + "/debs", ec)) {
        if (d.path().filename().string().starts_with("linux-image-")) {
            debs.push_back(d.path().string());
        }
    }
    if (debs.empty()) {
        GTEST_SKIP() << "no kernel .deb cached in " << cache << "/debs (build the os-image target)";
    }
    auto kernel = unpack_kernel(debs.front(), cache);
    ASSERT_TRUE(kernel) << kernel.error().str();
    auto tree = ModuleTree::scan(kernel->modules_dir);
    ASSERT_TRUE(tree) << tree.error().str();
    ImageInputs in{.init = "/bin/true",
                   .strip = false,
                   .kernel_release = kernel->release,
                   .modules = &*tree,
                   .early_modules = early_modules(),
                   .wanted_modules = default_modules(),
                   .optional_modules = optional_modules()};
    std::string a = temp_dir("ka"), b = temp_dir("kb");
    auto p1 = plan_image(in);
    ASSERT_TRUE(p1) << p1.error().str();
    auto p2 = plan_image(in);
    ASSERT_TRUE(p2) << p2.error().str();
    // Dependencies come before their users in the load order.
    std::vector<std::string> names;
    for (const auto& m : p1->modules) {
        names.push_back(m.name);
    }
    auto pos = [&](const std::string& n) {
        return std::find(names.begin(), names.end(), n) - names.begin();
    };
    ASSERT_LT(pos("virtio_pci_modern_dev"), static_cast<long>(names.size()));
    EXPECT_LT(pos("virtio_pci_modern_dev"), pos("virtio_pci"));
    EXPECT_LT(pos("stp"), pos("bridge"));
    EXPECT_LT(pos("llc"), pos("stp"));
    EXPECT_LT(pos("nf_tables"), pos("nft_chain_nat"));
    // The early list is a prefix closed under dependencies: virtio_console and fw_cfg are in.
    EXPECT_LT(pos("virtio_console"), static_cast<long>(p1->early_count));
    EXPECT_LT(pos("qemu_fw_cfg"), static_cast<long>(p1->early_count));
    EXPECT_LT(pos("overlay"), static_cast<long>(p1->early_count));  // every container root
    EXPECT_LT(pos("evdev"), static_cast<long>(p1->early_count));
    EXPECT_LT(pos("button"), static_cast<long>(p1->early_count));  // the power button
    // virtio_blk is late: PID 1 loads it by name when it must look for a config drive.
    EXPECT_GE(pos("virtio_blk"), static_cast<long>(p1->early_count));
    EXPECT_GE(pos("bridge"), static_cast<long>(p1->early_count));
    // The NIC driver is late (PID 1 loads it by name when the config names an interface),
    // and so are its dependencies, which nothing early needs.
    EXPECT_GE(pos("virtio_net"), static_cast<long>(p1->early_count));
    EXPECT_GE(pos("net_failover"), static_cast<long>(p1->early_count));
    EXPECT_GE(pos("failover"), static_cast<long>(p1->early_count));
    const auto& e = p1->archive.entries();
    EXPECT_NE(e.at("etc/gantry/modules").data.find("virtio_console.ko"), std::string::npos);
    EXPECT_NE(e.at("etc/gantry/modules.late").data.find("bridge.ko"), std::string::npos);
    EXPECT_EQ(e.at("etc/gantry/modules.late").data.find("virtio_pci.ko"), std::string::npos);
    EXPECT_EQ(e.at("etc/gantry/modules").data.find("virtio_net.ko"), std::string::npos);
    EXPECT_NE(e.at("etc/gantry/modules.late").data.find("virtio_net.ko"), std::string::npos);
    // Optional modules are shipped and indexed (with their dependencies), never listed.
    const std::string& index = e.at("etc/gantry/modules.dep").data;
    EXPECT_EQ(e.at("etc/gantry/modules.late").data.find("/dummy.ko"), std::string::npos);
    EXPECT_NE(index.find("\ndummy /lib/modules/"), std::string::npos);
    size_t bridge = index.find("\nbridge /lib/modules/");
    ASSERT_NE(bridge, std::string::npos);
    std::string bridge_line = index.substr(bridge + 1, index.find('\n', bridge + 1) - bridge - 1);
    EXPECT_NE(bridge_line.find(" stp"), std::string::npos) << bridge_line;
    EXPECT_NE(index.find("\next4 builtin\n"), std::string::npos);
    // Modules ship unsigned by default (Debian's are signed), signed when asked to keep it.
    const std::string magic = "~Module signature appended~\n";
    std::string overlay_path;
    for (const auto& [path, entry] : e) {
        if (path.ends_with("/overlay.ko")) {
            overlay_path = path;
        }
    }
    ASSERT_FALSE(overlay_path.empty());
    EXPECT_FALSE(std::string_view(e.at(overlay_path).data).ends_with(magic));
    ImageInputs keep = in;
    keep.strip_module_signatures = false;
    auto p3 = plan_image(keep);
    ASSERT_TRUE(p3) << p3.error().str();
    const std::string& signed_ko = p3->archive.entries().at(overlay_path).data;
    EXPECT_TRUE(std::string_view(signed_ko).ends_with(magic));
    std::string stripped = signed_ko;
    ASSERT_TRUE(strip_module_signature(stripped));
    EXPECT_EQ(stripped, e.at(overlay_path).data);
    EXPECT_EQ(stripped.substr(0, 4),
              "\x7f"
              "ELF");
    ASSERT_TRUE(write_image(*p1, a, "", 0, 3));
    ASSERT_TRUE(write_image(*p2, b, "", 0, 3));
    EXPECT_EQ(*read_file(a + "/initramfs.cpio.zst"), *read_file(b + "/initramfs.cpio.zst"));
    fs::remove_all(a);
    fs::remove_all(b);
}

}  // namespace
}  // namespace gantry::osimage
