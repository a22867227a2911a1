#include "image/store.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "image/fsutil.h"
#include "image/reference.h"

namespace gantry::image {

using json = nlohmann::json;

namespace {

constexpr uint64_t kMaxDocument = 64ull << 20;

}  // namespace

// ---- Store ----

Result<Store> Store::open(std::string root) {
    while (root.size() > 1 && root.ends_with('/')) {
        root.pop_back();
    }
    for (const char* sub : {"/blobs/sha256", "/layers/sha256", "/containers", "/tmp"}) {
        GANTRY_TRY_CTX(mkdir_p(root + sub, 0700), "open image store '{}'", root);
    }
    return Store(std::move(root));
}

std::string Store::blob_path(const Digest& d) const {
    return root_ + "/blobs/sha256/" + d.hex();
}

bool Store::has_blob(const Digest& d) const {
    return ::access(blob_path(d).c_str(), F_OK) == 0;
}

Result<Fd> Store::open_blob(const Digest& d) const {
    auto fd = Fd::open(blob_path(d), O_RDONLY);
    if (!fd) {
        return fail(std::move(fd.error()).context(fmt::format("blob {}", d.str())));
    }
    return fd;
}

Result<std::string> Store::read_blob(const Digest& d) const {
    auto fd = GANTRY_TRY(open_blob(d));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) {
        return fail(Error::sys("stat blob {}", d.str()));
    }
    if (static_cast<uint64_t>(st.st_size) > kMaxDocument) {
        return fail(
            Error::msg("blob {}: {} bytes is too large for a JSON document", d.str(), st.st_size));
    }
    auto data = GANTRY_TRY(read_all(fd.get()));
    if (sha256_of(data) != d) {
        return fail(
            Error::msg("blob {}: stored content does not match its digest (disk "
                       "corruption?); remove the image and import it again",
                       d.str()));
    }
    return data;
}

Result<Fd> Store::lock() const {
    auto fd = GANTRY_TRY(Fd::open(root_ + "/lock", O_RDWR | O_CREAT, 0600));
    while (::flock(fd.get(), LOCK_EX) != 0) {
        if (errno != EINTR) {
            return fail(Error::sys("flock '{}/lock'", root_));
        }
    }
    return fd;
}

Result<std::map<std::string, ImageRecord>> Store::read_index() const {
    std::map<std::string, ImageRecord> out;
    auto text = read_file(root_ + "/index.json");
    if (!text) {
        if (text.error().code() == ENOENT) {
            return out;
        }
        return fail(std::move(text.error()));
    }
    try {
        json j = json::parse(*text);
        for (const auto& [name, v] : j.at("images").items()) {
            ImageRecord r;
            r.name = name;
            r.digest = GANTRY_TRY(Digest::parse(v.at("digest").get<std::string>()));
            r.media_type = v.value("mediaType", "");
            r.size = v.value("size", uint64_t{0});
            if (v.contains("index")) {
                r.index_digest = GANTRY_TRY(Digest::parse(v["index"].get<std::string>()));
            }
            r.created = v.value("created", int64_t{0});
            out[name] = std::move(r);
        }
    } catch (const std::exception& e) {
        return fail(Error::msg("{}/index.json: {}", root_, e.what()));
    }
    return out;
}

Status Store::write_index(const std::map<std::string, ImageRecord>& idx) const {
    json images = json::object();
    for (const auto& [name, r] : idx) {
        json v = {{"digest", r.digest.str()},
                  {"mediaType", r.media_type},
                  {"size", r.size},
                  {"created", r.created}};
        if (!r.index_digest.empty()) {
            v["index"] = r.index_digest.str();
        }
        images[name] = std::move(v);
    }
    json j = {{"version", 1}, {"images", std::move(images)}};
    return write_file_atomic(root_ + "/index.json", j.dump(2) + "\n", 0600);
}

Result<std::vector<ImageRecord>> Store::list() const {
    auto idx = GANTRY_TRY(read_index());
    std::vector<ImageRecord> out;
    for (auto& [_, r] : idx) {
        out.push_back(std::move(r));
    }
    return out;
}

Result<ImageRecord> Store::find(std::string_view ref) const {
    auto idx = GANTRY_TRY(read_index());
    auto by_digest = [&](const Digest& d) -> std::optional<ImageRecord> {
        for (const auto& [_, r] : idx) {
            if (r.digest == d || r.index_digest == d) {
                return r;
            }
        }
        return std::nullopt;
    };
    if (ref.starts_with("sha256:")) {
        auto d = GANTRY_TRY(Digest::parse(ref));
        if (auto r = by_digest(d)) {
            return *r;
        }
        return fail(Error::with_errno(ENOENT, fmt::format("image {} is not in the store", ref)));
    }
    // A bare hex prefix, like `docker image inspect 3f57d9401f8d`.
    if (ref.size() >= 6 && ref.size() <= 64 &&
        ref.find_first_not_of("0123456789abcdef") == std::string_view::npos) {
        std::optional<ImageRecord> hit;
        for (const auto& [_, r] : idx) {
            if (r.digest.hex().starts_with(ref)) {
                if (hit && hit->digest != r.digest) {
                    return fail(Error::msg("image id prefix '{}' is ambiguous", ref));
                }
                hit = r;
            }
        }
        if (hit) {
            return *hit;
        }
    }
    auto parsed = GANTRY_TRY(Reference::parse(ref));
    if (parsed.digest) {
        // name@digest: the digest decides; the name only has to match the repository.
        for (const auto& [_, r] : idx) {
            std::string_view rest = std::string_view(r.name).substr(
                std::min(r.name.size(), parsed.repository().size()));
            if ((r.digest == *parsed.digest || r.index_digest == *parsed.digest) &&
                r.name.starts_with(parsed.repository()) &&
                (rest.starts_with(':') || rest.starts_with('@'))) {
                return r;
            }
        }
    } else if (auto it = idx.find(parsed.str()); it != idx.end()) {
        return it->second;
    }
    return fail(Error::with_errno(
        ENOENT, fmt::format("image '{}' is not in the store (as {}); pull or import it first", ref,
                            parsed.str())));
}

Result<Image> Store::load(const ImageRecord& rec) const {
    Image img;
    img.record = rec;
    auto mtext = GANTRY_TRY_CTX(read_blob(rec.digest), "image {}", rec.name);
    img.manifest = GANTRY_TRY_CTX(parse_manifest(mtext), "image {}", rec.name);
    auto ctext = GANTRY_TRY_CTX(read_blob(img.manifest.config.digest), "image {}", rec.name);
    img.config = GANTRY_TRY_CTX(parse_image_config(ctext), "image {}", rec.name);
    if (img.config.diff_ids.size() != img.manifest.layers.size()) {
        return fail(Error::msg("image {}: config lists {} diff_ids for {} layers", rec.name,
                               img.config.diff_ids.size(), img.manifest.layers.size()));
    }
    return img;
}

Result<Image> Store::load(std::string_view ref) const {
    return load(GANTRY_TRY(find(ref)));
}

Status Store::untag(std::string_view ref) {
    auto rec = GANTRY_TRY(find(ref));
    auto lock = GANTRY_TRY(this->lock());
    auto idx = GANTRY_TRY(read_index());
    idx.erase(rec.name);
    return write_index(idx);
}

}  // namespace gantry::image
