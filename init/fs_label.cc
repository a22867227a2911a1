#include "init/fs_label.h"

#include <algorithm>

namespace gantry::init {
namespace {

uint32_t le16(std::string_view b, size_t at) {
    return static_cast<uint8_t>(b[at]) | static_cast<uint32_t>(static_cast<uint8_t>(b[at + 1]))
                                             << 8;
}

uint32_t le32(std::string_view b, size_t at) {
    return le16(b, at) | le16(b, at + 2) << 16;
}

// Labels are padded with blanks (iso9660, FAT) or NULs (ext).
std::string trim_label(std::string_view s) {
    size_t end = s.find('\0');
    s = s.substr(0, end == std::string_view::npos ? s.size() : end);
    while (!s.empty() && s.back() == ' ') {
        s.remove_suffix(1);
    }
    return std::string(s);
}

bool power_of_two(uint32_t v) {
    return v != 0 && (v & (v - 1)) == 0;
}

}  // namespace

std::optional<std::string> iso9660_label(std::string_view sector) {
    // ECMA-119 8.4: type 1 (primary), "CD001", version 1; the volume identifier is the
    // 32 "d-characters" at byte 40.
    if (sector.size() < 72 || sector[0] != 1 || sector.substr(1, 5) != "CD001") {
        return std::nullopt;
    }
    return trim_label(sector.substr(40, 32));
}

std::optional<std::string> ext_label(std::string_view superblock) {
    if (superblock.size() < 136 || le16(superblock, 56) != 0xEF53) {
        return std::nullopt;
    }
    return trim_label(superblock.substr(120, 16));
}

std::optional<FatLayout> fat_layout(std::string_view b) {
    if (b.size() < 512 || static_cast<uint8_t>(b[510]) != 0x55 ||
        static_cast<uint8_t>(b[511]) != 0xAA) {
        return std::nullopt;
    }
    uint32_t bytes_per_sector = le16(b, 11);
    uint32_t sectors_per_cluster = static_cast<uint8_t>(b[13]);
    uint32_t reserved = le16(b, 14);
    uint32_t fats = static_cast<uint8_t>(b[16]);
    uint32_t root_entries = le16(b, 17);
    uint32_t media = static_cast<uint8_t>(b[21]);
    uint32_t fat_size16 = le16(b, 22);
    // The sanity checks blkid makes, so an MBR or a random sector is not taken for FAT.
    if (bytes_per_sector < 512 || bytes_per_sector > 4096 || !power_of_two(bytes_per_sector) ||
        !power_of_two(sectors_per_cluster) || reserved == 0 || fats == 0 || fats > 4 ||
        (media != 0xF0 && media < 0xF8)) {
        return std::nullopt;
    }
    FatLayout out;
    const bool fat32 = fat_size16 == 0;
    size_t sig_at = fat32 ? 66 : 38;  // extended BPB: boot signature, serial, label
    if (b[sig_at] == 0x29) {
        out.bpb_label = trim_label(b.substr(sig_at + 5, 11));
        if (out.bpb_label == "NO NAME") {
            out.bpb_label.clear();
        }
    }
    if (fat32) {
        uint32_t fat_size = le32(b, 36);
        uint32_t root_cluster = le32(b, 44);
        if (fat_size == 0 || root_cluster < 2) {
            return std::nullopt;
        }
        uint64_t first_data = reserved + static_cast<uint64_t>(fats) * fat_size;
        out.root_offset =
            (first_data + static_cast<uint64_t>(root_cluster - 2) * sectors_per_cluster) *
            bytes_per_sector;
        out.root_size = static_cast<uint64_t>(sectors_per_cluster) * bytes_per_sector;
    } else {
        out.root_offset = (reserved + static_cast<uint64_t>(fats) * fat_size16) * bytes_per_sector;
        out.root_size = static_cast<uint64_t>(root_entries) * 32;
    }
    return out;
}

std::optional<std::string> fat_dir_label(std::string_view dir) {
    for (size_t at = 0; at + 32 <= dir.size(); at += 32) {
        auto first = static_cast<uint8_t>(dir[at]);
        auto attr = static_cast<uint8_t>(dir[at + 11]);
        if (first == 0x00) {
            break;  // end of the directory
        }
        if (first == 0xE5 || attr == 0x0F) {
            continue;  // deleted, or a long-name part
        }
        if ((attr & 0x08) != 0) {  // ATTR_VOLUME_ID
            std::string label = trim_label(dir.substr(at, 11));
            if (!label.empty() && static_cast<uint8_t>(label[0]) == 0x05) {
                label[0] = static_cast<char>(0xE5);  // 0x05 stands for a real 0xE5 byte
            }
            return label;
        }
    }
    return std::nullopt;
}

Result<std::optional<FsLabel>> probe_fs_label(const ReadAt& read) {
    std::string head = GANTRY_TRY(read(0, 34816));  // up to and including sector 16
    if (head.size() >= 34816) {
        if (auto l = iso9660_label(std::string_view(head).substr(32768))) {
            return FsLabel{"iso9660", *l};
        }
    }
    if (head.size() >= 2048) {
        if (auto l = ext_label(std::string_view(head).substr(1024, 1024))) {
            return FsLabel{"ext4", *l};
        }
    }
    if (auto fat = fat_layout(head)) {
        FsLabel out{"vfat", fat->bpb_label};
        // Only the start of the root directory: the label is its first entry in practice,
        // and a huge FAT12/16 root must not become a huge read.
        size_t want = static_cast<size_t>(std::min<uint64_t>(fat->root_size, 64 * 1024));
        if (want > 0) {
            std::string dir = GANTRY_TRY(read(fat->root_offset, want));
            if (auto l = fat_dir_label(dir)) {
                out.label = *l;
            }
        }
        return out;
    }
    return std::optional<FsLabel>();
}

}  // namespace gantry::init
