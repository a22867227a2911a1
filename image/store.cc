#include "image/store.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "image/fsutil.h"
#include "image/reference.h"

namespace gantry::image {

using json = nlohmann::json;

namespace {

constexpr uint64_t kMaxDocument = 64ull << 20;

int64_t now_unix() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Status verify(const HashedSize& got, const Descriptor& expect) {
    if (got.size != expect.size) {
        return fail(Error::msg("blob {}: size is {} bytes, expected {}", expect.digest.str(),
                               got.size, expect.size));
    }
    if (got.digest != expect.digest) {
        return fail(Error::msg("blob {}: content hashes to {} (corrupt or tampered)",
                               expect.digest.str(), got.digest.str()));
    }
    return ok();
}

}  // namespace

// ---- BlobWriter ----

Status BlobWriter::write(std::string_view data) {
    GANTRY_TRY_CTX(write_all(fd_.get(), data), "write '{}'", path_);
    hasher_.update(data);
    return ok();
}

Status BlobWriter::restart() {
    if (::ftruncate(fd_.get(), 0) != 0 || ::lseek(fd_.get(), 0, SEEK_SET) != 0) {
        return fail(Error::sys("truncate '{}'", path_));
    }
    hasher_.finish();
    return ok();
}

// ---- Txn ----

Txn::Txn(Store store, std::string dir, Fd lock)
    : store_(std::move(store)), dir_(std::move(dir)), dir_lock_(std::move(lock)) {}

Txn::~Txn() {
    if (!dir_.empty()) {
        (void)remove_tree(dir_);
    }
}

bool Txn::have(const Digest& d) const {
    return staged_.contains(d) || store_.has_blob(d);
}

Result<std::string> Txn::read(const Digest& d) const {
    auto it = staged_.find(d);
    if (it == staged_.end()) {
        return store_.read_blob(d);
    }
    return read_file(it->second);
}

Status Txn::stage_verified(const std::string& tmp_path, const Digest& d) {
    std::string final_path = dir_ + "/" + d.hex();
    if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
        return fail(Error::sys("rename '{}' to '{}'", tmp_path, final_path));
    }
    staged_[d] = final_path;
    return ok();
}

Result<Descriptor> Txn::put_bytes(std::string_view data, std::string_view media_type,
                                  const Descriptor* expect) {
    Descriptor d{std::string(media_type), sha256_of(data), data.size(), {}, {}};
    if (expect != nullptr) {
        GANTRY_TRY(verify(HashedSize{d.digest, d.size}, *expect));
    }
    if (have(d.digest)) {
        return d;
    }
    std::string tmp = fmt::format("{}/part-{}", dir_, seq_++);
    GANTRY_TRY(write_file_atomic(tmp, data, 0444));
    GANTRY_TRY(stage_verified(tmp, d.digest));
    return d;
}

Status Txn::put_file(const std::string& path, const Descriptor& expect, bool move) {
    auto in = GANTRY_TRY(Fd::open(path, O_RDONLY));
    if (!move) {
        if (have(expect.digest)) {
            // Still verify: a layout whose blob is corrupt is refused even if we hold a good
            // copy, so the user learns their file is bad.
            auto got = GANTRY_TRY_CTX(sha256_fd(in.get()), "read '{}'", path);
            return verify(got, expect);
        }
        auto w = GANTRY_TRY(start_blob());
        std::string buf(1 << 17, '\0');
        for (;;) {
            ssize_t n = ::read(in.get(), buf.data(), buf.size());
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return fail(Error::sys("read '{}'", path));
            }
            if (n == 0) {
                break;
            }
            GANTRY_TRY(w.write(std::string_view(buf.data(), static_cast<size_t>(n))));
        }
        return finish_blob(std::move(w), expect);
    }
    auto got = GANTRY_TRY_CTX(sha256_fd(in.get()), "read '{}'", path);
    GANTRY_TRY_CTX(verify(got, expect), "'{}'", path);
    if (have(expect.digest)) {
        return ok();
    }
    ::fchmod(in.get(), 0444);
    return stage_verified(path, expect.digest);
}

Result<BlobWriter> Txn::start_blob() {
    BlobWriter w;
    w.path_ = fmt::format("{}/part-{}", dir_, seq_++);
    w.fd_ = GANTRY_TRY(Fd::open(w.path_, O_WRONLY | O_CREAT | O_EXCL, 0444));
    return w;
}

Status Txn::finish_blob(BlobWriter w, const Descriptor& expect) {
    HashedSize got{w.hasher_.finish(), 0};
    struct stat st;
    if (::fstat(w.fd_.get(), &st) != 0) {
        return fail(Error::sys("stat '{}'", w.path_));
    }
    got.size = static_cast<uint64_t>(st.st_size);
    auto v = verify(got, expect);
    if (!v) {
        ::unlink(w.path_.c_str());
        return v;
    }
    if (::fsync(w.fd_.get()) != 0) {
        return fail(Error::sys("fsync '{}'", w.path_));
    }
    if (have(expect.digest)) {
        ::unlink(w.path_.c_str());
        return ok();
    }
    return stage_verified(w.path_, expect.digest);
}

Status Txn::commit() {
    auto lock = GANTRY_TRY(store_.lock());
    // 1. Every blob a new name needs must be here: a concurrent GC may have removed a blob
    //    we skipped because the store had it when we looked.
    for (const auto& t : tags_) {
        if (!have(t.digest)) {
            return fail(
                Error::msg("commit {}: manifest {} vanished from the store (concurrent "
                           "prune?); retry the import",
                           t.name, t.digest.str()));
        }
        auto img = GANTRY_TRY_CTX(parse_manifest(GANTRY_TRY(read(t.digest))), "commit {}", t.name);
        for (const auto& d : img.layers) {
            if (!have(d.digest)) {
                return fail(Error::msg("commit {}: layer {} is missing; retry the import", t.name,
                                       d.digest.str()));
            }
        }
        if (!have(img.config.digest)) {
            return fail(
                Error::msg("commit {}: config {} is missing", t.name, img.config.digest.str()));
        }
    }
    // 2. Blobs into place. A crash here leaves verified but unnamed blobs (GC food).
    for (const auto& [d, path] : staged_) {
        std::string dst = store_.blob_path(d);
        if (::rename(path.c_str(), dst.c_str()) != 0) {
            return fail(Error::sys("rename '{}' to '{}'", path, dst));
        }
    }
    if (!staged_.empty()) {
        GANTRY_TRY(fsync_dir(store_.root() + "/blobs/sha256"));
    }
    staged_.clear();
    // 3. Names: one atomic replace of index.json.
    if (!tags_.empty()) {
        auto idx = GANTRY_TRY(store_.read_index());
        for (auto& t : tags_) {
            t.created = now_unix();
            idx[t.name] = t;
        }
        GANTRY_TRY(store_.write_index(idx));
    }
    return ok();
}

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

Result<Txn> Store::begin() const {
    auto dir = GANTRY_TRY(make_temp_dir(root_ + "/tmp", "txn-"));
    auto lock = GANTRY_TRY(Fd::open(dir, O_RDONLY | O_DIRECTORY));
    // GC removes tmp/txn-* dirs it can flock; ours stays locked until the Txn dies.
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
        return fail(Error::sys("flock '{}'", dir));
    }
    return Txn(*this, std::move(dir), std::move(lock));
}

Status Store::untag(std::string_view ref) {
    auto rec = GANTRY_TRY(find(ref));
    auto lock = GANTRY_TRY(this->lock());
    auto idx = GANTRY_TRY(read_index());
    idx.erase(rec.name);
    return write_index(idx);
}

}  // namespace gantry::image
