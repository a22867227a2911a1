#include "rootfs-build/image_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "image/fsutil.h"
#include "image/oci.h"

namespace gantry::build {

using json = nlohmann::json;
using image::Descriptor;
using image::Digest;

namespace {

// Fixed timestamps keep builds reproducible: the same spec gives the same digests, which is
// what lets tests share layers between images.
constexpr time_t kEpoch = 1700000000;

struct WriteFree {
    void operator()(archive* a) const { archive_write_free(a); }
};

la_ssize_t append_cb(archive*, void* client, const void* buf, size_t n) {
    static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
}

Result<FileSpec> file_from_json(const json& f) {
    FileSpec s;
    s.path = f.at("path").get<std::string>();
    if (f.contains("mode")) {
        s.mode = static_cast<mode_t>(std::stoul(f["mode"].get<std::string>(), nullptr, 8));
    }
    s.uid = f.value("uid", 0u);
    s.gid = f.value("gid", 0u);
    if (f.contains("xattrs")) {
        s.xattrs = f["xattrs"].get<std::map<std::string, std::string>>();
    }
    if (f.value("dir", false)) {
        s.kind = FileSpec::Kind::kDir;
        if (!f.contains("mode")) {
            s.mode = 0755;
        }
    } else if (f.contains("symlink")) {
        s.kind = FileSpec::Kind::kSymlink;
        s.target = f["symlink"].get<std::string>();
    } else if (f.contains("hardlink")) {
        s.kind = FileSpec::Kind::kHardlink;
        s.target = f["hardlink"].get<std::string>();
    } else if (f.contains("source")) {
        s.content = GANTRY_TRY(read_file(f["source"].get<std::string>()));
        if (!f.contains("mode")) {
            s.mode = 0755;
        }
    } else if (f.contains("size")) {
        s.content.assign(f["size"].get<size_t>(), '\0');
    } else {
        s.content = f.value("content", "");
    }
    return s;
}

// /bin/busybox, its applets as symlinks, and the directories a shell expects.
Result<std::vector<FileSpec>> busybox_files(const std::string& busybox) {
    std::vector<FileSpec> files;
    for (const char* d : {"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "var", "proc",
                          "sys", "dev", "run"}) {
        files.push_back({.path = d, .kind = FileSpec::Kind::kDir, .mode = 0755});
    }
    files.push_back({.path = "tmp", .kind = FileSpec::Kind::kDir, .mode = 01777});
    FileSpec bb{.path = "bin/busybox", .mode = 0755};
    auto content = read_file(busybox);
    if (!content) {
        return fail(
            std::move(content.error()).context("busybox base (install Debian's busybox-static)"));
    }
    bb.content = std::move(*content);
    files.push_back(std::move(bb));
    // Ask busybox itself for its applets: the list depends on how Debian configured it.
    std::string cmd = busybox + " --list-full";
    FILE* p = ::popen(cmd.c_str(), "re");
    if (p == nullptr) {
        return fail(Error::sys("run '{}'", cmd));
    }
    char line[256];
    std::vector<std::string> applets;
    while (::fgets(line, sizeof line, p) != nullptr) {
        std::string a = line;
        while (!a.empty() && (a.back() == '\n' || a.back() == '\r')) {
            a.pop_back();
        }
        if (!a.empty() && a != "bin/busybox") {
            applets.push_back(a);
        }
    }
    if (::pclose(p) != 0 || applets.empty()) {
        return fail(Error::msg("'{}' failed or listed no applets", cmd));
    }
    std::sort(applets.begin(), applets.end());
    for (const auto& a : applets) {
        files.push_back(
            {.path = a, .kind = FileSpec::Kind::kSymlink, .target = "/bin/busybox", .mode = 0777});
    }
    files.push_back({.path = "etc/passwd",
                     .content = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:"
                                "/bin/false\n"});
    files.push_back({.path = "etc/group", .content = "root:x:0:\nnogroup:x:65534:\n"});
    return files;
}

}  // namespace

Result<ImageBuildSpec> parse_build_spec(std::string_view text) {
    try {
        json j = json::parse(text);
        ImageBuildSpec s;
        std::string base = j.value("base", "busybox");
        if (base != "busybox" && base != "scratch") {
            return fail(Error::msg("spec: base '{}' is not one of busybox, scratch", base));
        }
        s.busybox_base = base == "busybox";
        s.busybox_path = j.value("busybox", s.busybox_path);
        for (const auto& l : j.value("layers", json::array())) {
            LayerSpec layer;
            for (const auto& f : l.value("files", json::array())) {
                layer.files.push_back(GANTRY_TRY_CTX(file_from_json(f), "spec: file"));
            }
            s.layers.push_back(std::move(layer));
        }
        if (j.contains("config")) {
            s.config_json = j["config"].dump();
        }
        s.platforms = j.value("platforms", std::vector<std::string>{});
        s.compression = j.value("compression", s.compression);
        if (s.compression != "gzip" && s.compression != "zstd" && s.compression != "none") {
            return fail(
                Error::msg("spec: compression '{}' is not one of gzip, zstd, none", s.compression));
        }
        s.tag = j.value("tag", s.tag);
        return s;
    } catch (const std::exception& e) {
        return fail(Error::msg("spec: {}", e.what()));
    }
}

Result<std::string> make_layer_tar(const std::vector<FileSpec>& files) {
    std::string out;
    std::unique_ptr<archive, WriteFree> a(archive_write_new());
    archive_write_set_format_pax_restricted(a.get());
    archive_write_set_bytes_in_last_block(a.get(), 1);
    if (archive_write_open(a.get(), &out, nullptr, append_cb, nullptr) != ARCHIVE_OK) {
        return fail(Error::msg("tar: {}", archive_error_string(a.get())));
    }
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                    archive_entry_free);
    for (const auto& f : files) {
        archive_entry_clear(e.get());
        std::string path = f.path;
        while (path.starts_with('/')) {
            path.erase(0, 1);
        }
        archive_entry_set_pathname(e.get(), path.c_str());
        archive_entry_set_uid(e.get(), f.uid);
        archive_entry_set_gid(e.get(), f.gid);
        archive_entry_set_mtime(e.get(), kEpoch, 0);
        switch (f.kind) {
            case FileSpec::Kind::kDir:
                archive_entry_set_filetype(e.get(), AE_IFDIR);
                break;
            case FileSpec::Kind::kSymlink:
                archive_entry_set_filetype(e.get(), AE_IFLNK);
                archive_entry_set_symlink(e.get(), f.target.c_str());
                break;
            case FileSpec::Kind::kHardlink: {
                std::string t = f.target;
                while (t.starts_with('/')) {
                    t.erase(0, 1);
                }
                archive_entry_set_filetype(e.get(), AE_IFREG);
                archive_entry_set_hardlink(e.get(), t.c_str());
                break;
            }
            case FileSpec::Kind::kFile:
                archive_entry_set_filetype(e.get(), AE_IFREG);
                archive_entry_set_size(e.get(), static_cast<la_int64_t>(f.content.size()));
                break;
        }
        archive_entry_set_perm(e.get(), f.mode & 07777);
        for (const auto& [k, v] : f.xattrs) {
            archive_entry_xattr_add_entry(e.get(), k.c_str(), v.data(), v.size());
        }
        if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) {
            return fail(Error::msg("tar {}: {}", path, archive_error_string(a.get())));
        }
        if (f.kind == FileSpec::Kind::kFile && !f.content.empty() &&
            archive_write_data(a.get(), f.content.data(), f.content.size()) < 0) {
            return fail(Error::msg("tar {}: {}", path, archive_error_string(a.get())));
        }
    }
    if (archive_write_close(a.get()) != ARCHIVE_OK) {
        return fail(Error::msg("tar: {}", archive_error_string(a.get())));
    }
    return out;
}

