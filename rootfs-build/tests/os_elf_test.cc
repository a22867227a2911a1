#include "rootfs-build/os_elf.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "base/fd.h"
#include "rootfs-build/os_modules.h"

namespace gantry::osimage {
namespace {

bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(ParseElf, ReadsInterpreterAndNeededOfAHostProgram) {
    auto bytes = read_file("/bin/true");
    ASSERT_TRUE(bytes) << bytes.error().str();
    auto info = parse_elf(*bytes);
    ASSERT_TRUE(info) << info.error().str();
    EXPECT_EQ(info->interpreter, "/lib64/ld-linux-x86-64.so.2");
    EXPECT_TRUE(has(info->needed, "libc.so.6"));
}

TEST(ParseElf, RejectsNonElf) {
    auto info = parse_elf("#!/bin/sh\necho hi\n");
    ASSERT_FALSE(info);
    EXPECT_NE(info.error().str().find("not an ELF"), std::string::npos);
    EXPECT_FALSE(
        parse_elf(std::string("\x7f"
                              "ELF",
                              4)));  // truncated header
}

TEST(LibraryClosure, IncludesLoaderAndTransitiveLibraries) {
    // The test binary itself links gtest, libstdc++, libc: a real transitive closure.
    auto files = library_closure({"/proc/self/exe"});
    ASSERT_TRUE(files) << files.error().str();
    std::vector<std::string> dsts;
    for (const auto& f : *files) {
        dsts.push_back(f.image_path);
    }
    EXPECT_TRUE(has(dsts, "usr/lib64/ld-linux-x86-64.so.2"));
    EXPECT_TRUE(has(dsts, "usr/lib/x86_64-linux-gnu/libc.so.6"));
    EXPECT_TRUE(has(dsts, "usr/lib/x86_64-linux-gnu/libstdc++.so.6"));
    EXPECT_TRUE(has(dsts, "usr/lib/x86_64-linux-gnu/libm.so.6"));  // via libstdc++
    EXPECT_TRUE(std::is_sorted(dsts.begin(), dsts.end()));
}

TEST(LibraryClosure, MissingLibraryNamesTheProgram) {
    LibrarySearch empty{.dirs = {"/nonexistent"}};
    auto files = library_closure({"/bin/true"}, empty);
    ASSERT_FALSE(files);
    EXPECT_NE(files.error().str().find("libc.so.6"), std::string::npos);
}

// What scripts/sign-file appends: signature bytes, struct module_signature (its length
// big-endian in the last 4 of 12 bytes), the magic.
TEST(ModuleSignature, StripsWhatSignFileAppends) {
    const std::string body = std::string(
                                 "\x7f"
                                 "ELF",
                                 4) +
                             std::string(100, 'x');
    const std::string sig(300, 's');
    std::string info(12, '\0');
    info[10] = 0x01;  // 300 = 0x012c
    info[11] = 0x2c;
    std::string ko = body + sig + info + "~Module signature appended~\n";
    ASSERT_TRUE(strip_module_signature(ko));
    EXPECT_EQ(ko, body);
    EXPECT_FALSE(strip_module_signature(ko));  // unsigned: left alone
    EXPECT_EQ(ko, body);
    // A length longer than the file: not ours to cut.
    std::string bad = body + info;
    bad[bad.size() - 2] = 0x7f;
    bad += "~Module signature appended~\n";
    std::string before = bad;
    EXPECT_FALSE(strip_module_signature(bad));
    EXPECT_EQ(bad, before);
}

TEST(ModuleName, NormalizesDashesAndExtensions) {
    EXPECT_EQ(module_name_from_file("virtio-rng.ko.xz"), "virtio_rng");
    EXPECT_EQ(module_name_from_file("crc32c-intel.ko"), "crc32c_intel");
    EXPECT_EQ(module_name_from_file("ext4"), "ext4");
}

}  // namespace
}  // namespace gantry::osimage
