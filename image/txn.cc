#include "image/store.h"

// The writing side of the store (blobs staged, verified, committed): part of gantry_image,
// not of gantry_image_store, because it hashes with OpenSSL (digest.h's Sha256).

#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "image/fsutil.h"
#include "image/reference.h"

namespace gantry::image {

namespace {

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

Result<Txn> Store::begin() const {
    auto dir = GANTRY_TRY(make_temp_dir(root_ + "/tmp", "txn-"));
    auto lock = GANTRY_TRY(Fd::open(dir, O_RDONLY | O_DIRECTORY));
    // GC removes tmp/txn-* dirs it can flock; ours stays locked until the Txn dies.
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
        return fail(Error::sys("flock '{}'", dir));
    }
    return Txn(*this, std::move(dir), std::move(lock));
}

}  // namespace gantry::image
