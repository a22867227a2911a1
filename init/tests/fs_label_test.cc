// Label readers and the config-drive scan, on small images made here: byte images built in
// memory (always), and real ones from mkfs.vfat / genisoimage / mkfs.ext4 when installed.
#include "init/fs_label.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "base/fd.h"
#include "init/config_drive.h"

namespace gantry::init {
namespace {

namespace fs = std::filesystem;

void put(std::string& img, size_t at, std::string_view bytes) {
    if (img.size() < at + bytes.size()) {
        img.resize(at + bytes.size(), '\0');
    }
    img.replace(at, bytes.size(), bytes);
}

void put16(std::string& img, size_t at, uint16_t v) {
    put(img, at, std::string{static_cast<char>(v & 0xff), static_cast<char>(v >> 8)});
}

void put32(std::string& img, size_t at, uint32_t v) {
    put16(img, at, v & 0xffff);
    put16(img, at + 2, v >> 16);
}

ReadAt reader(const std::string& img) {
    return [&img](uint64_t off, size_t len) -> Result<std::string> {
        if (off >= img.size()) {
            return std::string();
        }
        return img.substr(off, len);
    };
}

std::string iso_image(std::string_view volume_id) {
    std::string img(36 * 1024, '\0');
    put(img, 32768,
        "\x01"
        "CD001"
        "\x01");
    std::string id(volume_id);
    id.resize(32, ' ');
    put(img, 32768 + 40, id);
    put(img, 34816,
        "\xff"
        "CD001"
        "\x01");  // set terminator
    return img;
}

// A FAT16 boot sector (512-byte sectors, 1 reserved, 2 FATs of 8 sectors, 512 root entries)
// and its root directory, which may hold a volume-id entry.
std::string fat16_image(std::string_view bpb_label, std::string_view dir_label) {
    std::string img(64 * 1024, '\0');
    put(img, 0,
        "\xeb\x3c\x90"
        "mkfs.fat");
    put16(img, 11, 512);
    img[13] = 4;
    put16(img, 14, 1);
    img[16] = 2;
    put16(img, 17, 512);
    put16(img, 19, 128);
    img[21] = static_cast<char>(0xf8);
    put16(img, 22, 8);
    img[38] = 0x29;
    std::string l(bpb_label);
    l.resize(11, ' ');
    put(img, 43, l);
    put(img, 54, "FAT16   ");
    put(img, 510, "\x55\xaa");
    size_t root = (1 + 2 * 8) * 512;
    put(img, root, "README  TXT");  // a file first, then the label
    img[root + 11] = 0x20;
    if (!dir_label.empty()) {
        std::string d(dir_label);
        d.resize(11, ' ');
        put(img, root + 32, d);
        img[root + 32 + 11] = 0x08;
    }
    return img;
}

TEST(FsLabel, ReadsTheIso9660VolumeId) {
    std::string img = iso_image("cidata");
    auto l = probe_fs_label(reader(img));
    ASSERT_TRUE(l && *l);
    EXPECT_EQ((*l)->fstype, "iso9660");
    EXPECT_EQ((*l)->label, "cidata");
    EXPECT_FALSE(iso9660_label(std::string(2048, '\0')));
}

TEST(FsLabel, ReadsTheExtVolumeName) {
    std::string img(8192, '\0');
    put16(img, 1024 + 56, 0xEF53);
    put(img, 1024 + 120, "config-2");
    auto l = probe_fs_label(reader(img));
    ASSERT_TRUE(l && *l);
    EXPECT_EQ((*l)->fstype, "ext4");
    EXPECT_EQ((*l)->label, "config-2");
}

TEST(FsLabel, FatRootDirectoryLabelWinsOverTheBootSector) {
    std::string img = fat16_image("OLDLABEL", "CIDATA");
    auto l = probe_fs_label(reader(img));
    ASSERT_TRUE(l && *l);
    EXPECT_EQ((*l)->fstype, "vfat");
    EXPECT_EQ((*l)->label, "CIDATA");
}

TEST(FsLabel, FatBootSectorLabelWithoutADirectoryEntry) {
    std::string img = fat16_image("config-2", "");
    auto l = probe_fs_label(reader(img));
    ASSERT_TRUE(l && *l);
    EXPECT_EQ((*l)->label, "config-2");
    img = fat16_image("NO NAME", "");
    l = probe_fs_label(reader(img));
    ASSERT_TRUE(l && *l);
    EXPECT_EQ((*l)->label, "");
}

TEST(FsLabel, Fat32RootIsFoundThroughItsCluster) {
    std::string img(128 * 1024, '\0');
    put(img, 0,
        "\xeb\x58\x90"
        "mkfs.fat");
    put16(img, 11, 512);
    img[13] = 1;
    put16(img, 14, 32);
    img[16] = 2;
    img[21] = static_cast<char>(0xf8);
    put32(img, 36, 16);  // sectors per FAT; fat_size16 stays 0
    put32(img, 44, 3);   // root directory in cluster 3
    img[66] = 0x29;
    put(img, 71, "NO NAME    ");
    put(img, 510, "\x55\xaa");
    size_t root = (32 + 2 * 16 + (3 - 2) * 1) * 512;
    put(img, root, "CIDATA     ");
    img[root + 11] = 0x08;
    auto l = probe_fs_label(reader(img));
    ASSERT_TRUE(l && *l);
    EXPECT_EQ((*l)->label, "CIDATA");
}

TEST(FsLabel, UnknownBytesAreNoFileSystem) {
    std::string zeros(64 * 1024, '\0');
    auto l = probe_fs_label(reader(zeros));
    ASSERT_TRUE(l);
    EXPECT_FALSE(*l);
    std::string mbr(512, '\0');
    put(mbr, 510, "\x55\xaa");  // a partition table: the signature, but no sane BPB
    l = probe_fs_label(reader(mbr));
    ASSERT_TRUE(l);
    EXPECT_FALSE(*l);
    std::string tiny = "x";
    l = probe_fs_label(reader(tiny));
    ASSERT_TRUE(l);
    EXPECT_FALSE(*l);
}

TEST(FsLabel, ReadErrorsAreReported) {
    auto l = probe_fs_label(
        [](uint64_t, size_t) -> Result<std::string> { return fail(Error::msg("EIO")); });
    EXPECT_FALSE(l);
}

// --- the scan over a fake /sys and /dev -----------------------------------------------

class ConfigDriveScan : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / fmt::format("config-drive-test-{}", ::getpid());
        fs::remove_all(root_);
        fs::create_directories(root_ / "dev");
    }
    void TearDown() override { fs::remove_all(root_); }
    void device(const std::string& name, const std::string& bytes, const std::string& size = "72") {
        fs::create_directories(root_ / "sys/class/block" / name);
        ASSERT_TRUE(
            write_file_atomic((root_ / "sys/class/block" / name / "size").string(), size + "\n"));
        ASSERT_TRUE(write_file_atomic((root_ / "dev" / name).string(), bytes));
    }
    DriveScan scan() {
        return scan_config_drives((root_ / "sys").string(), (root_ / "dev").string());
    }
    fs::path root_;
};

