#include "image/gc.h"

#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <set>

#include "base/fd.h"
#include "image/fsutil.h"
#include "image/rootfs.h"

namespace gantry::image {

namespace {

// A layer-* staging dir younger than this may belong to a running unpack.
constexpr auto kLayerStagingGrace = std::chrono::hours(1);

std::vector<std::string> names_in(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return out;
    }
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") {
            out.push_back(n);
        }
    }
    ::closedir(d);
    return out;
}

// Digests of container records' layers: containers/<id>/container.json.
std::set<std::string> container_layers(const Store& store) {
    std::set<std::string> out;
    for (const auto& id : names_in(store.root() + "/containers")) {
        auto text = read_file(store.root() + "/containers/" + id + "/container.json");
        if (!text) {
            continue;
        }
        try {
            auto j = nlohmann::json::parse(*text);
            for (const auto& l : j.at("layers")) {
                auto d = Digest::parse(l.get<std::string>());
                if (d) {
                    out.insert(d->hex());
                }
            }
            out.insert("manifest:" + j.value("manifest", ""));
        } catch (const std::exception&) {
            // A torn record keeps nothing alive; its container is gone or being rewritten.
        }
    }
    return out;
}

}  // namespace

Result<GcReport> collect_garbage(const Store& store, bool dry_run) {
    auto lock = GANTRY_TRY(store.lock());
    GcReport rep;
    // 1. Mark.
    std::set<std::string> blobs, layers = container_layers(store);
    for (const auto& rec : GANTRY_TRY(store.list())) {
        blobs.insert(rec.digest.hex());
        if (!rec.index_digest.empty()) {
            blobs.insert(rec.index_digest.hex());
        }
        auto img = store.load(rec);
        if (!img) {
            // Keep going: one broken image must not stop the others' blobs being kept,
            // and its own blobs that still exist are kept by the name below.
            auto m = store.read_blob(rec.digest);
            if (m) {
                if (auto man = parse_manifest(*m)) {
                    blobs.insert(man->config.digest.hex());
                    for (const auto& l : man->layers) {
                        blobs.insert(l.digest.hex());
                    }
                }
            }
            continue;
        }
        blobs.insert(img->manifest.config.digest.hex());
        for (const auto& l : img->manifest.layers) {
            blobs.insert(l.digest.hex());
        }
        for (const auto& d : img->config.diff_ids) {
            layers.insert(d.hex());
        }
    }
    // 2. Sweep blobs.
    std::string bdir = store.root() + "/blobs/sha256";
    for (const auto& n : names_in(bdir)) {
        if (blobs.contains(n)) {
            continue;
        }
        struct stat st;
        if (::stat((bdir + "/" + n).c_str(), &st) == 0) {
            rep.bytes_freed += static_cast<uint64_t>(st.st_size);
        }
        rep.blobs_removed.push_back("sha256:" + n);
        if (!dry_run && ::unlink((bdir + "/" + n).c_str()) != 0 && errno != ENOENT) {
            return fail(Error::sys("remove blob {}", n));
        }
    }
    // 3. Sweep unpacked layers.
    std::string ldir = store.root() + "/layers/sha256";
    for (const auto& n : names_in(ldir)) {
        if (layers.contains(n)) {
            continue;
        }
        rep.layers_removed.push_back("sha256:" + n);
        if (!dry_run) {
            GANTRY_TRY_CTX(remove_tree(ldir + "/" + n), "remove layer {}", n);
        }
    }
    // 4. Staging left by dead imports (txn dirs whose flock nobody holds) and old unpacks.
    std::string tdir = store.root() + "/tmp";
    auto now = std::chrono::system_clock::now();
    for (const auto& n : names_in(tdir)) {
        std::string p = tdir + "/" + n;
        bool stale = false;
        if (n.starts_with("txn-")) {
            auto fd = Fd::open(p, O_RDONLY | O_DIRECTORY);
            stale = fd && ::flock(fd->get(), LOCK_EX | LOCK_NB) == 0;
        } else {
            struct stat st;
            stale = ::stat(p.c_str(), &st) == 0 &&
                    now - std::chrono::system_clock::from_time_t(st.st_mtime) > kLayerStagingGrace;
        }
        if (stale) {
            ++rep.staging_removed;
            if (!dry_run) {
                GANTRY_TRY(remove_tree(p));
            }
        }
    }
    return rep;
}

Status remove_image(const Store& store, std::string_view ref, bool force) {
    auto rec = GANTRY_TRY(store.find(ref));
    if (!force) {
        auto used = container_layers(store);
        if (used.contains("manifest:" + rec.digest.str())) {
            int names = 0;
            for (const auto& r : GANTRY_TRY(store.list())) {
                names += r.digest == rec.digest ? 1 : 0;
            }
            if (names == 1) {
                return fail(
                    Error::msg("image {} is used by a container; stop and remove the "
                               "container first, or force",
                               rec.name));
            }
        }
    }
    Store s = store;
    return s.untag(rec.name);
}

Result<uint64_t> image_size(const Store& store, const ImageRecord& rec) {
    auto img = GANTRY_TRY(store.load(rec));
    uint64_t total = rec.size + img.manifest.config.size;
    for (const auto& l : img.manifest.layers) {
        total += l.size;
    }
    return total;
}

}  // namespace gantry::image