Result<std::string> compress(std::string_view data, const std::string& how) {
    if (how == "none") {
        return std::string(data);
    }
    std::string out;
    std::unique_ptr<archive, WriteFree> a(archive_write_new());
    archive_write_set_format_raw(a.get());
    archive_write_set_bytes_in_last_block(a.get(), 1);
    if (how == "gzip") {
        archive_write_add_filter_gzip(a.get());
        // No timestamp or name in the gzip header: reproducible digests.
        archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr);
    } else if (how == "zstd") {
        archive_write_add_filter_zstd(a.get());
    } else {
        return fail(Error::msg("compression '{}' is not one of gzip, zstd, none", how));
    }
    if (archive_write_open(a.get(), &out, nullptr, append_cb, nullptr) != ARCHIVE_OK) {
        return fail(Error::msg("{}: {}", how, archive_error_string(a.get())));
    }
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                    archive_entry_free);
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_pathname(e.get(), "layer");
    archive_write_header(a.get(), e.get());
    if (archive_write_data(a.get(), data.data(), data.size()) < 0 ||
        archive_write_close(a.get()) != ARCHIVE_OK) {
        return fail(Error::msg("{}: {}", how, archive_error_string(a.get())));
    }
    return out;
}

namespace {

Result<Descriptor> put_blob(const std::string& dir, std::string_view data, std::string_view type) {
    Descriptor d{std::string(type), image::sha256_of(data), data.size(), {}, {}};
    std::string path = dir + "/blobs/sha256/" + d.digest.hex();
    GANTRY_TRY(write_file_atomic(path, data, 0644));
    return d;
}

std::string layer_media_type(const std::string& compression) {
    if (compression == "gzip") {
        return std::string(image::media::kOciLayerGzip);
    }
    if (compression == "zstd") {
        return std::string(image::media::kOciLayerZstd);
    }
    return std::string(image::media::kOciLayer);
}

}  // namespace

