#include "rootfs-build/os_layers.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "base/fd.h"
#include "image/fsutil.h"
#include "image/rootfs.h"

namespace gantry::osimage {

namespace fs = std::filesystem;

namespace {

// Every path of the tree at `dir`, itself first, sorted (parents before children).
Result<std::vector<std::string>> walk(const std::string& dir) {
    std::vector<std::string> out{dir};
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        out.push_back(it->path().string());
    }
    if (ec) {
        return fail(Error::msg("walk '{}': {}", dir, ec.message()));
    }
    std::sort(out.begin() + 1, out.end());
    return out;
}

uint32_t clamp_time(time_t t) {
    return t < 0 ? 0 : t > 0xffffffff ? 0xffffffffu : static_cast<uint32_t>(t);
}

}  // namespace

Result<std::string> cpio_unsafe(const std::string& dir) {
    for (const auto& p : GANTRY_TRY(walk(dir))) {
        struct stat st {};
        if (::lstat(p.c_str(), &st) < 0) {
            return fail(Error::sys("stat '{}'", p));
        }
        if (S_ISSOCK(st.st_mode)) {
            return fmt::format("'{}' is a socket", p.substr(dir.size()));
        }
        ssize_t n = ::llistxattr(p.c_str(), nullptr, 0);
        if (n < 0 && errno != ENOTSUP) {
            return fail(Error::sys("list xattrs of '{}'", p));
        }
        if (n > 0) {
            return fmt::format("'{}' has xattrs (newc cpio carries none)",
                               p.size() == dir.size() ? "/" : p.substr(dir.size()));
        }
    }
    return std::string();
}

Result<std::vector<std::string>> unpack_store_layers(const image::Store& store) {
    std::vector<std::string> notes;
    std::set<std::string> done;
    for (const auto& rec : GANTRY_TRY(store.list())) {
        auto img = GANTRY_TRY_CTX(store.load(rec), "image {}", rec.name);
        const auto& layers = img.manifest.layers;
        const auto& diff_ids = img.config.diff_ids;
        if (layers.size() != diff_ids.size()) {
            return fail(Error::msg("image {}: {} layers but {} diff_ids", rec.name, layers.size(),
                                   diff_ids.size()));
        }
        for (size_t i = 0; i < layers.size(); ++i) {
            if (!done.insert(diff_ids[i].str()).second) {
                continue;
            }
            if (::geteuid() != 0) {
                notes.push_back(
                    fmt::format("{} packed: unpacking needs root (owners, device "
                                "nodes); the first start unpacks it",
                                layers[i].digest.str()));
                continue;
            }
            auto dir = GANTRY_TRY_CTX(image::ensure_layer(store, layers[i], diff_ids[i]),
                                      "image {}", rec.name);
            std::string why = GANTRY_TRY(cpio_unsafe(dir));
            if (!why.empty()) {
                GANTRY_TRY(image::remove_tree(dir));
                notes.push_back(fmt::format("{} packed: {}", layers[i].digest.str(), why));
                continue;
            }
            notes.push_back(fmt::format("{} unpacked", layers[i].digest.str()));
        }
    }
    return notes;
}

Status add_tree(CpioArchive& a, const std::string& dir, const std::string& dest,
                time_t made_since) {
    std::map<std::pair<dev_t, ino_t>, std::string> first_link;  // inode -> its first path
    for (const auto& p : GANTRY_TRY(walk(dir))) {
        struct stat st {};
        if (::lstat(p.c_str(), &st) < 0) {
            return fail(Error::sys("stat '{}'", p));
        }
        std::string to = p.size() == dir.size() ? dest : dest + p.substr(dir.size());
        CpioEntry e;
        e.perm = st.st_mode & 07777;
        e.uid = st.st_uid;
        e.gid = st.st_gid;
        if (st.st_mtime < made_since) {
            e.mtime = clamp_time(st.st_mtime);
        }
        if (S_ISDIR(st.st_mode)) {
            e.kind = CpioEntry::Kind::Dir;
        } else if (S_ISREG(st.st_mode)) {
            e.kind = CpioEntry::Kind::File;
            if (st.st_nlink > 1) {
                auto [it, first] = first_link.try_emplace({st.st_dev, st.st_ino}, to);
                if (!first) {
                    e.link_of = it->second;  // same inode: no second copy of the data
                }
            }
            if (e.link_of.empty()) {
                e.data = GANTRY_TRY(read_file(p));
            }
        } else if (S_ISLNK(st.st_mode)) {
            e.kind = CpioEntry::Kind::Symlink;
            std::error_code ec;
            e.data = fs::read_symlink(p, ec).string();
            if (ec) {
                return fail(Error::msg("readlink '{}': {}", p, ec.message()));
            }
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            e.kind = S_ISCHR(st.st_mode) ? CpioEntry::Kind::CharDev : CpioEntry::Kind::BlockDev;
            e.dev_major = major(st.st_rdev);
            e.dev_minor = minor(st.st_rdev);
        } else if (S_ISFIFO(st.st_mode)) {
            e.kind = CpioEntry::Kind::Fifo;
        } else {
            return fail(Error::msg("'{}': a socket cannot go into the initramfs", p));
        }
        a.add_entry(to, std::move(e));
    }
    return ok();
}

}  // namespace gantry::osimage
