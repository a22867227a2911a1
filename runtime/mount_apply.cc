// The container child's half of MountPlan (mount_plan.h): allocation-free, returns -errno.
//
// Before pivot_root every destination is resolved inside the rootfs with
// openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) and mounted through /proc/self/fd/N, so a
// symlink planted in the image (e.g. /proc -> /etc/host-secrets, or ../../..) is refused
// with EXDEV instead of being followed onto the host (runc CVE-2021-30465 was this race).
// After pivot_root the root *is* the rootfs, so plain paths cannot leave it.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "runtime/child.h"

namespace gantry::runtime {

namespace {

constexpr uint64_t kResolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;

int sys_openat2(int dirfd, const char* path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how;
    ::memset(&how, 0, sizeof how);
    how.flags = flags | O_CLOEXEC;
    how.mode = mode;
    how.resolve = resolve;
    int fd;
    do {
        fd = static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
    } while (fd < 0 && errno == EAGAIN);  // EAGAIN: a concurrent rename; retry as asked
    return fd;
}

// "/proc/self/fd/<fd>" into buf, without snprintf (not async-signal-safe by the letter).
const char* fd_path(char (&buf)[32], int fd) {
    const char prefix[] = "/proc/self/fd/";
    char digits[12];
    int n = 0;
    unsigned v = static_cast<unsigned>(fd);
    do {
        digits[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0 && n < 11);
    size_t p = sizeof prefix - 1;
    ::memcpy(buf, prefix, p);
    while (n > 0) {
        buf[p++] = digits[--n];
    }
    buf[p] = '\0';
    return buf;
}

struct Closer {
    int fd;
    ~Closer() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
};

// Splits rel ("a/b/c") into a parent fd (resolved beneath root) and the last name, creating
// the parent directories on the way. Returns the parent fd or -errno.
int open_parent(int rootfd, const char* rel, char (&buf)[PATH_MAX], const char*& name) {
    size_t len = ::strlen(rel);
    if (len == 0 || len >= PATH_MAX) {
        return -ENAMETOOLONG;
    }
    ::memcpy(buf, rel, len + 1);
    char* slash = ::strrchr(buf, '/');
    if (slash == nullptr) {
        name = rel;
        int fd = ::fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        return fd < 0 ? -errno : fd;
    }
    *slash = '\0';
    name = rel + (slash - buf) + 1;
    // mkdir -p of the parent, one component at a time, each resolved beneath the root.
    for (char* p = buf;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            char* last = ::strrchr(buf, '/');
            int dfd;
            const char* comp;
            if (last == nullptr) {
                dfd = ::fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
                comp = buf;
            } else {
                *last = '\0';
                dfd = sys_openat2(rootfd, buf, O_PATH | O_DIRECTORY, 0, kResolve);
                *last = '/';
                comp = last + 1;
            }
            if (dfd < 0) {
                *p = saved;
                return -errno;
            }
            int r = ::mkdirat(dfd, comp, 0755);
            int err = errno;
            ::close(dfd);
            *p = saved;
            if (r < 0 && err != EEXIST) {
                return -err;
            }
            if (saved == '\0') {
                break;
            }
        }
    }
    int fd = sys_openat2(rootfd, buf, O_PATH | O_DIRECTORY, 0, kResolve);
    return fd < 0 ? -errno : fd;
}

// Creates the destination (dir or empty file) and opens it O_PATH beneath the root.
int open_target(int rootfd, const char* rel, bool as_file) {
    char buf[PATH_MAX];
    const char* name = nullptr;
    int pfd = open_parent(rootfd, rel, buf, name);
    if (pfd < 0) {
        return pfd;
    }
    Closer pc{pfd};
    if (as_file) {
        int f = sys_openat2(pfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW, 0644, kResolve);
        if (f >= 0) {
            ::close(f);
        } else if (errno != EEXIST && errno != ELOOP && errno != EISDIR) {
            return -errno;
        }
    } else if (::mkdirat(pfd, name, 0755) < 0 && errno != EEXIST) {
        return -errno;
    }
    int fd = sys_openat2(pfd, name, O_PATH, 0, kResolve);
    return fd < 0 ? -errno : fd;
}

// Flags the kernel locks on a mount in a user namespace (nosuid, nodev, noexec, atime):
// a remount must repeat them or it fails with EPERM (runc does the same).
unsigned long locked_flags(const char* path) {
    struct statfs st;
    if (::statfs(path, &st) < 0) {
        return 0;
    }
    return static_cast<unsigned long>(st.f_flags) &
           (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
}

int do_mount(const char* src, const char* dst, const char* type, unsigned long flags,
             const char* data) {
    return ::mount(src, dst, type, flags, data) < 0 ? -errno : 0;
}

int mount_step(const MountStep& s, int rootfd) {
    bool as_file = false;
    if (s.bind) {
        struct stat st;
        if (::stat(s.source.c_str(), &st) < 0) {
            return -errno;
        }
        as_file = !S_ISDIR(st.st_mode);
    }
    int fd = open_target(rootfd, s.target.c_str(), as_file);
    if (fd < 0) {
        return fd;
    }
    Closer c{fd};
    char p[32];
    const char* data = s.data.empty() ? nullptr : s.data.c_str();
    int r = s.bind ? do_mount(s.source.c_str(), fd_path(p, fd), nullptr, s.flags, nullptr)
                   : do_mount(s.source.c_str(), fd_path(p, fd), s.fstype.c_str(), s.flags, data);
    if (r < 0) {
        return r;
    }
    if (s.remount_flags == 0 && s.propagation == 0) {
        return 0;
    }
    // fd still names the directory under the new mount; reopen to get the mount itself.
    int fd2 = sys_openat2(rootfd, s.target.c_str(), O_PATH, 0, kResolve);
    if (fd2 < 0) {
        return -errno;
    }
    Closer c2{fd2};
    fd_path(p, fd2);
    if (s.remount_flags != 0) {
        r = do_mount(nullptr, p, nullptr, s.remount_flags | locked_flags(p), nullptr);
        if (r < 0) {
            return r;
        }
    }
    if (s.propagation != 0) {
        return do_mount(nullptr, p, nullptr, s.propagation, nullptr);
    }
    return 0;
}

int device_step(const MountStep& s, int rootfd) {
    char buf[PATH_MAX];
    const char* name = nullptr;
    int pfd = open_parent(rootfd, s.target.c_str(), buf, name);
    if (pfd < 0) {
        return pfd;
    }
    Closer pc{pfd};
    ::unlinkat(pfd, name, 0);
    if (::mknodat(pfd, name, s.mode, s.dev) < 0) {
        if (errno != EPERM) {
            return -errno;
        }
        // In a user namespace mknod is refused: bind the host's node instead (crun does).
        int fd = open_target(rootfd, s.target.c_str(), true);
        if (fd < 0) {
            return fd;
        }
        Closer c{fd};
        char host[PATH_MAX];
        host[0] = '/';
        ::strncpy(host + 1, s.target.c_str(), PATH_MAX - 2);
        host[PATH_MAX - 1] = '\0';
        char p[32];
        return do_mount(host, fd_path(p, fd), nullptr, MS_BIND, nullptr);
    }
    if (::fchownat(pfd, name, s.uid, s.gid, AT_SYMLINK_NOFOLLOW) < 0) {
        return -errno;
    }
    return 0;
}

int symlink_step(const MountStep& s, int rootfd) {
    char buf[PATH_MAX];
    const char* name = nullptr;
    int pfd = open_parent(rootfd, s.target.c_str(), buf, name);
    if (pfd < 0) {
        return pfd;
    }
    Closer pc{pfd};
    if (::symlinkat(s.source.c_str(), pfd, name) < 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

int pivot_root_step(int& rootfd) {
    // pivot_root(".", "."): the old root ends up stacked under the new one at "/", and the
    // detach below drops it; no put_old directory is needed inside the rootfs.
    if (::fchdir(rootfd) < 0) {
        return -errno;
    }
    if (::syscall(SYS_pivot_root, ".", ".") < 0) {
        return -errno;
    }
    if (::umount2(".", MNT_DETACH) < 0) {
        return -errno;
    }
    if (::chdir("/") < 0) {
        return -errno;
    }
    ::close(rootfd);
    rootfd = -1;
    return 0;
}

int sysctl_step(const ChildPlan& plan) {
    for (const auto& [path, value] : plan.sysctls) {
        int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            return -errno;
        }
        ssize_t n = ::write(fd, value.data(), value.size());
        int err = errno;
        ::close(fd);
        if (n < 0) {
            return -err;
        }
    }
    return 0;
}

int mask_step(const MountStep& s) {
    struct stat st;
    if (::stat(s.target.c_str(), &st) < 0) {
        return errno == ENOENT ? 0 : -errno;  // nothing to hide
    }
    if (S_ISDIR(st.st_mode)) {
        // An empty read-only tmpfs hides the directory's contents (runc, crun).
        return do_mount("tmpfs", s.target.c_str(), "tmpfs",
                        MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=0555");
    }
    return do_mount("/dev/null", s.target.c_str(), nullptr, MS_BIND, nullptr);
}

int readonly_step(const MountStep& s) {
    const char* t = s.target.c_str();
    int r = do_mount(t, t, nullptr, MS_BIND | MS_REC, nullptr);
    if (r == -ENOENT) {
        return 0;
    }
    if (r < 0) {
        return r;
    }
    return do_mount(nullptr, t, nullptr,
                    MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | locked_flags(t), nullptr);
}

}  // namespace

int apply_mount_step(const MountStep& step, const ChildPlan& plan, int& rootfd) noexcept {
    using K = MountStep::Kind;
    switch (step.kind) {
        case K::RootPropagation:
            return do_mount(nullptr, "/", nullptr, step.flags, nullptr);
        case K::BindRootfs:
            if (int r = do_mount(step.source.c_str(), step.source.c_str(), nullptr, step.flags,
                                 nullptr);
                r < 0) {
                return r;
            }
            rootfd = ::open(step.source.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
            return rootfd < 0 ? -errno : 0;
        case K::Mount:
            return mount_step(step, rootfd);
        case K::Device:
            return device_step(step, rootfd);
        case K::Symlink:
            return symlink_step(step, rootfd);
        case K::PivotRoot:
            return pivot_root_step(rootfd);
        case K::SetPropagation:
            return do_mount(nullptr, "/", nullptr, step.propagation, nullptr);
        case K::Sysctls:
            return sysctl_step(plan);
        case K::Mask:
            return mask_step(step);
        case K::ReadonlyPath:
            return readonly_step(step);
        case K::RemountRootReadonly:
            return do_mount(nullptr, "/", nullptr,
                            MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags("/"), nullptr);
    }
    return -EINVAL;
}

}  // namespace gantry::runtime