Result<BuiltImage> build_oci_layout(const ImageBuildSpec& spec, const std::string& out_dir) {
    GANTRY_TRY(image::mkdir_p(out_dir + "/blobs/sha256"));
    // 1. The shared layers (base + spec layers), identical for every platform.
    std::vector<std::vector<FileSpec>> layer_files;
    if (spec.busybox_base) {
        layer_files.push_back(GANTRY_TRY(busybox_files(spec.busybox_path)));
    }
    for (const auto& l : spec.layers) {
        layer_files.push_back(l.files);
    }
    std::vector<Descriptor> layers;
    std::vector<std::string> diff_ids;
    for (const auto& files : layer_files) {
        auto tar = GANTRY_TRY(make_layer_tar(files));
        diff_ids.push_back(image::sha256_of(tar).str());
        auto packed = GANTRY_TRY(compress(tar, spec.compression));
        layers.push_back(GANTRY_TRY(put_blob(out_dir, packed, layer_media_type(spec.compression))));
    }
    // 2. One config + manifest per platform. With several platforms each gets one more
    //    layer, /etc/gantry-platform, so a test can tell which one was chosen.
    std::vector<std::string> platforms = spec.platforms;
    if (platforms.empty()) {
        platforms.push_back(image::Platform::host().str());
    }
    image::Index index{std::string(image::media::kOciIndex), {}};
    json config_obj = json::parse(spec.config_json);
    for (const auto& ptext : platforms) {
        auto p = GANTRY_TRY(image::Platform::parse(ptext));
        auto ls = layers;
        auto ds = diff_ids;
        if (platforms.size() > 1) {
            auto tar = GANTRY_TRY(make_layer_tar(
                {{.path = "etc/gantry-platform", .content = p.str() + "\n", .mode = 0644}}));
            ds.push_back(image::sha256_of(tar).str());
            auto packed = GANTRY_TRY(compress(tar, spec.compression));
            ls.push_back(GANTRY_TRY(put_blob(out_dir, packed, layer_media_type(spec.compression))));
        }
        json cfg = {{"architecture", p.architecture},
                    {"os", p.os},
                    {"created", "2023-11-14T22:13:20Z"},
                    {"config", config_obj},
                    {"rootfs", {{"type", "layers"}, {"diff_ids", ds}}}};
        if (!p.variant.empty()) {
            cfg["variant"] = p.variant;
        }
        image::Manifest m;
        m.media_type = std::string(image::media::kOciManifest);
        m.config = GANTRY_TRY(put_blob(out_dir, cfg.dump(), image::media::kOciConfig));
        m.layers = ls;
        auto md = GANTRY_TRY(put_blob(out_dir, image::manifest_to_json(m), m.media_type));
        md.platform = p;
        index.manifests.push_back(md);
    }
    // 3. index.json names the image (a manifest, or an index when multi-platform).
    Descriptor top;
    if (index.manifests.size() == 1) {
        top = index.manifests[0];
    } else {
        top = GANTRY_TRY(put_blob(out_dir, image::index_to_json(index), index.media_type));
    }
    top.annotations["org.opencontainers.image.ref.name"] = spec.tag;
    image::Index outer{std::string(image::media::kOciIndex), {top}};
    GANTRY_TRY(write_file_atomic(out_dir + "/index.json", image::index_to_json(outer)));
    GANTRY_TRY(
        write_file_atomic(out_dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})", 0644));
    return BuiltImage{top.digest, top.media_type, top.size};
}

