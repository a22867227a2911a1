#include "rootfs-build/os_cpio.h"

#include <gtest/gtest.h>
#include <zstd.h>

namespace gantry::osimage {
namespace {

TEST(CpioArchive, SortsPathsAndCreatesParents) {
    CpioArchive a;
    a.add_file("usr/bin/x", "hello", 0755);
    a.add_file("etc/passwd", "root");
    std::vector<std::string> paths;
    for (const auto& [p, e] : a.entries()) {
        paths.push_back(p);
    }
    EXPECT_EQ(paths,
              (std::vector<std::string>{"etc", "etc/passwd", "usr", "usr/bin", "usr/bin/x"}));
    EXPECT_EQ(a.entries().at("usr").kind, CpioEntry::Kind::Dir);
}

TEST(CpioArchive, SerializesNewcRecords) {
    CpioArchive a;
    a.add_file("f", "abc", 0644);
    std::string out = a.serialize(1700000000);
    ASSERT_EQ(out.substr(0, 6), "070701");
    // ino 1, mode 0100644, uid 0, gid 0, nlink 1, mtime, filesize 3.
    EXPECT_EQ(out.substr(6, 8 * 7),
              "00000001000081A4000000000000000000000001"
              "6553F10000000003");
    // name "f\0" right after the 110-byte header, data padded to 4 bytes.
    EXPECT_EQ(out.substr(110, 2), std::string("f\0", 2));
    EXPECT_EQ(out.substr(112, 3), "abc");
    EXPECT_NE(out.find("TRAILER!!!"), std::string::npos);
    EXPECT_EQ(out.size() % 512, 0u);
}

TEST(CpioArchive, SameInputsSameBytes) {
    auto build = [](bool reverse) {
        CpioArchive a;
        std::vector<std::pair<std::string, std::string>> files = {
            {"a/b", "1"}, {"a/c", "22"}, {"d", "333"}};
        if (reverse) {
            std::reverse(files.begin(), files.end());
        }
        for (auto& [p, d] : files) {
            a.add_file(p, d);
        }
        a.add_char_device("dev/console", 5, 1, 0600);
        a.add_symlink("init", "/usr/bin/x");
        return a.serialize(0);
    };
    EXPECT_EQ(build(false), build(true));
}

TEST(CpioArchive, CharDeviceCarriesRdev) {
    CpioArchive a;
    a.add_char_device("console", 5, 1, 0600);
    std::string out = a.serialize(0);
    EXPECT_EQ(out.substr(6 + 8, 8), "00002180");               // S_IFCHR | 0600
    EXPECT_EQ(out.substr(6 + 8 * 9, 16), "0000000500000001");  // rdevmajor, rdevminor
}

TEST(CheckArchivePath, RejectsAbsoluteAndDotDot) {
    EXPECT_TRUE(check_archive_path("etc/passwd"));
    EXPECT_FALSE(check_archive_path("/etc/passwd"));
    EXPECT_FALSE(check_archive_path("etc/../x"));
    EXPECT_FALSE(check_archive_path("etc//x"));
    EXPECT_FALSE(check_archive_path("etc/"));
}

TEST(ZstdCompress, RoundTripsAndIsDeterministic) {
    std::string data(100000, 'x');
    auto a = zstd_compress(data, 19);
    auto b = zstd_compress(data, 19);
    ASSERT_TRUE(a) << a.error().str();
    EXPECT_EQ(*a, *b);
    std::string back(data.size(), '\0');
    size_t n = ZSTD_decompress(back.data(), back.size(), a->data(), a->size());
    ASSERT_FALSE(ZSTD_isError(n));
    EXPECT_EQ(back, data);
}

}  // namespace
}  // namespace gantry::osimage
