#include "rootfs-build/os_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "image/import.h"
#include "image/store.h"
#include "rootfs-build/os_layers.h"

namespace gantry::osimage {

namespace fs = std::filesystem;

PreloadImage parse_preload(const std::string& arg) {
    auto eq = arg.find('=');
    if (eq == std::string::npos || eq == 0) {
        return {"", arg};
    }
    return {arg.substr(0, eq), arg.substr(eq + 1)};
}

namespace {

// index.json records when a name was set; in an image that must be the build's epoch.
Status pin_created(const std::string& index_path, int64_t epoch) {
    auto text = GANTRY_TRY(read_file(index_path));
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
        return fail(Error::msg("{}: {}", index_path, e.what()));
    }
    std::function<void(nlohmann::json&)> walk = [&](nlohmann::json& v) {
        if (v.is_object()) {
            for (auto& [k, x] : v.items()) {
                if (k == "created" && x.is_number()) {
                    x = epoch;
                } else {
                    walk(x);
                }
            }
        } else if (v.is_array()) {
            for (auto& x : v) {
                walk(x);
            }
        }
    };
    walk(j);
    return write_file_atomic(index_path, j.dump(2) + "\n");
}

}  // namespace

Result<StoredImages> add_image_store(CpioArchive& a, const std::vector<PreloadImage>& images,
                                     int64_t epoch) {
    StoredImages out;
    std::vector<std::string>& names = out.names;
    if (images.empty()) {
        return out;
    }
    std::string tmpl = (fs::temp_directory_path() / "gantry-build-store-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
        return fail(Error::sys("mkdtemp"));
    }
    struct Cleanup {
        std::string dir;
        ~Cleanup() {
            std::error_code ec;
            fs::remove_all(dir, ec);
        }
    } cleanup{tmpl};
    auto store = GANTRY_TRY_CTX(image::Store::open(tmpl + "/store"), "image store");
    for (const auto& img : images) {
        image::ImportOptions opts;
        opts.name = img.name;
        auto recs =
            GANTRY_TRY_CTX(image::import_archive(store, img.path, opts), "import {}", img.path);
        for (const auto& r : recs) {
            names.push_back(r.name);
        }
    }
    GANTRY_TRY(pin_created(store.root() + "/index.json", epoch));
    const time_t unpack_began = ::time(nullptr) - 1;  // whole seconds: err early
    out.layers = GANTRY_TRY(unpack_store_layers(store));
    // Everything but staging (tmp/) and the writer lock, in a fixed order. The unpacked
    // layers (layers/sha256/<hex>) go in as trees with their own owners and mtimes.
    std::vector<fs::path> paths;
    std::vector<std::string> trees;
    for (auto it = fs::recursive_directory_iterator(store.root());
         it != fs::recursive_directory_iterator(); ++it) {
        auto rel = fs::relative(it->path(), store.root()).string();
        if (rel == "tmp" || rel == "lock" || rel.starts_with("tmp/")) {
            if (it->is_directory()) {
                it.disable_recursion_pending();
            }
            continue;
        }
        if (rel.starts_with("layers/sha256/")) {
            trees.push_back(rel);
            it.disable_recursion_pending();
            continue;
        }
        paths.push_back(it->path());
    }
    std::sort(trees.begin(), trees.end());
    std::sort(paths.begin(), paths.end());
    a.add_dir(kImageStorePath, 0700);
    for (const auto& p : paths) {
        std::string dest =
            std::string(kImageStorePath) + "/" + fs::relative(p, store.root()).string();
        struct stat st {};
        if (::lstat(p.c_str(), &st) < 0) {
            return fail(Error::sys("stat {}", p.string()));
        }
        if (S_ISDIR(st.st_mode)) {
            a.add_dir(dest, st.st_mode & 07777);
        } else if (S_ISREG(st.st_mode)) {
            a.add_file(dest, GANTRY_TRY(read_file(p.string())), st.st_mode & 0777);
        }
    }
    for (const auto& rel : trees) {
        GANTRY_TRY(add_tree(a, store.root() + "/" + rel, std::string(kImageStorePath) + "/" + rel,
                            unpack_began));
    }
    // The store's own empty staging dir, so the first writer in the guest finds its layout.
    a.add_dir(std::string(kImageStorePath) + "/tmp", 0700);
    std::sort(names.begin(), names.end());
    return out;
}

}  // namespace gantry::osimage
