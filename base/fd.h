// Fd: a move-only owner of one file descriptor (sandbox2's FDCloser, systemd's _cleanup_close_).
//
// Rules of the house: taking an `Fd` by value consumes it; a plain `int` parameter borrows.
// Every open in Gantry passes O_CLOEXEC so nothing leaks across an exec by accident.
#pragma once

#include <fcntl.h>

#include <string>
#include <utility>

#include "base/error.h"

namespace gantry {

class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() { reset(); }

    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset(std::exchange(other.fd_, -1));
        }
        return *this;
    }

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    explicit operator bool() const { return valid(); }

    // Gives up ownership without closing.
    [[nodiscard]] int release() { return std::exchange(fd_, -1); }
    // Closes the current fd (if any) and takes `fd`. close(2) errors are ignored on purpose:
    // on Linux the fd is gone whatever close returns, and retrying on EINTR is a bug.
    void reset(int fd = -1);

    // open(2) / openat(2) with O_CLOEXEC always added; errors name the path.
    static Result<Fd> open(const std::string& path, int flags, mode_t mode = 0);
    static Result<Fd> openat(int dirfd, const std::string& path, int flags, mode_t mode = 0);
    // dup with O_CLOEXEC.
    Result<Fd> dup() const;

  private:
    int fd_ = -1;
};

// A pipe or socketpair: both ends, each O_CLOEXEC.
struct FdPair {
    Fd read;   // for a pipe; for a socketpair the "first" end
    Fd write;  // for a pipe; for a socketpair the "second" end
};
Result<FdPair> make_pipe(int extra_flags = 0);
Result<FdPair> make_socketpair(int type);

// Reads/writes the whole buffer, retrying on EINTR and short counts. read_all stops at EOF.
Status write_all(int fd, std::string_view data);
Result<std::string> read_all(int fd);
// Reads a whole file by path (small files: /proc, /sys, configs).
Result<std::string> read_file(const std::string& path);
// Writes a file atomically: temp file in the same directory, fsync, rename, fsync the dir.
Status write_file_atomic(const std::string& path, std::string_view data, mode_t mode = 0644);

}  // namespace gantry
