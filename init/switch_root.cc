#include "init/switch_root.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/fd.h"
#include "base/log.h"

namespace gantry::init {
namespace {

constexpr const char* kSwitchedEnv = "GANTRY_SWITCHED_ROOT";
constexpr const char* kNewRoot = "/.gantry-root";

bool is_api_fs_dir(const std::string& rel) {
    return rel == "/proc" || rel == "/sys" || rel == "/dev";
}

Status copy_file(const std::string& src, const std::string& dst, const struct stat& st) {
    Fd in = GANTRY_TRY(Fd::open(src, O_RDONLY | O_NOFOLLOW));
    Fd out =
        GANTRY_TRY(Fd::open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, st.st_mode & 07777));
    off_t left = st.st_size;
    while (left > 0) {
        ssize_t n = ::sendfile(out.get(), in.get(), nullptr, static_cast<size_t>(left));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail(Error::sys("copy '{}'", src));
        }
        if (n == 0) {
            break;
        }
        left -= n;
    }
    return ok();
}

// Owner and mode last: chown clears set-id bits.
void set_attrs(const std::string& dst, const struct stat& st) {
    (void)::lchown(dst.c_str(), st.st_uid, st.st_gid);
    if (!S_ISLNK(st.st_mode)) {
        (void)::chmod(dst.c_str(), st.st_mode & 07777);
    }
}

Status move_entry(const std::string& from, const std::string& to, const std::string& rel,
                  const std::string& skip) {
    // The top of a move from "/" is "/" itself.
    std::string src = (from.empty() && rel.empty()) ? std::string("/") : from + rel;
    std::string dst = to + rel;
    struct stat st;
    if (::lstat(src.c_str(), &st) < 0) {
        return fail(Error::sys("stat '{}'", src));
    }
    if (S_ISDIR(st.st_mode)) {
        if (!rel.empty() && ::mkdir(dst.c_str(), 0700) < 0 && errno != EEXIST) {
            return fail(Error::sys("mkdir '{}'", dst));
        }
        if (!is_api_fs_dir(rel)) {
            DIR* d = ::opendir(src.c_str());
            if (d == nullptr) {
                return fail(Error::sys("open directory '{}'", src));
            }
            std::vector<std::string> names;
            while (struct dirent* e = ::readdir(d)) {
                std::string n = e->d_name;
                if (n != "." && n != "..") {
                    names.push_back(n);
                }
            }
            ::closedir(d);
            for (const auto& n : names) {
                std::string child = rel + "/" + n;
                if (from + child == skip) {
                    continue;
                }
                GANTRY_TRY(move_entry(from, to, child, skip));
            }
        }
        if (!rel.empty()) {
            set_attrs(dst, st);
        }
        return ok();
    }
    if (S_ISREG(st.st_mode)) {
        GANTRY_TRY(copy_file(src, dst, st));
    } else if (S_ISLNK(st.st_mode)) {
        std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
        ssize_t n = ::readlink(src.c_str(), target.data(), target.size());
        if (n < 0) {
            return fail(Error::sys("readlink '{}'", src));
        }
        target.resize(static_cast<size_t>(n));
        if (::symlink(target.c_str(), dst.c_str()) < 0) {
            return fail(Error::sys("symlink '{}'", dst));
        }
    } else if (::mknod(dst.c_str(), st.st_mode, st.st_rdev) < 0) {
        return fail(Error::sys("mknod '{}'", dst));
    }
    set_attrs(dst, st);
    // The rootfs copy is freed as soon as the tmpfs holds the file.
    (void)::unlink(src.c_str());
    return ok();
}

}  // namespace

bool on_initial_rootfs() {
    const char* done = std::getenv(kSwitchedEnv);
    if (done != nullptr && std::string(done) == "1") {
        return false;
    }
    struct statfs fs;
    if (::statfs("/", &fs) < 0) {
        return false;
    }
    return fs.f_type == RAMFS_MAGIC || fs.f_type == TMPFS_MAGIC;
}

Status move_tree(const std::string& from, const std::string& to, const std::string& skip) {
    return move_entry(from == "/" ? "" : from, to, "", skip);
}

namespace {

// The normal path: "/" bind-mounted onto kNewRoot, moved over "/", chroot. No copy.
Status bind_over_rootfs() {
    if (::mkdir(kNewRoot, 0755) < 0 && errno != EEXIST) {
        return fail(Error::sys("mkdir {}", kNewRoot));
    }
    if (::mount("/", kNewRoot, nullptr, MS_BIND, nullptr) < 0) {
        return fail(Error::sys("bind / on {}", kNewRoot));
    }
    if (::chdir(kNewRoot) < 0) {
        return fail(Error::sys("chdir {}", kNewRoot));
    }
    if (::mount(".", "/", nullptr, MS_MOVE, nullptr) < 0) {
        Error e = Error::sys("move the bind of / over /");
        (void)::chdir("/");
        (void)::umount2(kNewRoot, MNT_DETACH);
        return fail(std::move(e));
    }
    if (::chroot(".") < 0 || ::chdir("/") < 0) {
        return fail(Error::sys("chroot into the bind of /"));
    }
    // In the new root kNewRoot is a plain empty directory (the mount moved away from it).
    (void)::rmdir(kNewRoot);
    return ok();
}

// The fallback: copy into a fresh tmpfs, move it over "/", chroot, re-exec.
Status copy_to_tmpfs(char** argv) {
    // 1. A tmpfs for the new root (half of RAM by default, like /dev/shm).
    if (::mkdir(kNewRoot, 0755) < 0 && errno != EEXIST) {
        return fail(Error::sys("mkdir {}", kNewRoot));
    }
    if (::mount("tmpfs", kNewRoot, "tmpfs", 0, "mode=0755") < 0) {
        return fail(Error::sys("mount tmpfs on {}", kNewRoot));
    }
    // 2. Everything but the new root itself moves over.
    GANTRY_TRY_CTX(move_tree("/", kNewRoot, kNewRoot), "copy the initramfs to tmpfs");
    // 3. The tmpfs becomes "/" (MS_MOVE, then chroot: what switch_root(8) does).
    if (::chdir(kNewRoot) < 0) {
        return fail(Error::sys("chdir {}", kNewRoot));
    }
    if (::mount(".", "/", nullptr, MS_MOVE, nullptr) < 0) {
        return fail(Error::sys("move {} to /", kNewRoot));
    }
    if (::chroot(".") < 0 || ::chdir("/") < 0) {
        return fail(Error::sys("chroot into the new root"));
    }
    // 4. Start over from the new root.
    ::setenv(kSwitchedEnv, "1", 1);
    ::execv("/proc/self/exe", argv);  // /proc is not mounted yet: falls back below
    ::execv(argv[0], argv);
    ::execv("/init", argv);
    return fail(Error::sys("re-exec {}", argv[0]));
}

}  // namespace

Status switch_off_rootfs(char** argv) {
    auto st = bind_over_rootfs();
    if (st) {
        ::setenv(kSwitchedEnv, "1", 1);  // children (and a re-exec) see it is done
        return ok();
    }
    ::fprintf(stderr, "gantry-init: bind over the rootfs failed (%s), copying to a tmpfs\n",
              st.error().str().c_str());
    return copy_to_tmpfs(argv);
}

}  // namespace gantry::init
