#include "kv/connect.h"

#include <fcntl.h>
#include <poll.h>

#include <cerrno>
#include <thread>

namespace gantry::kv {

namespace {

using Clk = std::chrono::steady_clock;

Status timed_out(const std::string& what, std::chrono::milliseconds timeout) {
    return fail(Error::msg(
        "connect {}: no answer within {} ms (is the server up, and is the address reachable "
        "from here?)",
        what, timeout.count()));
}

// After connect() said EINPROGRESS (TCP): the handshake finishes when the socket becomes
// writable, with its result in SO_ERROR.
Status wait_connected(const Fd& fd, const std::string& what, std::chrono::milliseconds timeout) {
    auto deadline = Clk::now() + timeout;
    for (;;) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clk::now());
        if (left.count() <= 0) {
            return timed_out(what, timeout);
        }
        pollfd p{fd.get(), POLLOUT, 0};
        int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return fail(Error::sys("poll while connecting to {}", what));
        }
        if (n == 0) {
            return timed_out(what, timeout);
        }
        int err = 0;
        socklen_t el = sizeof err;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &el) < 0) {
            return fail(Error::sys("getsockopt SO_ERROR for {}", what));
        }
        if (err != 0) {
            errno = err;
            return fail(Error::sys("connect {}", what));
        }
        return ok();
    }
}

}  // namespace

Status connect_within(const Fd& fd, const sockaddr* addr, socklen_t len, const std::string& what,
                      std::chrono::milliseconds timeout) {
    if (!fd) {
        return fail(Error::sys("socket for {}", what));
    }
    if (timeout.count() <= 0) {
        if (::connect(fd.get(), addr, len) < 0) {
            return fail(Error::sys("connect {}", what));
        }
        return ok();
    }
    int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
        return fail(Error::sys("fcntl O_NONBLOCK on the socket for {}", what));
    }
    auto deadline = Clk::now() + timeout;
    for (;;) {
        if (::connect(fd.get(), addr, len) == 0) {
            break;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EINPROGRESS) {
            GANTRY_TRY(wait_connected(fd, what, timeout));
            break;
        }
        if (errno != EAGAIN) {
            return fail(Error::sys("connect {}", what));
        }
        // A unix socket whose listener's backlog is full: it does not report when there
        // is room, so try again shortly, until the deadline.
        if (Clk::now() >= deadline) {
            return timed_out(what, timeout);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (::fcntl(fd.get(), F_SETFL, flags) < 0) {
        return fail(Error::sys("fcntl on the socket for {}", what));
    }
    return ok();
}

}  // namespace gantry::kv
