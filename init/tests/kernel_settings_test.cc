// kernel.modules / kernel.sysctl: names to paths, the module index, and writing sysctls
// into a fake /proc/sys. Loading real modules is proven under QEMU (cases/kernel_settings).
#include "init/kernel_settings.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "base/fd.h"
#include "init/pid1_modules.h"

namespace gantry::init {
namespace {

namespace fs = std::filesystem;

TEST(SysctlPath, DotsBecomeSlashes) {
    EXPECT_EQ(*sysctl_path("net.ipv4.ip_forward", "/p"), "/p/net/ipv4/ip_forward");
    EXPECT_EQ(*sysctl_path("vm.swappiness"), "/proc/sys/vm/swappiness");
}

TEST(SysctlPath, SlashFirstKeepsThePathAndDotFirstSwaps) {
    // sysctl.d(5): the VLAN interface eth0.100, written either way.
    EXPECT_EQ(*sysctl_path("net/ipv4/conf/eth0.100/rp_filter", "/p"),
              "/p/net/ipv4/conf/eth0.100/rp_filter");
    EXPECT_EQ(*sysctl_path("net.ipv4.conf.eth0/100.rp_filter", "/p"),
              "/p/net/ipv4/conf/eth0.100/rp_filter");
}

TEST(SysctlPath, RefusesKeysThatLeaveProcSys) {
    EXPECT_FALSE(sysctl_path(""));
    EXPECT_FALSE(sysctl_path("net..ipv4"));
    EXPECT_FALSE(sysctl_path("net/../../etc/passwd"));
    EXPECT_FALSE(sysctl_path("kernel."));
}

TEST(ModuleIndex, ParsesAndOrdersDependenciesFirst) {
    auto index = parse_module_index(
        "# comment\n"
        "fat /m/fat.ko\n"
        "vfat /m/vfat.ko fat\n"
        "nls-cp437 /m/nls_cp437.ko\n"
        "br_netfilter /m/br_netfilter.ko bridge\n"
        "bridge /m/bridge.ko stp llc\n"
        "stp /m/stp.ko llc\n"
        "llc /m/llc.ko\n"
        "ext4 builtin\n");
    EXPECT_EQ(*module_files(index, "vfat"), (std::vector<std::string>{"/m/fat.ko", "/m/vfat.ko"}));
    EXPECT_EQ(
        *module_files(index, "br-netfilter"),
        (std::vector<std::string>{"/m/llc.ko", "/m/stp.ko", "/m/bridge.ko", "/m/br_netfilter.ko"}));
    EXPECT_EQ(*module_files(index, "nls_cp437"), (std::vector<std::string>{"/m/nls_cp437.ko"}));
    EXPECT_TRUE(module_files(index, "ext4")->empty());
    auto missing = module_files(index, "wireguard");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().str().find("not in this OS image"), std::string::npos);
    auto broken = module_files(parse_module_index("a /a.ko b\n"), "a");
    ASSERT_FALSE(broken);
    EXPECT_NE(broken.error().str().find("dependency b"), std::string::npos);
    auto cycle = module_files(parse_module_index("a /a.ko b\nb /b.ko a\n"), "a");
    ASSERT_FALSE(cycle);
    EXPECT_NE(cycle.error().str().find("cycle"), std::string::npos);
}

class KernelSettings : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / fmt::format("kernel-settings-{}", ::getpid());
        fs::remove_all(root_);
        fs::create_directories(root_ / "sys/vm");
        fs::create_directories(root_ / "sys/net/ipv4");
        ASSERT_TRUE(write_file_atomic((root_ / "sys/vm/swappiness").string(), "60\n"));
        ASSERT_TRUE(write_file_atomic((root_ / "sys/net/ipv4/ip_forward").string(), "0\n"));
        ASSERT_TRUE(write_file_atomic((root_ / "modules.dep").string(), "ext4 builtin\n"));
        paths_.module_index = (root_ / "modules.dep").string();
        paths_.proc_sys = (root_ / "sys").string();
    }
    void TearDown() override { fs::remove_all(root_); }
    fs::path root_;
    KernelPaths paths_;
};

TEST_F(KernelSettings, WritesSysctlsAndReportsEveryFailure) {
    auto r = apply_kernel_settings({"ext4", "no_such_module"},
                                   {{"vm.swappiness", "13"},
                                    {"net.ipv4.ip_forward", "1"},
                                    {"kernel.no_such_knob", "1"},
                                    {"../etc", "x"}},
                                   paths_);
    EXPECT_EQ(*read_file((root_ / "sys/vm/swappiness").string()), "13");
    EXPECT_EQ(*read_file((root_ / "sys/net/ipv4/ip_forward").string()), "1");
    EXPECT_FALSE(fs::exists(root_ / "sys/kernel/no_such_knob"));  // never created
    EXPECT_EQ(r.modules_loaded, 1);
    EXPECT_EQ(r.sysctls_set, 2);
    EXPECT_EQ(r.errors, 3);
    ASSERT_EQ(r.items.size(), 6u);
    EXPECT_EQ(r.items[0].what, "module");
    EXPECT_EQ(r.items[0].result, "built in");
    EXPECT_NE(r.items[1].error.find("not in this OS image"), std::string::npos);
    bool unknown_reported = false;
    for (const auto& i : r.items) {
        if (i.name == "kernel.no_such_knob") {
            unknown_reported = i.error.find("unknown sysctl") != std::string::npos;
        }
    }
    EXPECT_TRUE(unknown_reported);
}

TEST_F(KernelSettings, NoIndexMeansModulesFailWithTheReason) {
    paths_.module_index = (root_ / "missing.dep").string();
    auto r = apply_kernel_settings({"dummy"}, {}, paths_);
    ASSERT_EQ(r.items.size(), 1u);
    EXPECT_NE(r.items[0].error.find("missing.dep"), std::string::npos) << r.items[0].error;
    EXPECT_EQ(r.errors, 1);
}

}  // namespace
}  // namespace gantry::init
