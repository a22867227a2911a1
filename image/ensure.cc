#include "image/ensure.h"

#include <cctype>

#include "image/import.h"

namespace gantry::image {

namespace {

struct Transport {
    std::string path;
    std::string tag;
};

// "PATH[:TAG]": the tag follows the last ':' after the last '/'.
Transport split_path_tag(std::string_view s) {
    auto slash = s.rfind('/');
    auto colon = s.rfind(':');
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
        return {std::string(s.substr(0, colon)), std::string(s.substr(colon + 1))};
    }
    return {std::string(s), ""};
}

// A name for an archive that carries none: localhost/<file stem>, lowercased.
std::string local_name(const std::string& path) {
    std::string stem = path.substr(path.rfind('/') + 1);
    for (const char* ext : {".tar", ".tgz", ".oci"}) {
        if (stem.ends_with(ext)) {
            stem.resize(stem.size() - std::string_view(ext).size());
        }
    }
    std::string out;
    for (char c : stem) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '-');
    }
    while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.back()))) {
        out.pop_back();
    }
    while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.front()))) {
        out.erase(0, 1);
    }
    return "localhost/" + (out.empty() ? std::string("image") : out);
}

Result<Image> from_archive(const Store& store, std::string_view spec, bool docker) {
    Transport t = docker ? Transport{std::string(spec), ""} : split_path_tag(spec);
    ImportOptions opts;
    auto recs = import_archive(store, t.path, opts);
    if (!recs && recs.error().message().find("pass a name") != std::string::npos) {
        // The layout names only tags (skopeo's oci:DIR:TAG does): use localhost/<stem>.
        opts.name = local_name(t.path);
        recs = import_archive(store, t.path, opts);
    }
    if (!recs) {
        return fail(std::move(recs.error()));
    }
    for (const auto& r : *recs) {
        if (t.tag.empty() || r.name.ends_with(":" + t.tag)) {
            return store.load(r);
        }
    }
    return fail(Error::msg("'{}' has no image tagged '{}'", t.path, t.tag));
}

}  // namespace

Result<Image> ensure_image(const Store& store, std::string_view image, PullPolicy policy,
                           const PullOptions& opts) {
    if (image.starts_with("oci:")) {
        return from_archive(store, image.substr(4), false);
    }
    if (image.starts_with("oci-archive:")) {
        return from_archive(store, image.substr(12), false);
    }
    if (image.starts_with("docker-archive:")) {
        return from_archive(store, image.substr(15), true);
    }
    if (policy != PullPolicy::kAlways) {
        auto found = store.find(image);
        if (found) {
            return store.load(*found);
        }
        if (found.error().code() != ENOENT || policy == PullPolicy::kNever) {
            return fail(std::move(found.error()));
        }
    }
    auto rec = GANTRY_TRY(pull_image(store, image, opts));
    return store.load(rec);
}

}  // namespace gantry::image
