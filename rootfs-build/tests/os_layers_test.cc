#include "rootfs-build/os_layers.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <map>

#include "base/fd.h"

namespace gantry::osimage {
namespace {

namespace fs = std::filesystem;

// One newc header, read back from CpioArchive::serialize.
struct Header {
    uint32_t ino, mode, uid, gid, nlink, mtime, size;
};

std::map<std::string, Header> parse_newc(const std::string& a) {
    std::map<std::string, Header> out;
    size_t pos = 0;
    auto hex = [&](size_t field) {
        return static_cast<uint32_t>(std::stoul(a.substr(pos + 6 + 8 * field, 8), nullptr, 16));
    };
    while (pos + 110 <= a.size() && a.compare(pos, 6, "070701") == 0) {
        Header h{hex(0), hex(1), hex(2), hex(3), hex(4), hex(5), hex(6)};
        uint32_t namesize = hex(11);
        std::string name = a.substr(pos + 110, namesize - 1);
        if (name == "TRAILER!!!") {
            break;
        }
        out[name] = h;
        size_t data = (pos + 110 + namesize + 3) & ~size_t{3};
        pos = (data + h.size + 3) & ~size_t{3};
    }
    return out;
}

class TempTree : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string t = (fs::temp_directory_path() / "os-layers-XXXXXX").string();
        ASSERT_NE(::mkdtemp(t.data()), nullptr);
        root_ = t;
    }
    void TearDown() override { fs::remove_all(root_); }
    std::string root_;
};

TEST_F(TempTree, AddTreeKeepsOwnersMtimesLinksAndTypes) {
    std::string d = root_ + "/layer";
    fs::create_directories(d + "/bin");
    ASSERT_TRUE(write_file_atomic(d + "/bin/busybox", "ELF"));
    ASSERT_EQ(::link((d + "/bin/busybox").c_str(), (d + "/bin/sh").c_str()), 0);
    fs::create_symlink("busybox", d + "/bin/ls");
    ASSERT_EQ(::mkfifo((d + "/fifo").c_str(), 0600), 0);
    ::chmod((d + "/bin/busybox").c_str(), 04755);
    struct timespec times[2] = {{1000, 0}, {1234567, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (d + "/bin/busybox").c_str(), times, 0), 0);
    bool root = ::geteuid() == 0;
    if (root) {
        ASSERT_EQ(::lchown((d + "/fifo").c_str(), 1000, 2000), 0);
    }

    CpioArchive a;
    ASSERT_TRUE(add_tree(a, d, "store/layers/sha256/ab", ::time(nullptr) - 60));
    auto h = parse_newc(a.serialize(7));
    ASSERT_TRUE(h.contains("store/layers/sha256/ab"));
    EXPECT_EQ(h["store/layers/sha256/ab"].mode & S_IFMT, static_cast<uint32_t>(S_IFDIR));
    const Header& bb = h["store/layers/sha256/ab/bin/busybox"];
    const Header& sh = h["store/layers/sha256/ab/bin/sh"];
    EXPECT_EQ(bb.mode, static_cast<uint32_t>(S_IFREG | 04755));
    EXPECT_EQ(bb.mtime, 1234567u);  // the file's own, not the archive's 7
    // Directories the test just made carry the build's clock: the archive's mtime instead.
    EXPECT_EQ(h["store/layers/sha256/ab/bin"].mtime, 7u);
    EXPECT_EQ(bb.ino, sh.ino);  // one inode, data once
    EXPECT_EQ(bb.nlink, 2u);
    EXPECT_EQ(sh.nlink, 2u);
    EXPECT_EQ(bb.size + sh.size, 3u);
    EXPECT_EQ(h["store/layers/sha256/ab/bin/ls"].mode & S_IFMT, static_cast<uint32_t>(S_IFLNK));
    EXPECT_EQ(h["store/layers/sha256/ab/fifo"].mode, static_cast<uint32_t>(S_IFIFO | 0600));
    if (root) {
        EXPECT_EQ(h["store/layers/sha256/ab/fifo"].uid, 1000u);
        EXPECT_EQ(h["store/layers/sha256/ab/fifo"].gid, 2000u);
    }
    // The OS's own entries keep the archive's mtime and root's owners.
    a.add_file("etc/hostname", "x");
    auto h2 = parse_newc(a.serialize(7));
    EXPECT_EQ(h2["etc/hostname"].mtime, 7u);
    EXPECT_EQ(h2["etc/hostname"].uid, 0u);
    EXPECT_NE(h2["etc/hostname"].ino, h2["store/layers/sha256/ab/bin/busybox"].ino);
}

TEST_F(TempTree, XattrsKeepALayerPacked) {
    std::string d = root_ + "/layer";
    fs::create_directories(d + "/etc");
    ASSERT_TRUE(write_file_atomic(d + "/etc/x", "1"));
    auto clean = cpio_unsafe(d);
    ASSERT_TRUE(clean) << clean.error().str();
    EXPECT_EQ(*clean, "");
    if (::setxattr((d + "/etc").c_str(), "user.gantry-test", "y", 1, 0) != 0) {
        GTEST_SKIP() << "the temp dir's filesystem has no user xattrs";
    }
    auto why = cpio_unsafe(d);
    ASSERT_TRUE(why) << why.error().str();
    EXPECT_NE(why->find("'/etc' has xattrs"), std::string::npos) << *why;
}

}  // namespace
}  // namespace gantry::osimage
