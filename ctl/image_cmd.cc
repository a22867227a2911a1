// gantryctl image ls / inspect / rm / prune, and the dispatcher for the image commands.
#include "ctl/image_cmd.h"

#include <fmt/chrono.h>
#include <fmt/core.h>

#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>

#include "base/units.h"
#include "image/gc.h"
#include "image/service_defaults.h"
#include "image/store.h"

namespace gantry::ctl {

namespace {

using image::Store;

int usage() {
    fmt::print(stderr,
               "usage: gantryctl image ls|import|pull|inspect|rm|prune [--store DIR] ...\n"
               "  ls                         list images\n"
               "  import FILE|DIR [NAME]     import an OCI layout (dir or tar) or docker save "
               "archive\n"
               "  pull REF                   pull from a registry (--platform, --plain-http, "
               "--insecure, --user U:P, -q)\n"
               "  inspect REF                show an image's manifest, config and defaults\n"
               "  rm [-f] REF...             remove names (blobs go at the next prune)\n"
               "  prune [--dry-run]          remove unreferenced blobs and layers\n");
    return 2;
}

int error(const Error& e) {
    fmt::print(stderr, "gantryctl image: {}\n", e);
    return 1;
}

std::string ago(int64_t t) {
    int64_t d = std::time(nullptr) - t;
    if (d < 120) {
        return fmt::format("{} seconds ago", d);
    }
    if (d < 7200) {
        return fmt::format("{} minutes ago", d / 60);
    }
    if (d < 2 * 86400) {
        return fmt::format("{} hours ago", d / 3600);
    }
    return fmt::format("{} days ago", d / 86400);
}

int image_ls(const ImageArgs& a) {
    auto store = Store::open(a.store);
    if (!store) {
        return error(store.error());
    }
    auto list = store->list();
    if (!list) {
        return error(list.error());
    }
    fmt::print("{:<50} {:<14} {:>10}  {}\n", "NAME", "IMAGE ID", "SIZE", "CREATED");
    for (const auto& r : *list) {
        auto size = image::image_size(*store, r);
        fmt::print("{:<50} {:<14} {:>10}  {}\n", r.name, r.digest.hex().substr(0, 12),
                   size ? format_size(*size) : "?", ago(r.created));
    }
    return 0;
}

int image_inspect(const ImageArgs& a) {
    if (a.rest.size() != 1) {
        return usage();
    }
    auto store = Store::open(a.store);
    if (!store) {
        return error(store.error());
    }
    auto img = store->load(a.rest[0]);
    if (!img) {
        return error(img.error());
    }
    nlohmann::json j;
    j["name"] = img->record.name;
    j["digest"] = img->record.digest.str();
    j["mediaType"] = img->record.media_type;
    if (!img->record.index_digest.empty()) {
        j["index"] = img->record.index_digest.str();
    }
    j["platform"] = img->config.platform.str();
    j["layers"] = nlohmann::json::array();
    for (size_t i = 0; i < img->manifest.layers.size(); ++i) {
        const auto& l = img->manifest.layers[i];
        j["layers"].push_back({{"digest", l.digest.str()},
                               {"diffID", img->config.diff_ids[i].str()},
                               {"mediaType", l.media_type},
                               {"size", l.size}});
    }
    auto raw = store->read_blob(img->manifest.config.digest);
    if (raw) {
        j["config"] = nlohmann::json::parse(*raw).value("config", nlohmann::json::object());
    }
    // What a service gets from this image when the cloud-config overrides nothing.
    auto d = image::resolve_service(img->config.config, {});
    if (d) {
        j["serviceDefaults"] = {{"argv", d->argv},
                                {"env", d->env},
                                {"workingDir", d->working_dir},
                                {"user", d->user},
                                {"exposedPorts", d->exposed_ports},
                                {"stopSignal", d->stop_signal}};
    } else {
        j["serviceDefaults"] = {{"error", d.error().str()}};
    }
    fmt::print("{}\n", j.dump(2));
    return 0;
}

int image_rm(const ImageArgs& a) {
    bool force = false;
    std::vector<std::string> refs;
    for (const auto& s : a.rest) {
        if (s == "-f" || s == "--force") {
            force = true;
        } else {
            refs.push_back(s);
        }
    }
    if (refs.empty()) {
        return usage();
    }
    auto store = Store::open(a.store);
    if (!store) {
        return error(store.error());
    }
    int rc = 0;
    for (const auto& r : refs) {
        auto rec = store->find(r);
        auto st = rec ? image::remove_image(*store, r, force) : fail(rec.error());
        if (!st) {
            fmt::print(stderr, "gantryctl image rm {}: {}\n", r, st.error());
            rc = 1;
        } else {
            fmt::print("Untagged: {}\n", rec->name);
        }
    }
    return rc;
}

int image_prune(const ImageArgs& a) {
    bool dry = false;
    for (const auto& s : a.rest) {
        if (s == "--dry-run" || s == "-n") {
            dry = true;
        } else {
            return usage();
        }
    }
    auto store = Store::open(a.store);
    if (!store) {
        return error(store.error());
    }
    auto rep = image::collect_garbage(*store, dry);
    if (!rep) {
        return error(rep.error());
    }
    const char* verb = dry ? "Would remove" : "Removed";
    for (const auto& b : rep->blobs_removed) {
        fmt::print("{} blob {}\n", verb, b);
    }
    for (const auto& l : rep->layers_removed) {
        fmt::print("{} layer {}\n", verb, l);
    }
    fmt::print("{} {} blobs ({}), {} unpacked layers, {} stale staging dirs\n", verb,
               rep->blobs_removed.size(), format_size(rep->bytes_freed), rep->layers_removed.size(),
               rep->staging_removed);
    return 0;
}

}  // namespace

int image_command(int argc, char** argv) {
    if (argc < 1) {
        return usage();
    }
    ImageArgs a;
    const char* env = std::getenv("GANTRY_IMAGE_STORE");
    a.store = env != nullptr && *env != '\0' ? env : std::string(image::kDefaultStoreRoot);
    std::string sub = argv[0];
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        if (s == "--store" && i + 1 < argc) {
            a.store = argv[++i];
        } else if (s.starts_with("--store=")) {
            a.store = s.substr(8);
        } else {
            a.rest.push_back(s);
        }
    }
    if (sub == "ls" || sub == "list") {
        return a.rest.empty() ? image_ls(a) : usage();
    }
    if (sub == "import") {
        return image_import(a);
    }
    if (sub == "pull") {
        return image_pull(a);
    }
    if (sub == "inspect") {
        return image_inspect(a);
    }
    if (sub == "rm" || sub == "remove") {
        return image_rm(a);
    }
    if (sub == "prune") {
        return image_prune(a);
    }
    return usage();
}

}  // namespace gantry::ctl
