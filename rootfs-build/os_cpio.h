// The initramfs as a value: a set of entries written as a newc cpio archive, then zstd.
//
// The archive is reproducible by construction: entries are sorted by path, every header
// carries the same mtime (SOURCE_DATE_EPOCH), uid/gid 0 and a sequential inode number (the
// unpacked layers of preloaded images keep their tar's owners and mtimes, which are
// inputs too), so
// the same inputs give the same bytes whatever the build machine's clock, umask or user.
// Parents come before children because sorting "a" < "a/b" holds for byte-wise order, and
// the kernel's initramfs unpacker needs a directory to exist before its entries.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace gantry::osimage {

struct CpioEntry {
    enum class Kind { File, Dir, Symlink, CharDev, BlockDev, Fifo };
    Kind kind = Kind::File;
    mode_t perm = 0644;      // permission bits only; the type comes from kind
    std::string data;        // file contents, or the symlink's target
    uint32_t dev_major = 0;  // CharDev and BlockDev only
    uint32_t dev_minor = 0;
    // The OS's own files are root's and carry the archive's mtime; a preloaded image's
    // unpacked layer keeps what its tar said (rootfs-build/os_store.cc).
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::optional<uint32_t> mtime;  // unset: the archive's (SOURCE_DATE_EPOCH)
    // File only: the path of another File entry this one is a hard link of. Both get the
    // same inode number and link count; the kernel's unpacker links whichever comes second
    // to the first (init/initramfs.c, maybe_link) and writes this entry's data into it.
    std::string link_of;
};

class CpioArchive {
  public:
    // Paths are relative to the root, without a leading slash ("etc/passwd"). Adding a path
    // twice replaces the first entry; missing parent directories are created (0755).
    void add_file(std::string_view path, std::string data, mode_t perm = 0644);
    void add_dir(std::string_view path, mode_t perm = 0755);
    void add_symlink(std::string_view path, std::string target);
    void add_char_device(std::string_view path, uint32_t major, uint32_t minor, mode_t perm);
    // Any entry as it is (owners, mtime, hard links): for trees copied from disk.
    void add_entry(std::string_view path, CpioEntry entry) { add(path, std::move(entry)); }

    bool contains(std::string_view path) const { return entries_.contains(std::string(path)); }
    const std::map<std::string, CpioEntry>& entries() const { return entries_; }
    // Sum of file sizes, what the image costs in RAM once unpacked.
    uint64_t payload_bytes() const;

    // newc ("070701") archive ending with the TRAILER!!! record.
    std::string serialize(uint32_t mtime) const;

  private:
    void add(std::string_view path, CpioEntry entry);
    void add_parents(std::string_view path);

    std::map<std::string, CpioEntry> entries_;
};

// Validates a path given to the archive: relative, no "." or ".." components, no "//".
Status check_archive_path(std::string_view path);

// zstd at `level` with a content checksum, single-threaded so the output is deterministic.
Result<std::string> zstd_compress(std::string_view data, int level);

}  // namespace gantry::osimage
