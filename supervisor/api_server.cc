#include "supervisor/api_server.h"

#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "supervisor/api_client.h"
#include "supervisor/api_protocol.h"

namespace gantry::supervisor {

using nlohmann::json;

struct ApiServer::Conn {
    Fd fd;
    Source src;
    std::string in;
    std::string out;
    bool busy = false;       // an exec is running; later requests wait in `in`
    bool streaming = false;  // logs -f / events -f: input is ignored from now on
    bool closed = false;
    int sub = 0;
};

namespace {

int64_t realtime_us() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

constexpr Duration kFarFuture = std::chrono::hours(24 * 365);

}  // namespace

std::string to_line(const json& j) {
    std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
    s.push_back('\n');
    return s;
}

ApiServer::ApiServer(EventLoop& loop, Supervisor& sup, ApiHooks hooks)
    : loop_(loop), sup_(sup), hooks_(std::move(hooks)) {}

ApiServer::~ApiServer() {
    for (auto& [p, c] : conns_) {
        if (c->sub != 0) {
            sup_.unsubscribe(c->sub);
        }
    }
    for (auto& c : dead_) {
        if (c->sub != 0) {
            sup_.unsubscribe(c->sub);
        }
    }
    conns_.clear();
    dead_.clear();
    if (!path_.empty()) {
        ::unlink(path_.c_str());
    }
}

Status ApiServer::listen(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        return fail(Error::msg("API socket path too long: {}", path));
    }
    memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
        return fail(Error::sys("socket"));
    }
    ::unlink(path.c_str());
    // Bind under a 0177 umask so the socket is never reachable by others, not even briefly.
    mode_t old = ::umask(0177);
    int r = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old);
    if (r < 0) {
        return fail(Error::sys("bind {}", path));
    }
    if (::listen(fd.get(), 64) < 0) {
        return fail(Error::sys("listen {}", path));
    }
    path_ = path;
    listen_fd_ = std::move(fd);
    listen_src_ =
        GANTRY_TRY(loop_.on_io(listen_fd_.get(), EPOLLIN, [this](uint32_t) { on_accept(); }));
    gc_timer_ = GANTRY_TRY(loop_.after(kFarFuture, [this] {
        for (auto& c : dead_) {
            if (c->sub != 0) {
                sup_.unsubscribe(c->sub);
            }
        }
        dead_.clear();
    }));
    return ok();
}

void ApiServer::on_accept() {
    for (int i = 0; i < 16; ++i) {
        int cfd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) {
            return;
        }
        Fd fd(cfd);
        if (conns_.size() >= kMaxConnections) {
            (void)write_all(fd.get(), to_line(error_json("too many API connections")));
            continue;
        }
        // Root only: the 0600 socket mode already says so; SO_PEERCRED makes it explicit
        // for callers that got hold of the socket some other way.
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid != 0 &&
            cred.uid != ::getuid()) {
            (void)write_all(fd.get(),
                            to_line(error_json("permission denied: the API is for root")));
            continue;
        }
        auto c = std::make_shared<Conn>();
        c->fd = std::move(fd);
        Conn* cp = c.get();
        auto src = loop_.on_io(cp->fd.get(), EPOLLIN, [this, cp](uint32_t ev) { on_io(*cp, ev); });
        if (!src) {
            continue;
        }
        c->src = std::move(*src);
        conns_.emplace(cp, std::move(c));
    }
}

void ApiServer::close(Conn& c) {
    if (c.closed) {
        return;
    }
    c.closed = true;
    auto it = conns_.find(&c);
    if (it != conns_.end()) {
        // Possibly inside this connection's own callback, or inside the supervisor's loop
        // over subscribers: unsubscribe and free it on the next iteration instead.
        dead_.push_back(it->second);
        conns_.erase(it);
        (void)gc_timer_.rearm(Duration(0));
    }
    c.src.set_io_events(0);
}

void ApiServer::send(Conn& c, const std::string& line) {
    if (c.closed) {
        return;
    }
    if (c.out.size() + line.size() > kMaxPendingBytes) {
        log::warn("API client too slow; disconnected", {{"pending", c.out.size()}});
        close(c);
        return;
    }
    c.out += line;
    flush(c);
}

void ApiServer::flush(Conn& c) {
    while (!c.out.empty()) {
        ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c.out.erase(0, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            break;
        }
        close(c);
        return;
    }
    (void)c.src.set_io_events(c.out.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT);
}

