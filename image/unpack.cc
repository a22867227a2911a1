#include "image/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <unordered_set>

#include "base/fd.h"
#include "base/strings.h"
#include "image/file_writers.h"
#include "image/fsutil.h"
#include "image/layer_stream.h"

namespace gantry::image {

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";
constexpr size_t kMaxPath = 4096;
// Files at least this big get their writeback started as soon as they are written (when the
// caller will sync): the disk works while the next entries are created.
constexpr int64_t kWritebackFrom = 1 << 20;
// Regular files up to this size (without xattrs, not sparse) go to the writer threads,
// with at most kQueuedBytes of content waiting for them.
constexpr int64_t kAsyncMax = 1 << 20;
constexpr size_t kQueuedBytes = 32 << 20;

// The tar reader pulls the uncompressed stream from a LayerStream, which inflates and
// hashes it (for the diff_id) on a helper thread: one pass over the blob.
la_ssize_t stream_read(archive* inner, void* client, const void** out) {
    auto chunk = static_cast<LayerStream*>(client)->next();
    if (!chunk) {
        archive_set_error(inner, chunk.error().code(), "%s", chunk.error().message().c_str());
        return -1;
    }
    *out = chunk->data();
    return static_cast<la_ssize_t>(chunk->size());
}

struct ReadFree {
    void operator()(archive* a) const { archive_read_free(a); }
};

int sys_openat2(int dirfd, const std::string& path, uint64_t flags, uint64_t resolve) {
    open_how how{};
    how.flags = flags | O_CLOEXEC;
    how.resolve = resolve;
    int fd;
    do {
        fd = static_cast<int>(::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    return fd;
}

class Unpacker {
  public:
    // `create_umask`: when set, files this unpack creates get exactly `mode & ~umask` (see
    // creation_umask()), so fchmod can be skipped when that is already the entry's mode.
    Unpacker(int root, const UnpackOptions& opts, std::optional<mode_t> create_umask)
        : root_(root),
          opts_(opts),
          euid_(::geteuid()),
          egid_(::getegid()),
          create_umask_(create_umask) {
        if (opts.writers > 0) {
            writers_ = std::make_unique<FileWriters>(opts.writers, kQueuedBytes);
        }
    }

    Status entry(archive* a, archive_entry* e);
    // Waits for the queued files; redoes, in order, those whose name was taken.
    Status drain();
    UnpackStats stats_;

  private:
    // Opens (creating missing directories, mode 0755) the directory `dir` inside the root.
    Result<int> parent_dir(const std::string& dir);
    Result<Fd> resolve_in_root(const std::string& path, uint64_t flags);
    Status make_room(int parent, const std::string& base, bool want_dir);
    // Writes the entry's content; returns where the last block ended.
    Result<int64_t> write_data(archive* a, int fd, const std::string& path);
    // Reads the entry's data blocks, counting them against max_total_size, and hands each
    // (bytes, offset) to `take`.
    template <typename Take>
    Status each_block(archive* a, const std::string& path, Take take);
    // `fresh_owner`: the owner a file just created by us already has (see new_owner_).
    // `fresh_mode`: the mode a file just created by us already has, if known.
    Status set_attrs(int fd, archive_entry* e, const std::string& path, bool is_dir,
                     const std::pair<uid_t, gid_t>* fresh_owner = nullptr,
                     std::optional<mode_t> fresh_mode = std::nullopt);
    // Runs `make` (an *at() that creates `base` in the parent and fails with EEXIST if
    // something is there); on EEXIST clears the way with make_room() and runs it again.
    // Trying first saves a stat per entry in the common case, an empty target.
    template <typename Make>
    Status create(int* parent, const std::string& dir, const std::string& base, bool want_dir,
                  Make make);
    Status whiteout(const std::string& dir, int parent, const std::string& base);
    // Whether a regular file goes to the writer threads.
    bool async_file(archive_entry* e) const;
    // Reads the entry's content and queues the file (the parent is the cached directory).
    Status queue_file(archive* a, archive_entry* e, const std::string& path,
                      const std::string& base);
    // Remembers a path this layer wrote; only flattening (kApply opaque dirs) asks.
    void track(const std::string& path) {
        if (opts_.whiteouts == WhiteoutMode::kApply) {
            created_.insert(path);
        }
    }

    int root_;
    const UnpackOptions& opts_;
    uid_t euid_;
    gid_t egid_;
    // One-entry cache of the last parent directory: tars list a directory's files together,
    // so most entries reuse it. Dropped whenever anything is removed or linked.
    std::string cached_dir_;
    std::shared_ptr<Fd> cached_fd_;  // shared with queued files that are created in it
    // Who owns a file we create in the cached directory: our fsuid, and its group when it
    // is set-group-ID, else our fsgid. When the entry wants that owner, fchown is skipped.
    std::pair<uid_t, gid_t> new_owner_;
    std::optional<mode_t> create_umask_;       // dropped once a default ACL may apply
    std::unordered_set<std::string> created_;  // this layer's paths (kApply opaque dirs)
    // Ordering with the writer threads: the paths of queued files. Any entry that could see
    // or change one of them (the same path, a path below it, anything but a new directory
    // or another small file) drains the queue first, so the tree evolves as in tar order.
    std::unique_ptr<FileWriters> writers_;
    std::unordered_set<std::string> pending_;
};

Result<Fd> Unpacker::resolve_in_root(const std::string& path, uint64_t flags) {
    int fd = sys_openat2(root_, path.empty() ? "." : path, flags,
                         RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
    if (fd < 0) {
        return fail(Error::sys("resolve '{}' in the target", path));
    }
    return Fd(fd);
}

Status Unpacker::drain() {
    if (pending_.empty()) {
        return ok();
    }
    pending_.clear();
    auto taken = GANTRY_TRY(writers_->drain());
    for (const auto& job : taken) {
        // Something was there already (a lower layer's entry when flattening): replace it.
        GANTRY_TRY(make_room(job.parent->get(), job.base, false));
        GANTRY_TRY(FileWriters::write_file(job));
    }
    return ok();
}

Result<int> Unpacker::parent_dir(const std::string& dir) {
    if (cached_fd_ && dir == cached_dir_) {
        return cached_fd_->get();
    }
    // A queued file at this directory or above it decides what the path resolves to.
    if (!pending_.empty()) {
        for (size_t at = 0; at != std::string::npos;) {
            at = dir.find('/', at + 1);
            if (pending_.contains(dir.substr(0, at))) {
                GANTRY_TRY(drain());
                break;
            }
        }
    }
    auto fd = resolve_in_root(dir, O_PATH | O_DIRECTORY);
    if (!fd && fd.error().code() == ENOENT) {
        // Create the missing directories one at a time, each resolved in the root again.
        std::string prefix;
        for (const auto& comp : split(dir, '/')) {
            auto parent = GANTRY_TRY(resolve_in_root(prefix, O_PATH | O_DIRECTORY));
            if (::mkdirat(parent.get(), comp.c_str(), 0755) != 0 && errno != EEXIST) {
                return fail(Error::sys("mkdir '{}/{}'", prefix, comp));
            }
            prefix = prefix.empty() ? comp : prefix + "/" + comp;
            track(prefix);
        }
        fd = resolve_in_root(dir, O_PATH | O_DIRECTORY);
    }
    if (!fd) {
        return fail(std::move(fd.error()));
    }
    struct stat st;
    if (::fstat(fd->get(), &st) != 0) {
        return fail(Error::sys("stat '{}'", dir));
    }
    new_owner_ = {euid_, (st.st_mode & S_ISGID) != 0 ? st.st_gid : egid_};
    cached_dir_ = dir;
    cached_fd_ = std::make_shared<Fd>(std::move(*fd));
    return cached_fd_->get();
}

// Clears the way for a new entry: an existing directory stays when a directory comes
// again; anything else in the way is removed (later layers and entries win).
Status Unpacker::make_room(int parent, const std::string& base, bool want_dir) {
    struct stat st;
    if (::fstatat(parent, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) {
            return ok();
        }
        return fail(Error::sys("stat '{}'", base));
    }
    if (want_dir && S_ISDIR(st.st_mode)) {
        return ok();
    }
    // Drop the cache after the removal: `parent` may be the cached fd itself.
    auto removed = remove_tree_at(parent, base);
    cached_fd_.reset();
    cached_dir_.clear();
    return removed;
}

template <typename Make>
Status Unpacker::create(int* parent, const std::string& dir, const std::string& base, bool want_dir,
                        Make make) {
    if (make(*parent) == 0) {
        return ok();
    }
    if (errno != EEXIST) {
        return fail(Error::sys("create '{}'", base));
    }
    // The name is taken: queued files may be what takes it, or what is below it.
    if (!pending_.empty()) {
        GANTRY_TRY(drain());
        *parent = GANTRY_TRY(parent_dir(dir));
    }
    GANTRY_TRY(make_room(*parent, base, want_dir));
    *parent = GANTRY_TRY(parent_dir(dir));
    if (make(*parent) != 0 && !(want_dir && errno == EEXIST)) {
        return fail(Error::sys("create '{}'", base));
    }
    return ok();
}

template <typename Take>
Status Unpacker::each_block(archive* a, const std::string& path, Take take) {
    const void* block;
    size_t size;
    la_int64_t offset;
    for (;;) {
        int r = archive_read_data_block(a, &block, &size, &offset);
        if (r == ARCHIVE_EOF) {
            return ok();
        }
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            return fail(Error::msg("'{}': {}", path, archive_error_string(a)));
        }
        stats_.bytes += size;
        if (stats_.bytes > opts_.max_total_size) {
            return fail(
                Error::msg("layer content exceeds the limit of {} bytes", opts_.max_total_size));
        }
        GANTRY_TRY(take(std::string_view(static_cast<const char*>(block), size), offset));
    }
}

Result<int64_t> Unpacker::write_data(archive* a, int fd, const std::string& path) {
    la_int64_t end = 0;
    GANTRY_TRY(each_block(a, path, [&](std::string_view bytes, la_int64_t offset) -> Status {
        // Sparse files come as blocks at offsets; holes stay holes.
        if (offset != end && ::lseek(fd, offset, SEEK_SET) < 0) {
            return fail(Error::sys("seek '{}'", path));
        }
        GANTRY_TRY_CTX(write_all(fd, bytes), "write '{}'", path);
        end = offset + static_cast<la_int64_t>(bytes.size());
        return ok();
    }));
    return end;
}

Status Unpacker::set_attrs(int fd, archive_entry* e, const std::string& path, bool is_dir,
                           const std::pair<uid_t, gid_t>* fresh_owner,
                           std::optional<mode_t> fresh_mode) {
    // 1. Owner before mode: chown clears set-id bits.
    auto owner = std::pair(static_cast<uid_t>(archive_entry_uid(e)),
                           static_cast<gid_t>(archive_entry_gid(e)));
    if (opts_.same_owner && (fresh_owner == nullptr || *fresh_owner != owner) &&
        ::fchown(fd, owner.first, owner.second) != 0) {
        return fail(Error::sys("chown '{}'", path));
    }
    // 2. xattrs, minus the ones that would steer overlayfs.
    archive_entry_xattr_reset(e);
    const char* name;
    const void* value;
    size_t len;
    bool xattrs_set = false;  // an access ACL changes the mode: then fchmod always runs
    while (archive_entry_xattr_next(e, &name, &value, &len) == ARCHIVE_OK) {
        std::string_view n = name;
        if (n.starts_with("trusted.overlay.") || n.starts_with("user.overlay.")) {
            // pax tars may carry the same xattr twice (SCHILY and LIBARCHIVE keys): warn once.
            auto w = fmt::format("'{}': dropped xattr {}", path, n);
            if (stats_.warnings.empty() || stats_.warnings.back() != w) {
                stats_.warnings.push_back(std::move(w));
            }
            continue;
        }
        if (n == "system.posix_acl_default") {
            create_umask_.reset();  // files created below get their mode from the ACL
        }
        xattrs_set = true;
        if (::fsetxattr(fd, name, value, len, 0) != 0) {
            if (errno == ENOTSUP || errno == EPERM) {
                stats_.warnings.push_back(
                    fmt::format("'{}': xattr {} not kept: {}", path, n, strerror(errno)));
                continue;
            }
            return fail(Error::sys("setxattr '{}' {}", path, n));
        }
    }
    // 3. Mode (with set-id bits only when we also kept the owner they were meant for).
    mode_t mode = archive_entry_perm(e) & (opts_.same_owner ? 07777 : 01777);
    if ((xattrs_set || fresh_mode != mode) && ::fchmod(fd, mode) != 0) {
        return fail(Error::sys("chmod '{}'", path));
    }
    if (!is_dir) {
        timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                          {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
        ::futimens(fd, ts);
    }
    return ok();
}

Status Unpacker::whiteout(const std::string& dir, int parent, const std::string& base) {
    if (base == kOpaque) {
        if (opts_.whiteouts == WhiteoutMode::kOverlay) {
            auto d = GANTRY_TRY(resolve_in_root(dir, O_RDONLY | O_DIRECTORY));
            if (::fsetxattr(d.get(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
                return fail(Error::sys("mark '{}' opaque (needs CAP_SYS_ADMIN)", dir));
            }
            return ok();
        }
        // Apply: drop what lower layers put here, keep what this layer already wrote.
        auto d = GANTRY_TRY(resolve_in_root(dir, O_RDONLY | O_DIRECTORY));
        DIR* dp = ::fdopendir(::fcntl(d.get(), F_DUPFD_CLOEXEC, 0));
        if (dp == nullptr) {
            return fail(Error::sys("opendir '{}'", dir));
        }
        std::vector<std::string> doomed;
        while (dirent* de = ::readdir(dp)) {
            std::string n = de->d_name;
            std::string p = dir.empty() ? n : dir + "/" + n;
            if (n != "." && n != ".." && !created_.contains(p)) {
                doomed.push_back(n);
            }
        }
        ::closedir(dp);
        cached_fd_.reset();
        cached_dir_.clear();
        for (const auto& n : doomed) {
            GANTRY_TRY(remove_tree_at(d.get(), n));
        }
        return ok();
    }
    if (base.starts_with(".wh..wh.")) {
        return ok();  // aufs bookkeeping (.wh..wh.plnk etc.), meaningless here
    }
    std::string victim = base.substr(kWhiteoutPrefix.size());
    if (victim.empty() || victim == "." || victim == "..") {
        return fail(Error::msg("whiteout '{}/{}' names no file", dir, base));
    }
    GANTRY_TRY(make_room(parent, victim, false));
    parent = GANTRY_TRY(parent_dir(dir));
    if (opts_.whiteouts == WhiteoutMode::kOverlay) {
        if (::mknodat(parent, victim.c_str(), S_IFCHR | 0000, makedev(0, 0)) != 0) {
            return fail(Error::sys("whiteout '{}/{}'", dir, victim));
        }
        track(dir.empty() ? victim : dir + "/" + victim);
    }
    return ok();
}

// Normalises an entry path: "./a/b/" → "a/b", "/etc/x" → "etc/x"; refuses "..". One pass,
// no per-component allocation: this runs for every entry.
Result<std::string> clean_path(const char* raw, bool* was_absolute) {
    std::string_view p = raw != nullptr ? raw : "";
    if (p.size() > kMaxPath) {
        return fail(Error::msg("entry path of {} bytes is too long", p.size()));
    }
    *was_absolute = p.starts_with('/');
    std::string out;
    out.reserve(p.size());
    size_t i = 0;
    while (i < p.size()) {
        size_t j = p.find('/', i);
        if (j == std::string_view::npos) {
            j = p.size();
        }
        std::string_view c = p.substr(i, j - i);
        i = j + 1;
        if (c.empty() || c == ".") {
            continue;
        }
        if (c == "..") {
            return fail(Error::msg("entry '{}': '..' is not allowed in a layer path", p));
        }
        if (!out.empty()) {
            out += '/';
        }
        out += c;
    }
    return out;
}

Status Unpacker::entry(archive* a, archive_entry* e) {
    if (++stats_.entries > opts_.max_entries) {
        return fail(Error::msg("layer has more than {} entries", opts_.max_entries));
    }
    bool absolute = false;
    std::string path = GANTRY_TRY(clean_path(archive_entry_pathname(e), &absolute));
    if (absolute) {
        stats_.warnings.push_back(fmt::format("'/{}': leading '/' removed", path));
    }
    if (path.empty()) {
        return ok();  // the root itself: its attributes belong to the target, not the layer
    }
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "" : path.substr(0, slash);
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    bool whiteout_entry = base.starts_with(kWhiteoutPrefix);
    bool async = !whiteout_entry && async_file(e);
    bool new_dir = !whiteout_entry && archive_entry_hardlink(e) == nullptr &&
                   archive_entry_filetype(e) == AE_IFDIR;
    if (!pending_.empty() && (pending_.contains(path) || !(async || new_dir))) {
        GANTRY_TRY(drain());
    }
    int parent = GANTRY_TRY_CTX(parent_dir(dir), "entry '{}'", path);

    if (whiteout_entry) {
        return whiteout(dir, parent, base);
    }
    if (archive_entry_size_is_set(e) &&
        static_cast<uint64_t>(archive_entry_size(e)) > opts_.max_entry_size) {
        return fail(Error::msg("entry '{}': {} bytes exceeds the per-file limit of {}", path,
                               archive_entry_size(e), opts_.max_entry_size));
    }
    track(path);

    // Hard links first: libarchive reports them with the target's file type.
    if (const char* link = archive_entry_hardlink(e); link != nullptr) {
        bool abs = false;
        std::string target = GANTRY_TRY_CTX(clean_path(link, &abs), "hard link '{}'", path);
        if (target.empty()) {
            return fail(Error::msg("hard link '{}' points at the root", path));
        }
        auto ts = target.rfind('/');
        std::string tdir = ts == std::string::npos ? "" : target.substr(0, ts);
        std::string tbase = ts == std::string::npos ? target : target.substr(ts + 1);
        // The target's parent is resolved in the root; linkat without AT_SYMLINK_FOLLOW then
        // links the target itself, never what a symlink there points to.
        auto tparent = GANTRY_TRY_CTX(resolve_in_root(tdir, O_PATH | O_DIRECTORY),
                                      "hard link '{}' -> '{}'", path, target);
        auto linked = create(&parent, dir, base, false, [&](int p) {
            return ::linkat(tparent.get(), tbase.c_str(), p, base.c_str(), 0);
        });
        if (!linked) {
            return fail(Error::with_errno(
                linked.error().code(),
                fmt::format("hard link '{}' -> '{}' (the target must be in the layer)", path,
                            target)));
        }
        return ok();
    }

    mode_t type = archive_entry_filetype(e);
    switch (type) {
        case AE_IFDIR: {
            GANTRY_TRY_CTX(create(&parent, dir, base, true,
                                  [&](int p) { return ::mkdirat(p, base.c_str(), 0700); }),
                           "mkdir '{}'", path);
            auto fd = GANTRY_TRY(Fd::openat(parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
            if (path == cached_dir_) {
                cached_fd_.reset();  // its mode (set-group-ID) may change: new_owner_ too
                cached_dir_.clear();
            }
            return set_attrs(fd.get(), e, path, true);
        }
        case AE_IFREG: {
            if (async) {
                return queue_file(a, e, path, base);
            }
            // Created with its final permission bits when the umask keeps them all and no
            // default ACL can interfere (set-id bits always wait for fchmod, after chown).
            mode_t perm = archive_entry_perm(e) & 0777;
            std::optional<mode_t> fresh_mode;
            if (create_umask_ && (perm & *create_umask_) == 0) {
                fresh_mode = perm;
            }
            int raw = -1;
            GANTRY_TRY_CTX(create(&parent, dir, base, false,
                                  [&](int p) {
                                      raw = ::openat(
                                          p, base.c_str(),
                                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                          fresh_mode ? perm : 0600);
                                      return raw < 0 ? -1 : 0;
                                  }),
                           "open '{}'", path);
            Fd fd(raw);
            auto owner = new_owner_;  // of the directory the file was just created in
            int64_t end = GANTRY_TRY(write_data(a, fd.get(), path));
            // A sparse file may end in a hole: set the size. Otherwise it is already right.
            if (archive_entry_size_is_set(e) && archive_entry_size(e) != end &&
                ::ftruncate(fd.get(), archive_entry_size(e)) != 0) {
                return fail(Error::sys("truncate '{}'", path));
            }
            if (opts_.start_writeback && end >= kWritebackFrom) {
                // A hint: errors (and the data) are the caller's syncfs' business.
                (void)::sync_file_range(fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
            }
            return set_attrs(fd.get(), e, path, false, &owner, fresh_mode);
        }
        case AE_IFLNK: {
            const char* target = archive_entry_symlink(e);
            if (target == nullptr || *target == '\0') {
                return fail(Error::msg("symlink '{}' has no target", path));
            }
            GANTRY_TRY_CTX(create(&parent, dir, base, false,
                                  [&](int p) { return ::symlinkat(target, p, base.c_str()); }),
                           "symlink '{}'", path);
            if (opts_.same_owner &&
                ::fchownat(parent, base.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                           static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW) != 0) {
                return fail(Error::sys("chown '{}'", path));
            }
            timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                              {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
            ::utimensat(parent, base.c_str(), ts, AT_SYMLINK_NOFOLLOW);
            cached_fd_.reset();  // a symlink may now sit where a cached path went
            cached_dir_.clear();
            return ok();
        }
        case AE_IFIFO:
        case AE_IFCHR:
        case AE_IFBLK: {
            if (type != AE_IFIFO && !opts_.allow_devices) {
                return fail(
                    Error::msg("entry '{}' is a device node ({}:{}); device nodes are "
                               "not allowed in image layers",
                               path, archive_entry_rdevmajor(e), archive_entry_rdevminor(e)));
            }
            mode_t m = (type == AE_IFIFO ? S_IFIFO : type == AE_IFCHR ? S_IFCHR : S_IFBLK) | 0600;
            GANTRY_TRY_CTX(
                create(&parent, dir, base, false,
                       [&](int p) { return ::mknodat(p, base.c_str(), m, archive_entry_rdev(e)); }),
                "mknod '{}'", path);
            if (opts_.same_owner &&
                ::fchownat(parent, base.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                           static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW) != 0) {
                return fail(Error::sys("chown '{}'", path));
            }
            if (::fchmodat(parent, base.c_str(), archive_entry_perm(e) & 0777, 0) != 0) {
                return fail(Error::sys("chmod '{}'", path));
            }
            return ok();
        }
        default:
            return fail(Error::msg("entry '{}' has an unsupported file type {:o}", path, type));
    }
}

bool Unpacker::async_file(archive_entry* e) const {
    return writers_ && writers_->active() && archive_entry_filetype(e) == AE_IFREG &&
           archive_entry_hardlink(e) == nullptr && archive_entry_size_is_set(e) &&
           archive_entry_size(e) <= kAsyncMax && archive_entry_sparse_count(e) == 0 &&
           archive_entry_xattr_count(e) == 0;
}

Status Unpacker::queue_file(archive* a, archive_entry* e, const std::string& path,
                            const std::string& base) {
    FileJob job;
    job.parent = cached_fd_;  // entry() resolved the parent just now
    job.base = base;
    job.path = path;
    job.data.reserve(static_cast<size_t>(archive_entry_size(e)));
    GANTRY_TRY(each_block(a, path, [&](std::string_view bytes, la_int64_t offset) -> Status {
        if (static_cast<size_t>(offset) > job.data.size()) {
            job.data.resize(static_cast<size_t>(offset));  // not sparse: never, but be exact
        }
        job.data.append(bytes);
        return ok();
    }));
    job.data.resize(static_cast<size_t>(archive_entry_size(e)));
    // The same attributes, in the same order, as the caller's-thread path (set_attrs).
    mode_t perm = archive_entry_perm(e) & 0777;
    mode_t mode = archive_entry_perm(e) & (opts_.same_owner ? 07777 : 01777);
    bool fresh = create_umask_ && (perm & *create_umask_) == 0;
    job.create_mode = fresh ? perm : 0600;
    if (!fresh || mode != perm) {
        job.chmod = mode;
    }
    auto owner = std::pair(static_cast<uid_t>(archive_entry_uid(e)),
                           static_cast<gid_t>(archive_entry_gid(e)));
    if (opts_.same_owner && owner != new_owner_) {
        job.chown = owner;
    }
    job.mtime = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
    pending_.insert(path);
    writers_->submit(std::move(job));
    return ok();
}

// The umask files are created under, when it alone decides their mode: known (Linux 4.7+
// reports it in /proc/self/status), the target is empty (so every directory in it will be
// ours) and the target has no default ACL for new entries to inherit. Otherwise nullopt.
std::optional<mode_t> creation_umask(int target_dirfd) {
    auto status = Fd::open("/proc/self/status", O_RDONLY);
    if (!status) {
        return std::nullopt;
    }
    char buf[4096];
    ssize_t n = ::read(status->get(), buf, sizeof buf - 1);
    if (n <= 0) {
        return std::nullopt;
    }
    std::string_view text(buf, static_cast<size_t>(n));
    auto at = text.find("\nUmask:\t");
    if (at == std::string_view::npos) {
        return std::nullopt;
    }
    mode_t umask = static_cast<mode_t>(std::strtoul(buf + at + 8, nullptr, 8)) & 0777;
    char acl[64];
    if (::fgetxattr(target_dirfd, "system.posix_acl_default", acl, sizeof acl) >= 0 ||
        (errno != ENODATA && errno != ENOTSUP)) {
        return std::nullopt;
    }
    // A new open file description: reading it leaves the caller's fd offset alone.
    int fd = ::openat(target_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* dp = fd < 0 ? nullptr : ::fdopendir(fd);
    if (dp == nullptr) {
        if (fd >= 0) {
            ::close(fd);
        }
        return std::nullopt;
    }
    bool empty = true;
    while (dirent* de = ::readdir(dp)) {
        std::string_view name = de->d_name;
        if (name != "." && name != "..") {
            empty = false;
            break;
        }
    }
    ::closedir(dp);
    return empty ? std::optional(umask) : std::nullopt;
}

}  // namespace

Result<UnpackStats> unpack_layer(int layer_fd, int target_dirfd, const UnpackOptions& opts) {
    // 1. The uncompressed stream: content plus tar headers/padding.
    LayerStream stream;
    GANTRY_TRY(stream.open(layer_fd, opts.max_total_size + (1 << 20)));

    // 2. Tar reader, fed by the stream.
    std::unique_ptr<archive, ReadFree> inner(archive_read_new());
    archive_read_support_format_tar(inner.get());
    if (archive_read_open(inner.get(), &stream, nullptr, stream_read, nullptr) != ARCHIVE_OK) {
        return fail(Error::msg("read layer: {}", archive_error_string(inner.get())));
    }
    Unpacker u(target_dirfd, opts, creation_umask(target_dirfd));
    for (;;) {
        archive_entry* e = nullptr;
        int r = archive_read_next_header(inner.get(), &e);
        if (r == ARCHIVE_EOF) {
            break;
        }
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            return fail(Error::msg("read layer: {}", archive_error_string(inner.get())));
        }
        GANTRY_TRY(u.entry(inner.get(), e));
    }
    GANTRY_TRY(u.drain());
    // 3. Drain: the diff_id covers the whole stream, tar padding included.
    for (;;) {
        auto chunk = stream.next();
        if (!chunk) {
            return fail(std::move(chunk.error()).context("read layer"));
        }
        if (chunk->empty()) {
            break;
        }
    }
    u.stats_.diff_id = stream.digest();
    if (opts.expect_diff_id && *opts.expect_diff_id != u.stats_.diff_id) {
        return fail(
            Error::msg("layer: uncompressed content hashes to {}, the image config "
                       "says {}",
                       u.stats_.diff_id.str(), opts.expect_diff_id->str()));
    }
    return std::move(u.stats_);
}

}  // namespace gantry::image