TEST_F(ConfigDriveScan, FindsLabelledDrivesCaseInsensitively) {
    device("vda", std::string(64 * 1024, '\0'));
    device("vdb", fat16_image("CIDATA", "CIDATA"));
    device("vdc", iso_image("other"));
    device("loop0", iso_image("cidata"));     // never probed
    device("sr0", iso_image("cidata"), "0");  // no medium
    auto s = scan();
    EXPECT_TRUE(s.problems.empty());
    ASSERT_EQ(s.found.size(), 1u);
    EXPECT_EQ(s.found[0].device, (root_ / "dev/vdb").string());
    EXPECT_EQ(s.found[0].kind, "cidata");
    EXPECT_EQ(s.found[0].fs.fstype, "vfat");
}

TEST_F(ConfigDriveScan, UnreadableDeviceIsAProblemNotAStop) {
    device("vdb", iso_image("cidata"));
    fs::create_directories(root_ / "sys/class/block/vdc");
    ASSERT_TRUE(write_file_atomic((root_ / "sys/class/block/vdc/size").string(), "8\n"));
    auto s = scan();
    ASSERT_EQ(s.found.size(), 1u);
    ASSERT_EQ(s.problems.size(), 1u);
    EXPECT_NE(s.problems[0].find("vdc: cannot read it"), std::string::npos) << s.problems[0];
}

