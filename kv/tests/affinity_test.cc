#include "kv/affinity.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace gantry::kv {
namespace {

namespace fs = std::filesystem;

TEST(CpuList, Parses) {
    auto c = parse_cpu_list("0-2,5\n");
    ASSERT_TRUE(c) << c.error().str();
    EXPECT_EQ(*c, (std::set<int>{0, 1, 2, 5}));
    auto empty = parse_cpu_list("\n");
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->empty());
    for (const char* bad : {"a", "3-1", "1-", "-1", "1,,2", "0-99999"}) {
        EXPECT_FALSE(parse_cpu_list(bad)) << bad;
    }
}

// A fake /sys and /proc shaped like this machine's virtio-blk disk: two MSI interrupts, the
// config one (never fired, on CPU 0) and the request queue's (on CPU 1).
class StorageIrq : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("kv-affinity-" + std::to_string(::getpid()));
        fs::remove_all(root_);
        sys_ = root_ / "sys";
        proc_ = root_ / "proc";
        fs::path pci = sys_ / "devices/pci0000:00/0000:00:02.0";
        fs::create_directories(pci / "msi_irqs");
        write(pci / "msi_irqs/35", "msix");
        write(pci / "msi_irqs/36", "msix");
        fs::path vda = pci / "virtio1/block/vda";
        fs::create_directories(vda / "vda1");
        fs::create_directory_symlink("../../../virtio1", vda / "device");
        write(vda / "vda1/partition", "1");
        fs::create_directories(sys_ / "dev/block");
        fs::create_directory_symlink("../../devices/pci0000:00/0000:00:02.0/virtio1/block/vda",
                                     sys_ / "dev/block/254:0");
        fs::create_directory_symlink("../../devices/pci0000:00/0000:00:02.0/virtio1/block/vda/vda1",
                                     sys_ / "dev/block/254:1");
        irq(35, "0,0\n", "0\n");
        irq(36, "0,12101229\n", "1\n");
    }
    void TearDown() override { fs::remove_all(root_); }
    void write(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }
    void irq(int n, const std::string& counts, const std::string& cpus) {
        fs::create_directories(sys_ / "kernel/irq" / std::to_string(n));
        write(sys_ / "kernel/irq" / std::to_string(n) / "per_cpu_count", counts);
        fs::create_directories(proc_ / "irq" / std::to_string(n));
        write(proc_ / "irq" / std::to_string(n) / "effective_affinity_list", cpus);
    }
    Result<IrqCpus> find(unsigned maj, unsigned min) {
        return storage_irq_cpus(makedev(maj, min), sys_.string(), proc_.string());
    }
    fs::path root_, sys_, proc_;
};

TEST_F(StorageIrq, DiskTakesTheQueueInterruptNotTheConfigOne) {
    auto r = find(254, 0);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->cpus, std::set<int>{1});
    EXPECT_EQ(r->irqs, std::vector<int>{36});
    EXPECT_TRUE(r->device.ends_with("0000:00:02.0")) << r->device;
}

TEST_F(StorageIrq, PartitionResolvesToItsDisk) {
    auto r = find(254, 1);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->cpus, std::set<int>{1});
}

TEST_F(StorageIrq, UnionOfEveryQueueThatFired) {
    write(sys_ / "devices/pci0000:00/0000:00:02.0/msi_irqs/37", "msix");
    irq(37, "5,0\n", "0\n");
    auto r = find(254, 0);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->cpus, (std::set<int>{0, 1}));
    EXPECT_EQ(r->irqs, (std::vector<int>{36, 37}));
}

TEST_F(StorageIrq, FailsWithoutAnswer) {
    EXPECT_FALSE(find(0, 26));  // tmpfs, overlayfs: no block device
    irq(36, "0,0\n", "1\n");
    EXPECT_FALSE(find(254, 0));  // nothing fired yet
    fs::remove_all(sys_ / "devices/pci0000:00/0000:00:02.0/msi_irqs");
    EXPECT_FALSE(find(254, 0));  // no MSI interrupts anywhere above the disk
}

// The pinning follows the interrupt when it moves, including back to a CPU that the first
// pinning left out (pin_to within the CPUs allowed at the start, not the ones left now).
TEST_F(StorageIrq, PinFollowsTheInterrupt) {
    auto allowed = allowed_cpus();
    ASSERT_TRUE(allowed);
    if (allowed->size() < 2) {
        GTEST_SKIP() << "needs 2 CPUs to move between";
    }
    int first = *allowed->begin(), last = *allowed->rbegin();
    std::thread([&] {  // sched_setaffinity(0) changes the calling thread only
        StoragePin pin(makedev(254, 1), sys_.string(), proc_.string());
        irq(36, "0,5\n", std::to_string(last) + "\n");
        auto moved = pin.refresh();
        ASSERT_TRUE(moved) << moved.error().str();
        EXPECT_EQ(*moved, std::set<int>{last});
        moved = pin.refresh();
        ASSERT_TRUE(moved);
        EXPECT_FALSE(*moved);  // unchanged: stays
        irq(36, "0,5\n", std::to_string(first) + "\n");
        moved = pin.refresh();
        ASSERT_TRUE(moved) << moved.error().str();
        EXPECT_EQ(*moved, std::set<int>{first});
        EXPECT_EQ(allowed_cpus().value(), std::set<int>{first});
        // No answer any more (the device went away): an error, and the thread stays put.
        fs::remove_all(sys_ / "dev/block");
        EXPECT_FALSE(pin.refresh());
        EXPECT_EQ(allowed_cpus().value(), std::set<int>{first});
    })
        .join();
}

TEST(PinTo, ChangesOnlyWhenThereIsSomethingToChange) {
    cpu_set_t now;
    ASSERT_EQ(::sched_getaffinity(0, sizeof now, &now), 0);
    std::set<int> all;
    for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (CPU_ISSET(c, &now)) {
            all.insert(c);
        }
    }
    if (all.size() < 2) {
        GTEST_SKIP() << "needs 2 CPUs to pin to a subset";
    }
    // In a thread of its own: sched_setaffinity(0) changes the calling thread only.
    std::thread([&] {
        EXPECT_EQ(pin_to({}), false);
        EXPECT_EQ(pin_to({CPU_SETSIZE + 5}), false);  // none of them allowed
        EXPECT_EQ(pin_to(all), false);                // already there
        int last = *all.rbegin();
        EXPECT_EQ(pin_to({last}), true);
        cpu_set_t after;
        ASSERT_EQ(::sched_getaffinity(0, sizeof after, &after), 0);
        EXPECT_EQ(CPU_COUNT(&after), 1);
        EXPECT_TRUE(CPU_ISSET(last, &after));
        EXPECT_EQ(pin_to({last}), false);
    }).join();
}

}  // namespace
}  // namespace gantry::kv
