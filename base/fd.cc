#include "base/fd.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace gantry {

void Fd::reset(int fd) {
    if (fd_ >= 0) {
        ::close(fd_);
    }
    fd_ = fd;
}

Result<Fd> Fd::open(const std::string& path, int flags, mode_t mode) {
    return openat(AT_FDCWD, path, flags, mode);
}

Result<Fd> Fd::openat(int dirfd, const std::string& path, int flags, mode_t mode) {
    int fd;
    do {
        fd = ::openat(dirfd, path.c_str(), flags | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        return fail(Error::sys("open '{}'", path));
    }
    return Fd(fd);
}

Result<Fd> Fd::dup() const {
    int fd = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        return fail(Error::sys("dup fd {}", fd_));
    }
    return Fd(fd);
}

Result<FdPair> make_pipe(int extra_flags) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | extra_flags) < 0) {
        return fail(Error::sys("pipe2"));
    }
    return FdPair{Fd(fds[0]), Fd(fds[1])};
}

Result<FdPair> make_socketpair(int type) {
    int fds[2];
    if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) < 0) {
        return fail(Error::sys("socketpair"));
    }
    return FdPair{Fd(fds[0]), Fd(fds[1])};
}

Status write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail(Error::sys("write fd {}", fd));
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
    return ok();
}

Result<std::string> read_all(int fd) {
    std::string out;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail(Error::sys("read fd {}", fd));
        }
        if (n == 0) {
            return out;
        }
        out.append(buf, static_cast<size_t>(n));
    }
}

Result<std::string> read_file(const std::string& path) {
    Fd fd = GANTRY_TRY(Fd::open(path, O_RDONLY));
    return GANTRY_TRY_CTX(read_all(fd.get()), "read '{}'", path);
}

Status write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
    std::string tmp = path + ".tmp";
    Fd fd = GANTRY_TRY(Fd::open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode));
    if (auto r = write_all(fd.get(), data); !r) {
        ::unlink(tmp.c_str());
        return fail(std::move(r).error().context(fmt::format("write '{}'", tmp)));
    }
    if (::fsync(fd.get()) < 0) {
        Error e = Error::sys("fsync '{}'", tmp);
        ::unlink(tmp.c_str());
        return fail(std::move(e));
    }
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) < 0) {
        Error e = Error::sys("rename '{}' to '{}'", tmp, path);
        ::unlink(tmp.c_str());
        return fail(std::move(e));
    }
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    Fd dfd = GANTRY_TRY(Fd::open(dir, O_RDONLY | O_DIRECTORY));
    if (::fsync(dfd.get()) < 0) {
        return fail(Error::sys("fsync directory '{}'", dir));
    }
    return ok();
}

}  // namespace gantry