namespace {

Status add_tree(archive* a, const std::string& root, const std::string& rel) {
    std::string full = rel.empty() ? root : root + "/" + rel;
    DIR* d = ::opendir(full.c_str());
    if (d == nullptr) {
        return fail(Error::sys("opendir '{}'", full));
    }
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") {
            names.push_back(n);
        }
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
        std::string r = rel.empty() ? n : rel + "/" + n;
        struct stat st;
        if (::lstat((root + "/" + r).c_str(), &st) != 0) {
            return fail(Error::sys("stat '{}'", r));
        }
        std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                        archive_entry_free);
        archive_entry_set_pathname(e.get(), r.c_str());
        archive_entry_set_mtime(e.get(), kEpoch, 0);
        archive_entry_set_perm(e.get(), st.st_mode & 0777);
        if (S_ISDIR(st.st_mode)) {
            archive_entry_set_filetype(e.get(), AE_IFDIR);
            archive_write_header(a, e.get());
            GANTRY_TRY(add_tree(a, root, r));
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            return fail(Error::msg("'{}' is not a file or directory", r));
        }
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_set_size(e.get(), st.st_size);
        if (archive_write_header(a, e.get()) != ARCHIVE_OK) {
            return fail(Error::msg("tar {}: {}", r, archive_error_string(a)));
        }
        auto fd = GANTRY_TRY(Fd::open(root + "/" + r, O_RDONLY));
        std::string buf(1 << 17, '\0');
        for (;;) {
            ssize_t n = ::read(fd.get(), buf.data(), buf.size());
            if (n < 0) {
                return fail(Error::sys("read '{}'", r));
            }
            if (n == 0) {
                break;
            }
            if (archive_write_data(a, buf.data(), static_cast<size_t>(n)) < 0) {
                return fail(Error::msg("tar {}: {}", r, archive_error_string(a)));
            }
        }
    }
    return ok();
}

}  // namespace

Status write_dir_tar(const std::string& dir, const std::string& tar_path) {
    std::unique_ptr<archive, WriteFree> a(archive_write_new());
    archive_write_set_format_pax_restricted(a.get());
    if (archive_write_open_filename(a.get(), tar_path.c_str()) != ARCHIVE_OK) {
        return fail(Error::msg("'{}': {}", tar_path, archive_error_string(a.get())));
    }
    GANTRY_TRY(add_tree(a.get(), dir, ""));
    if (archive_write_close(a.get()) != ARCHIVE_OK) {
        return fail(Error::msg("'{}': {}", tar_path, archive_error_string(a.get())));
    }
    return ok();
}

}  // namespace gantry::build
