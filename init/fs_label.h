// Which file system a block device holds, and its label, read from the device's own bytes
// the way blkid(8) does. The initramfs has no blkid and PID 1 links no libblkid: finding a
// config drive by label (cidata, config-2) needs only these three formats.
//
//   iso9660  primary volume descriptor in sector 16 (byte 32768): "CD001", volume id at +40
//   vfat     boot sector BPB; the label in the root directory's volume-id entry wins over
//            the copy in the extended BPB (what mlabel and Windows change), as blkid does
//   ext2/3/4 superblock at byte 1024: magic 0xEF53 at +56, s_volume_name at +120
//
// The parsers take bytes, not paths (STYLE.md), so tests feed them images made in memory.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace gantry::init {

struct FsLabel {
    std::string fstype;  // what mount(2) takes: "iso9660", "vfat", "ext4"
    std::string label;   // trailing blanks removed; "" when the file system has none
};

// The volume id of an iso9660 primary volume descriptor (the 2048-byte sector 16).
std::optional<std::string> iso9660_label(std::string_view sector);
// s_volume_name of an ext2/3/4 superblock (the 1024 bytes at offset 1024).
std::optional<std::string> ext_label(std::string_view superblock);

// Where a FAT file system keeps its root directory's first cluster/sectors, from the
// boot sector; nullopt when the sector is no FAT boot sector.
struct FatLayout {
    std::string bpb_label;     // the extended BPB's copy; "" for none or "NO NAME"
    uint64_t root_offset = 0;  // byte offset of the root directory
    uint64_t root_size = 0;    // bytes to read for it (FAT32: one cluster)
};
std::optional<FatLayout> fat_layout(std::string_view boot_sector);
// The volume-id entry of a FAT directory (32-byte entries), or nullopt without one.
std::optional<std::string> fat_dir_label(std::string_view dir);

// Reads `len` bytes at `offset`; fewer at the end of the device.
using ReadAt = std::function<Result<std::string>(uint64_t offset, size_t len)>;

// Probes iso9660, ext2/3/4 and vfat in that order. nullopt: none of them (a partition
// table, swap, an empty disk). Fails only when the device cannot be read.
Result<std::optional<FsLabel>> probe_fs_label(const ReadAt& read);

}  // namespace gantry::init
