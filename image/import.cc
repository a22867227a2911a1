#include "image/import.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "base/strings.h"
#include "image/fsutil.h"
#include "image/reference.h"

namespace gantry::image {

using json = nlohmann::json;

namespace {

struct ArchiveFree {
    void operator()(archive* a) const { archive_read_free(a); }
};

// Extracts an image archive (not a layer) into `dest`. Only regular files and directories
// are meaningful in an image archive; anything else, and any path that would leave `dest`,
// is refused, so a hostile archive cannot write outside the staging directory.
Status extract_image_archive(const std::string& path, const std::string& dest) {
    std::unique_ptr<archive, ArchiveFree> a(archive_read_new());
    archive_read_support_filter_all(a.get());
    archive_read_support_format_tar(a.get());
    auto in = GANTRY_TRY(Fd::open(path, O_RDONLY));
    if (archive_read_open_fd(a.get(), in.get(), 1 << 16) != ARCHIVE_OK) {
        return fail(Error::msg("'{}': {}", path, archive_error_string(a.get())));
    }
    archive_entry* e = nullptr;
    std::string buf(1 << 17, '\0');
    for (;;) {
        int r = archive_read_next_header(a.get(), &e);
        if (r == ARCHIVE_EOF) {
            break;
        }
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            return fail(Error::msg("'{}': {}", path, archive_error_string(a.get())));
        }
        std::string name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
        while (name.starts_with("./")) {
            name.erase(0, 2);
        }
        while (!name.empty() && name.back() == '/') {
            name.pop_back();
        }
        if (name.empty() || name == ".") {
            continue;
        }
        for (const auto& comp : split(name, '/')) {
            if (comp == ".." || comp.empty()) {
                return fail(Error::msg("'{}': entry '{}' escapes the archive", path, name));
            }
        }
        if (name.starts_with('/')) {
            return fail(Error::msg("'{}': entry '{}' is absolute", path, name));
        }
        auto type = archive_entry_filetype(e);
        std::string out = dest + "/" + name;
        if (type == AE_IFDIR) {
            GANTRY_TRY(mkdir_p(out, 0700));
            continue;
        }
        if (type == AE_IFLNK) {
            // docker save writes layer symlinks between layer dirs (dedup); resolve them to
            // the target file by copying, which keeps the staging tree symlink-free.
            std::string target = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
            auto dir = name.rfind('/') == std::string::npos ? std::string()
                                                            : name.substr(0, name.rfind('/'));
            std::string resolved = dir.empty() ? target : dir + "/" + target;
            std::vector<std::string> stack;
            for (const auto& c : split(resolved, '/')) {
                if (c.empty() || c == ".") {
                    continue;
                }
                if (c == "..") {
                    if (stack.empty()) {
                        return fail(Error::msg("'{}': symlink '{}' escapes", path, name));
                    }
                    stack.pop_back();
                } else {
                    stack.push_back(c);
                }
            }
            if (target.starts_with('/') || stack.empty()) {
                return fail(Error::msg("'{}': symlink '{}' escapes", path, name));
            }
            auto src = GANTRY_TRY(Fd::open(dest + "/" + join(stack, "/"), O_RDONLY | O_NOFOLLOW));
            auto slash = out.rfind('/');
            GANTRY_TRY(mkdir_p(out.substr(0, slash), 0700));
            auto dst = GANTRY_TRY(Fd::open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
            GANTRY_TRY(copy_fd(src.get(), dst.get()));
            continue;
        }
        if (type != AE_IFREG) {
            return fail(Error::msg("'{}': entry '{}' is not a file or directory", path, name));
        }
        auto slash = out.rfind('/');
        GANTRY_TRY(mkdir_p(out.substr(0, slash), 0700));
        auto fd = GANTRY_TRY(Fd::open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
        for (;;) {
            la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
            if (n < 0) {
                return fail(Error::msg("'{}': {}: {}", path, name, archive_error_string(a.get())));
            }
            if (n == 0) {
                break;
            }
            GANTRY_TRY(write_all(fd.get(), std::string_view(buf.data(), static_cast<size_t>(n))));
        }
    }
    return ok();
}

std::string layout_blob(const std::string& dir, const Digest& d) {
    return dir + "/blobs/sha256/" + d.hex();
}

Result<std::string> read_verified(const std::string& dir, const Descriptor& d) {
    auto text = GANTRY_TRY(read_file(layout_blob(dir, d.digest)));
    if (text.size() != d.size || sha256_of(text) != d.digest) {
        return fail(Error::msg("blob {}: content does not match the descriptor (size {} vs {})",
                               d.digest.str(), text.size(), d.size));
    }
    return text;
}

// The name an index entry gets, from the options and its annotations.
Result<std::string> entry_name(const ImportOptions& opts, const Descriptor& d, size_t entries) {
    auto ann = [&](const char* k) {
        auto it = d.annotations.find(k);
        return it == d.annotations.end() ? std::string() : it->second;
    };
    std::string full = ann("io.containerd.image.name");
    std::string tag = ann("org.opencontainers.image.ref.name");
    if (!opts.name.empty()) {
        auto r = GANTRY_TRY(Reference::parse(opts.name));
        bool has_tag = opts.name.find(':', opts.name.rfind('/') == std::string::npos
                                               ? 0
                                               : opts.name.rfind('/')) != std::string::npos ||
                       r.digest;
        if (has_tag) {
            if (entries != 1) {
                return fail(
                    Error::msg("the archive holds {} images; name only a repository "
                               "(without a tag) to import them all",
                               entries));
            }
            return r.str();
        }
        if (!tag.empty() && tag.find_first_of("/:") == std::string::npos) {
            r.tag = tag;
        }
        return r.str();
    }
    if (!full.empty()) {
        return GANTRY_TRY(Reference::parse(full)).str();
    }
    if (tag.find('/') != std::string::npos || tag.find(':') != std::string::npos) {
        return GANTRY_TRY(Reference::parse(tag)).str();
    }
    return fail(Error::msg("the archive does not name its image{}; pass a name (e.g. web:1.0)",
                           tag.empty() ? "" : fmt::format(" (only the tag '{}')", tag)));
}

Result<std::vector<ImageRecord>> import_layout(const Store& store, Txn& txn, const std::string& dir,
                                               const ImportOptions& opts, bool move) {
    auto layout = GANTRY_TRY_CTX(read_file(dir + "/oci-layout"), "not an OCI image layout");
    try {
        if (json::parse(layout).value("imageLayoutVersion", "") != "1.0.0") {
            return fail(Error::msg("oci-layout: imageLayoutVersion is not 1.0.0"));
        }
    } catch (const std::exception& e) {
        return fail(Error::msg("oci-layout: {}", e.what()));
    }
    auto idx =
        GANTRY_TRY_CTX(parse_index(GANTRY_TRY(read_file(dir + "/index.json"))), "index.json");
    if (idx.manifests.empty()) {
        return fail(Error::msg("index.json lists no images"));
    }
    std::vector<ImageRecord> out;
    for (const auto& top : idx.manifests) {
        auto name = GANTRY_TRY(entry_name(opts, top, idx.manifests.size()));
        Digest index_digest;
        auto m = GANTRY_TRY_CTX(
            stage_from_layout(txn, dir, top, opts.platform, &index_digest, move), "{}", name);
        ImageRecord rec{name, m.digest, m.media_type, m.size, index_digest, 0};
        txn.tag(rec);
        out.push_back(rec);
    }
    (void)store;
    return out;
}

Result<std::vector<ImageRecord>> import_docker_save(Txn& txn, const std::string& dir,
                                                    const ImportOptions& opts) {
    auto text = GANTRY_TRY(read_file(dir + "/manifest.json"));
    std::vector<ImageRecord> out;
    try {
        json j = json::parse(text);
        if (!j.is_array() || j.empty()) {
            return fail(Error::msg("manifest.json: expected a non-empty array"));
        }
        for (const auto& entry : j) {
            std::string cfg_name = entry.at("Config").get<std::string>();
            auto cfg_text = GANTRY_TRY(read_file(dir + "/" + cfg_name));
            auto config = GANTRY_TRY_CTX(parse_image_config(cfg_text), "{}", cfg_name);
            Manifest m;
            m.media_type = std::string(media::kDockerManifest);
            m.config = GANTRY_TRY(txn.put_bytes(cfg_text, media::kDockerConfig));
            // The config's file name is its digest in every docker save format; check it.
            std::string stem = cfg_name.substr(cfg_name.rfind('/') + 1);
            if (stem.ends_with(".json")) {
                stem.resize(stem.size() - 5);
            }
            if (stem.size() == 64 && stem != m.config.digest.hex()) {
                return fail(
                    Error::msg("{}: content hashes to {}", cfg_name, m.config.digest.str()));
            }
            auto layers = entry.at("Layers").get<std::vector<std::string>>();
            if (layers.size() != config.diff_ids.size()) {
                return fail(Error::msg("{}: {} layers but {} diff_ids", cfg_name, layers.size(),
                                       config.diff_ids.size()));
            }
            for (size_t i = 0; i < layers.size(); ++i) {
                std::string lp = dir + "/" + layers[i];
                auto fd = GANTRY_TRY(Fd::open(lp, O_RDONLY));
                auto got = GANTRY_TRY(sha256_fd(fd.get()));
                // docker save layers are uncompressed tars, so the file digest is the diff_id.
                if (got.digest != config.diff_ids[i]) {
                    return fail(Error::msg("{}: hashes to {}, the config says {}", layers[i],
                                           got.digest.str(), config.diff_ids[i].str()));
                }
                Descriptor d{std::string(media::kDockerLayer), got.digest, got.size, {}, {}};
                GANTRY_TRY(txn.put_file(lp, d, /*move=*/true));
                m.layers.push_back(d);
            }
            auto mdesc = GANTRY_TRY(txn.put_bytes(manifest_to_json(m), media::kDockerManifest));
            std::vector<std::string> tags;
            if (auto it = entry.find("RepoTags"); it != entry.end() && it->is_array()) {
                tags = it->get<std::vector<std::string>>();
            }
            std::vector<std::string> names;
            if (!opts.name.empty()) {
                names.push_back(GANTRY_TRY(Reference::parse(opts.name)).str());
            } else {
                for (const auto& t : tags) {
                    names.push_back(GANTRY_TRY(Reference::parse(t)).str());
                }
            }
            if (names.empty()) {
                return fail(Error::msg("the archive's image has no RepoTags; pass a name"));
            }
            for (const auto& n : names) {
                ImageRecord rec{n, mdesc.digest, mdesc.media_type, mdesc.size, {}, 0};
                txn.tag(rec);
                out.push_back(rec);
            }
        }
    } catch (const std::exception& e) {
        return fail(Error::msg("manifest.json: {}", e.what()));
    }
    return out;
}

}  // namespace

Result<Descriptor> stage_from_layout(Txn& txn, const std::string& dir, const Descriptor& top,
                                     const Platform& platform, Digest* index_digest,
                                     bool move_files) {
    Descriptor mdesc = top;
    std::string text = GANTRY_TRY(read_verified(dir, top));
    std::string type = top.media_type.empty() ? GANTRY_TRY(sniff_media_type(text)) : top.media_type;
    if (is_index_type(type)) {
        auto idx = GANTRY_TRY(parse_index(text));
        mdesc = GANTRY_TRY(select_platform(idx, platform));
        GANTRY_TRY(txn.put_bytes(text, type, &top));
        if (index_digest != nullptr) {
            *index_digest = top.digest;
        }
        text = GANTRY_TRY(read_verified(dir, mdesc));
        type = mdesc.media_type.empty() ? GANTRY_TRY(sniff_media_type(text)) : mdesc.media_type;
    }
    if (!is_manifest_type(type)) {
        return fail(
            Error::msg("{} has media type '{}', not an image manifest", mdesc.digest.str(), type));
    }
    mdesc.media_type = type;
    auto m = GANTRY_TRY(parse_manifest(text));
    GANTRY_TRY(txn.put_file(layout_blob(dir, m.config.digest), m.config, false));
    for (const auto& l : m.layers) {
        if (!is_layer_type(l.media_type)) {
            return fail(Error::msg("layer {} has unsupported media type '{}'", l.digest.str(),
                                   l.media_type));
        }
        GANTRY_TRY_CTX(txn.put_file(layout_blob(dir, l.digest), l, move_files), "layer {}",
                       l.digest.str());
    }
    GANTRY_TRY(txn.put_bytes(text, type, &mdesc));
    return mdesc;
}

Result<std::vector<ImageRecord>> import_archive(const Store& store, const std::string& path,
                                                const ImportOptions& opts) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        return fail(Error::sys("import '{}'", path));
    }
    auto txn = GANTRY_TRY(store.begin());
    std::string dir = path;
    bool move = false;
    if (!S_ISDIR(st.st_mode)) {
        dir = txn.staging_dir() + "/src";
        GANTRY_TRY_CTX(extract_image_archive(path, dir), "import '{}'", path);
        move = true;  // extracted files are ours and on the store's filesystem
    }
    std::vector<ImageRecord> recs;
    if (::access((dir + "/oci-layout").c_str(), F_OK) == 0) {
        recs = GANTRY_TRY_CTX(import_layout(store, txn, dir, opts, move), "import '{}'", path);
    } else if (::access((dir + "/manifest.json").c_str(), F_OK) == 0) {
        recs = GANTRY_TRY_CTX(import_docker_save(txn, dir, opts), "import '{}'", path);
    } else {
        return fail(
            Error::msg("import '{}': neither an OCI layout (no oci-layout file) nor a "
                       "docker save archive (no manifest.json)",
                       path));
    }
    GANTRY_TRY_CTX(txn.commit(), "import '{}'", path);
    return recs;
}

}  // namespace gantry::image