void ApiServer::on_io(Conn& c, uint32_t revents) {
    if (c.closed) {
        return;
    }
    if (revents & EPOLLOUT) {
        flush(c);
        if (c.closed) {
            return;
        }
    }
    if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        return;
    }
    char buf[16384];
    ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close(c);
        return;
    }
    if (n < 0 || c.streaming) {
        return;
    }
    c.in.append(buf, static_cast<size_t>(n));
    if (c.in.size() > 4 * kMaxRequestBytes) {  // a client piling up requests behind an exec
        send(c, to_line(error_json("too many pending requests")));
        close(c);
        return;
    }
    process_input(c);
}

void ApiServer::process_input(Conn& c) {
    while (!c.busy && !c.closed && !c.streaming) {
        size_t nl = c.in.find('\n');
        if (nl == std::string::npos) {
            if (c.in.size() > kMaxRequestBytes) {
                send(c, to_line(error_json(
                            fmt::format("request too long (limit {} bytes)", kMaxRequestBytes))));
                close(c);
            }
            return;
        }
        std::string line = c.in.substr(0, nl);
        c.in.erase(0, nl + 1);
        if (line.find_first_not_of(" \t\r") == std::string::npos || line == kSessionStart) {
            continue;  // blank, or the session marker meant for the VM bridge
        }
        handle_line(c, line);
    }
}

void ApiServer::handle_line(Conn& c, std::string_view line) {
    auto req = parse_request(line, realtime_us());
    if (!req) {
        send(c, to_line(error_json(req.error().str())));
        return;
    }
    const Request& r = *req;
    auto reply_status = [&](Status st) {
        send(c, to_line(st ? json{{"ok", true}} : error_json(st.error().str())));
    };
    switch (r.cmd) {
        case Command::Ps: {
            json list = json::array();
            for (const auto& name : sup_.names()) {
                if (auto s = sup_.status(name)) {
                    list.push_back(status_json(*s, false));
                }
            }
            send(c, to_line({{"ok", true}, {"services", list}}));
            break;
        }
        case Command::Inspect: {
            auto s = sup_.status(r.service);
            send(c, to_line(s ? json{{"ok", true}, {"service", status_json(*s, true)}}
                              : error_json(s.error().str())));
            break;
        }
        case Command::Logs: {
            auto lines = sup_.logs(r.service, r.tail, r.since_us);
            if (!lines) {
                send(c, to_line(error_json(lines.error().str())));
                break;
            }
            send(c, to_line({{"ok", true}, {"lines", *lines}, {"follow", r.follow}}));
            if (r.follow && !c.closed) {
                Conn* cp = &c;
                auto sub = sup_.subscribe_logs(r.service, [this, cp](const std::string& l) {
                    send(*cp, to_line({{"line", l}}));
                });
                if (sub) {
                    c.sub = *sub;
                    c.streaming = true;
                }
            }
            break;
        }
        case Command::Start:
            reply_status(sup_.start(r.service));
            break;
        case Command::Stop:
            reply_status(sup_.stop(r.service));
            break;
        case Command::Restart:
            reply_status(sup_.restart(r.service));
            break;
        case Command::Exec: {
            // The connection may be gone when the job ends: hold it weakly.
            std::weak_ptr<Conn> weak = conns_.at(&c);
            auto st = sup_.exec(r.service, r.argv, r.timeout, [this, weak](Result<ExecResult> res) {
                auto cp = weak.lock();
                if (!cp || cp->closed) {
                    return;
                }
                cp->busy = false;
                send(*cp, to_line(res ? exec_json(*res) : error_json(res.error().str())));
                process_input(*cp);  // requests that arrived while the job ran
            });
            if (!st) {
                send(c, to_line(error_json(st.error().str())));
            } else {
                c.busy = true;
            }
            break;
        }
        case Command::Events: {
            json list = json::array();
            for (const auto& e : sup_.events()) {
                list.push_back(event_json(e));
            }
            send(c, to_line({{"ok", true}, {"events", list}, {"follow", r.follow}}));
            if (r.follow && !c.closed) {
                Conn* cp = &c;
                c.sub = sup_.subscribe_events([this, cp](const ServiceEvent& e) {
                    send(*cp, to_line({{"event", event_json(e)}}));
                });
                c.streaming = true;
            }
            break;
        }
        case Command::Poweroff:
        case Command::Reboot: {
            auto& hook = r.cmd == Command::Poweroff ? hooks_.poweroff : hooks_.reboot;
            if (!hook) {
                send(c, to_line(error_json("not supported here")));
                break;
            }
            send(c, to_line({{"ok", true}}));
            hook();
            break;
        }
        case Command::Config: {
            if (!hooks_.config) {
                send(c, to_line(error_json("no config information here")));
                break;
            }
            json j = hooks_.config();
            j["ok"] = true;
            send(c, to_line(j));
            break;
        }
    }
}

}  // namespace gantry::supervisor
