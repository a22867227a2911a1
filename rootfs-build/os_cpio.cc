#include "rootfs-build/os_cpio.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <zstd.h>

#include <map>

namespace gantry::osimage {

namespace {

mode_t type_bits(CpioEntry::Kind kind) {
    switch (kind) {
        case CpioEntry::Kind::File:
            return S_IFREG;
        case CpioEntry::Kind::Dir:
            return S_IFDIR;
        case CpioEntry::Kind::Symlink:
            return S_IFLNK;
        case CpioEntry::Kind::CharDev:
            return S_IFCHR;
        case CpioEntry::Kind::BlockDev:
            return S_IFBLK;
        case CpioEntry::Kind::Fifo:
            return S_IFIFO;
    }
    return S_IFREG;
}

// One newc header field: 8 upper-case hex digits.
void put_hex(std::string& out, uint32_t v) {
    out += fmt::format("{:08X}", v);
}

void pad4(std::string& out) {
    while (out.size() % 4 != 0) {
        out.push_back('\0');
    }
}

struct Record {
    uint32_t ino = 0;
    uint32_t mode = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint32_t nlink = 1;
    uint32_t mtime = 0;
    uint32_t rmaj = 0;
    uint32_t rmin = 0;
};

void write_record(std::string& out, const Record& r, std::string_view name, std::string_view body) {
    out += "070701";
    put_hex(out, r.ino);
    put_hex(out, r.mode);
    put_hex(out, r.uid);
    put_hex(out, r.gid);
    put_hex(out, r.nlink);
    put_hex(out, r.mtime);
    put_hex(out, static_cast<uint32_t>(body.size()));
    put_hex(out, 0);  // devmajor/devminor of the archive's own device: meaningless here
    put_hex(out, 0);
    put_hex(out, r.rmaj);
    put_hex(out, r.rmin);
    put_hex(out, static_cast<uint32_t>(name.size() + 1));
    put_hex(out, 0);  // check: only used by the "070702" crc format
    out.append(name);
    out.push_back('\0');
    pad4(out);
    out.append(body);
    pad4(out);
}

}  // namespace

Status check_archive_path(std::string_view path) {
    if (path.empty() || path.front() == '/' || path.back() == '/') {
        return fail(Error::msg("archive path '{}' must be relative, without a trailing '/'", path));
    }
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find('/', start);
        if (end == std::string_view::npos) {
            end = path.size();
        }
        std::string_view part = path.substr(start, end - start);
        if (part.empty() || part == "." || part == "..") {
            return fail(Error::msg("archive path '{}' has an empty, '.' or '..' component", path));
        }
        start = end + 1;
    }
    return ok();
}

void CpioArchive::add_parents(std::string_view path) {
    for (size_t pos = path.find('/'); pos != std::string_view::npos;
         pos = path.find('/', pos + 1)) {
        std::string parent(path.substr(0, pos));
        if (!entries_.contains(parent)) {
            entries_[parent] = CpioEntry{.kind = CpioEntry::Kind::Dir, .perm = 0755};
        }
    }
}

void CpioArchive::add(std::string_view path, CpioEntry entry) {
    add_parents(path);
    entries_[std::string(path)] = std::move(entry);
}

void CpioArchive::add_file(std::string_view path, std::string data, mode_t perm) {
    add(path, CpioEntry{.kind = CpioEntry::Kind::File, .perm = perm, .data = std::move(data)});
}

void CpioArchive::add_dir(std::string_view path, mode_t perm) {
    add(path, CpioEntry{.kind = CpioEntry::Kind::Dir, .perm = perm});
}

void CpioArchive::add_symlink(std::string_view path, std::string target) {
    add(path, CpioEntry{.kind = CpioEntry::Kind::Symlink, .perm = 0777, .data = std::move(target)});
}

void CpioArchive::add_char_device(std::string_view path, uint32_t major, uint32_t minor,
                                  mode_t perm) {
    add(path, CpioEntry{.kind = CpioEntry::Kind::CharDev,
                        .perm = perm,
                        .dev_major = major,
                        .dev_minor = minor});
}

uint64_t CpioArchive::payload_bytes() const {
    uint64_t n = 0;
    for (const auto& [path, e] : entries_) {
        n += e.data.size();
    }
    return n;
}

std::string CpioArchive::serialize(uint32_t mtime) const {
    std::string out;
    out.reserve(payload_bytes() + entries_.size() * 256 + 512);
    // Hard links: every member of a group gets the inode number of the group's first
    // entry (by path) and the group's size as its link count.
    std::map<std::string, uint32_t> inode;
    std::map<std::string, uint32_t> links;  // group (the linked-to path) -> members
    uint32_t next = 1;
    for (const auto& [path, e] : entries_) {
        inode[path] = next++;
        if (e.kind == CpioEntry::Kind::File && !e.link_of.empty()) {
            links[e.link_of]++;
        }
    }
    for (const auto& [path, e] : entries_) {
        Record r;
        r.ino = inode[path];
        r.mode = type_bits(e.kind) | (e.perm & 07777);
        r.uid = e.uid;
        r.gid = e.gid;
        r.nlink = e.kind == CpioEntry::Kind::Dir ? 2 : 1;
        r.mtime = e.mtime.value_or(mtime);
        r.rmaj = e.dev_major;
        r.rmin = e.dev_minor;
        if (e.kind == CpioEntry::Kind::File) {
            const std::string& group = e.link_of.empty() ? path : e.link_of;
            if (auto it = links.find(group); it != links.end() && inode.contains(group)) {
                r.ino = inode[group];
                r.nlink = it->second + 1;
            }
        }
        write_record(out, r, path, e.data);
    }
    write_record(out, Record{}, "TRAILER!!!", {});
    // The kernel reads the archive in 512-byte blocks like cpio(1) writes it; padding keeps
    // tools that expect that happy and costs nothing after compression.
    while (out.size() % 512 != 0) {
        out.push_back('\0');
    }
    return out;
}

Result<std::string> zstd_compress(std::string_view data, int level) {
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    if (cctx == nullptr) {
        return fail(Error::msg("zstd: cannot allocate a compression context"));
    }
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    std::string out(ZSTD_compressBound(data.size()), '\0');
    size_t n = ZSTD_compress2(cctx, out.data(), out.size(), data.data(), data.size());
    ZSTD_freeCCtx(cctx);
    if (ZSTD_isError(n)) {
        return fail(Error::msg("zstd: {}", ZSTD_getErrorName(n)));
    }
    out.resize(n);
    return out;
}

}  // namespace gantry::osimage
