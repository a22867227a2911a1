#include "supervisor/notify.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>

namespace gantry::supervisor {

namespace {

template <typename T>
std::optional<T> to_number(std::string_view s) {
    T v{};
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

}  // namespace

NotifyMessage parse_notify(std::string_view datagram) {
    NotifyMessage m;
    while (!datagram.empty()) {
        size_t nl = datagram.find('\n');
        std::string_view line = datagram.substr(0, nl);
        datagram = nl == std::string_view::npos ? std::string_view() : datagram.substr(nl + 1);
        size_t eq = line.find('=');
        if (eq == std::string_view::npos) {
            continue;
        }
        std::string_view key = line.substr(0, eq);
        std::string_view value = line.substr(eq + 1);
        if (key == "READY") {
            m.ready = value == "1";
        } else if (key == "STOPPING") {
            m.stopping = value == "1";
        } else if (key == "RELOADING") {
            m.reloading = value == "1";
        } else if (key == "WATCHDOG") {
            m.watchdog = value == "1";
            m.watchdog_trigger = value == "trigger";
        } else if (key == "STATUS") {
            m.status = std::string(value);
        } else if (key == "ERRNO") {
            m.errno_value = to_number<int>(value);
        } else if (key == "EXTEND_TIMEOUT_USEC") {
            if (auto us = to_number<uint64_t>(value);
                us && *us <= uint64_t(std::chrono::microseconds::max().count())) {
                m.extend_timeout = std::chrono::microseconds(*us);
            }
        } else if (key == "MAINPID") {
            auto pid = to_number<pid_t>(value);
            if (pid && *pid > 0) {
                m.main_pid = pid;
            }
        }
    }
    return m;
}

Result<Fd> bind_notify_socket(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        return fail(Error::msg("notify socket path too long: {}", path));
    }
    memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    Fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
        return fail(Error::sys("socket for {}", path));
    }
    int one = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) {
        return fail(Error::sys("SO_PASSCRED on {}", path));
    }
    ::unlink(path.c_str());
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        return fail(Error::sys("bind {}", path));
    }
    ::chmod(path.c_str(), 0666);
    return fd;
}

Result<std::optional<NotifyDatagram>> receive_notify(int fd) {
    char buf[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * 16)];
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            return std::optional<NotifyDatagram>();
        }
        return fail(Error::sys("recvmsg on notify socket"));
    }
    NotifyDatagram d;
    d.data.assign(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf));
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET) {
            continue;
        }
        if (c->cmsg_type == SCM_CREDENTIALS) {
            ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof cred);
            d.sender = cred.pid;
        } else if (c->cmsg_type == SCM_RIGHTS) {
            // FDSTORE is not supported: close passed fds so they cannot pile up in PID 1.
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; ++i) {
                int passed;
                memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
                ::close(passed);
            }
        }
    }
    return std::optional<NotifyDatagram>(std::move(d));
}

}  // namespace gantry::supervisor
