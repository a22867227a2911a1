#include "image/tests/test_util.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "base/fd.h"
#include "image/fsutil.h"

namespace gantry::image::testing {

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    auto p = make_temp_dir(base != nullptr ? base : "/tmp", "gantry-image-test-");
    if (!p) {
        ADD_FAILURE() << p.error().str();
        std::abort();
    }
    path_ = *p;
}

TempDir::~TempDir() {
    (void)remove_tree(path_);
}

build::BuiltImage build_layout(const std::string& spec_json, const std::string& dir) {
    auto spec = build::parse_build_spec(spec_json);
    if (!spec) {
        ADD_FAILURE() << spec.error().str();
        std::abort();
    }
    auto built = build::build_oci_layout(*spec, dir);
    if (!built) {
        ADD_FAILURE() << built.error().str();
        std::abort();
    }
    return *built;
}

std::string scratch_spec(const std::string& marker, const std::string& compression) {
    return R"({"base": "scratch", "compression": ")" + compression + R"(",
      "layers": [
        {"files": [{"path": "/etc", "dir": true}, {"path": "/bin", "dir": true},
                   {"path": "/etc/base", "content": "base layer\n"},
                   {"path": "/bin/tool", "content": "#!/bin/sh\necho tool\n", "mode": "0755"}]},
        {"files": [{"path": "/etc/marker", "content": ")" +
           marker + R"(\n"}]}
      ],
      "config": {"Cmd": ["/bin/tool"], "Env": ["PATH=/bin"], "WorkingDir": "/"},
      "tag": "v1"})";
}

size_t count_entries(const std::string& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return 0;
    }
    size_t n = 0;
    while (dirent* e = ::readdir(d)) {
        std::string_view name = e->d_name;
        if (name != "." && name != "..") {
            ++n;
        }
    }
    ::closedir(d);
    return n;
}

std::string slurp(const std::string& path) {
    auto r = read_file(path);
    return r ? *r : std::string("<missing: ") + r.error().str() + ">";
}

}  // namespace gantry::image::testing

#include <archive.h>
#include <archive_entry.h>

namespace gantry::image::testing {

TarBuilder::Entry& TarBuilder::add(Entry e) {
    e.xattrs = std::move(pending_xattrs_);
    pending_xattrs_.clear();
    entries_.push_back(std::move(e));
    return entries_.back();
}

TarBuilder& TarBuilder::file(const std::string& path, const std::string& content, mode_t mode,
                             uid_t uid, gid_t gid) {
    add({.path = path, .content = content, .type = AE_IFREG, .mode = mode, .uid = uid, .gid = gid});
    return *this;
}
TarBuilder& TarBuilder::dir(const std::string& path, mode_t mode) {
    add({.path = path, .type = AE_IFDIR, .mode = mode});
    return *this;
}
TarBuilder& TarBuilder::symlink(const std::string& path, const std::string& target) {
    add({.path = path, .link = target, .type = AE_IFLNK, .mode = 0777});
    return *this;
}
TarBuilder& TarBuilder::hardlink(const std::string& path, const std::string& target) {
    add({.path = path, .link = target, .type = AE_IFREG, .mode = 0644, .hard = true});
    return *this;
}
TarBuilder& TarBuilder::device(const std::string& path, bool block, unsigned major,
                               unsigned minor) {
    add({.path = path,
         .type = block ? AE_IFBLK : AE_IFCHR,
         .mode = 0600,
         .major = major,
         .minor = minor});
    return *this;
}
TarBuilder& TarBuilder::xattr(const std::string& key, const std::string& value) {
    pending_xattrs_.emplace_back(key, value);
    return *this;
}
TarBuilder& TarBuilder::sized(const std::string& path, uint64_t size) {
    add({.path = path, .type = AE_IFREG, .mode = 0644, .size = size});
    return *this;
}

namespace {
la_ssize_t append(archive*, void* client, const void* buf, size_t n) {
    static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
}
}  // namespace

std::string TarBuilder::build(const std::string& compression) const {
    std::string out;
    archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_in_last_block(a, 1);
    archive_write_open(a, &out, nullptr, append, nullptr);
    for (const auto& en : entries_) {
        archive_entry* e = archive_entry_new();
        archive_entry_set_pathname(e, en.path.c_str());
        archive_entry_set_filetype(e, en.type);
        archive_entry_set_perm(e, en.mode);
        archive_entry_set_uid(e, en.uid);
        archive_entry_set_gid(e, en.gid);
        archive_entry_set_mtime(e, 1700000000, 0);
        if (en.type == AE_IFLNK) {
            archive_entry_set_symlink(e, en.link.c_str());
        }
        if (en.hard) {
            archive_entry_set_hardlink(e, en.link.c_str());
        }
        if (en.type == AE_IFCHR || en.type == AE_IFBLK) {
            archive_entry_set_rdevmajor(e, en.major);
            archive_entry_set_rdevminor(e, en.minor);
        }
        uint64_t size = en.size ? en.size : en.content.size();
        if (en.type == AE_IFREG && !en.hard) {
            archive_entry_set_size(e, static_cast<la_int64_t>(size));
        }
        for (const auto& [k, v] : en.xattrs) {
            archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
        }
        if (archive_write_header(a, e) != ARCHIVE_OK) {
            ADD_FAILURE() << "tar header " << en.path << ": " << archive_error_string(a);
        }
        if (!en.content.empty()) {
            archive_write_data(a, en.content.data(), en.content.size());
        } else if (en.size) {
            std::string zeros(1 << 20, '\0');
            for (uint64_t left = en.size; left > 0;) {
                size_t n = static_cast<size_t>(std::min<uint64_t>(left, zeros.size()));
                archive_write_data(a, zeros.data(), n);
                left -= n;
            }
        }
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    auto packed = build::compress(out, compression);
    if (!packed) {
        ADD_FAILURE() << packed.error().str();
        return {};
    }
    return *packed;
}

Fd data_fd(const TempDir& t, const std::string& name, const std::string& data) {
    std::string p = t / name;
    auto w = write_file_atomic(p, data);
    if (!w) {
        ADD_FAILURE() << w.error().str();
    }
    auto fd = Fd::open(p, O_RDONLY);
    if (!fd) {
        ADD_FAILURE() << fd.error().str();
        return Fd();
    }
    return std::move(*fd);
}

}  // namespace gantry::image::testing