TEST(ConfigDriveChoice, NoCloudFirstThenConfig2AndTheRestIgnoredLoudly) {
    DriveCandidate a{"/dev/vdb", "vdb", {"iso9660", "config-2"}, "config-2"};
    DriveCandidate b{"/dev/vdc", "vdc", {"vfat", "CIDATA"}, "cidata"};
    DriveCandidate c{"/dev/vdd", "vdd", {"iso9660", "cidata"}, "cidata"};
    auto ch = choose_config_drive({a, b, c});
    ASSERT_TRUE(ch.chosen);
    EXPECT_EQ(ch.chosen->device, "/dev/vdc");
    ASSERT_EQ(ch.problems.size(), 2u);
    EXPECT_NE(ch.problems[0].find("/dev/vdb (iso9660 config-2) ignored: /dev/vdc"),
              std::string::npos)
        << ch.problems[0];
    EXPECT_FALSE(choose_config_drive({}).chosen);
    EXPECT_EQ(config_drive_kind("CONFIG-2"), "config-2");
    EXPECT_EQ(config_drive_kind("cidata2"), "");
}

// --- real images, when the tools are installed (scripts/install-deps) ------------------

bool have(const char* tool) {
    return std::system(fmt::format("command -v {} >/dev/null 2>&1", tool).c_str()) == 0;
}

std::string temp_path(const std::string& name) {
    return (fs::temp_directory_path() / fmt::format("fs-label-{}-{}", ::getpid(), name)).string();
}

Result<std::optional<FsLabel>> probe_file(const std::string& path) {
    auto bytes = GANTRY_TRY(read_file(path));
    return probe_fs_label(reader(bytes));
}

TEST(FsLabelRealImages, Genisoimage) {
    if (!have("genisoimage")) {
        GTEST_SKIP() << "genisoimage not installed (scripts/install-deps)";
    }
    std::string dir = temp_path("iso-dir"), iso = temp_path("cidata.iso");
    fs::create_directories(dir);
    ASSERT_TRUE(write_file_atomic(dir + "/user-data", "#cloud-config\n"));
    ASSERT_EQ(
        std::system(fmt::format("genisoimage -quiet -o {} -V cidata -J -R {}", iso, dir).c_str()),
        0);
    auto l = probe_file(iso);
    fs::remove_all(dir);
    fs::remove(iso);
    ASSERT_TRUE(l && *l);
    EXPECT_EQ((*l)->fstype, "iso9660");
    EXPECT_EQ((*l)->label, "cidata");
}

TEST(FsLabelRealImages, MkfsVfatFat12AndFat32) {
    if (!have("mkfs.vfat")) {
        GTEST_SKIP() << "mkfs.vfat not installed (dosfstools, scripts/install-deps)";
    }
    for (const char* extra : {"", "-F 32"}) {
        std::string img = temp_path("vfat.img");
        fs::remove(img);
        // FAT32 needs at least 65525 clusters: 33 MiB with 512-byte clusters.
        int kib = std::string(extra).empty() ? 1024 : 34 * 1024;
        ASSERT_EQ(std::system(fmt::format("mkfs.vfat {} -s 1 -n CONFIG-2 -C {} {} >/dev/null 2>&1",
                                          extra, img, kib)
                                  .c_str()),
                  0);
        auto l = probe_file(img);
        fs::remove(img);
        ASSERT_TRUE(l && *l) << extra;
        EXPECT_EQ((*l)->fstype, "vfat");
        EXPECT_EQ((*l)->label, "CONFIG-2") << extra;
    }
}

TEST(FsLabelRealImages, MkfsExt4) {
    if (!have("mkfs.ext4")) {
        GTEST_SKIP() << "mkfs.ext4 not installed (e2fsprogs)";
    }
    std::string img = temp_path("ext4.img");
    fs::remove(img);
    ASSERT_EQ(std::system(fmt::format("mkfs.ext4 -q -L cidata {} 2M >/dev/null 2>&1", img).c_str()),
              0);
    auto l = probe_file(img);
    fs::remove(img);
    ASSERT_TRUE(l && *l);
    EXPECT_EQ((*l)->fstype, "ext4");
    EXPECT_EQ((*l)->label, "cidata");
}

}  // namespace
}  // namespace gantry::init
