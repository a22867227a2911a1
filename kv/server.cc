#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>

#include "base/log.h"
#include "kv/server_impl.h"

namespace gantry::kv {

namespace {

constexpr size_t kMaxBody = 4u << 20;  // well above etcd's 1.5 MiB request limit
constexpr uint64_t kTagSignal = 1ull << 62;
constexpr uint64_t kTagListen = 1ull << 61;
constexpr int kIdleTrimMs = 50;

Status epoll_add(int ep, int fd, uint32_t events, uint64_t tag) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        return fail(Error::sys("epoll_ctl add"));
    }
    return ok();
}

}  // namespace

Status ServerImpl::init() {
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        return fail(Error::sys("epoll_create1"));
    }
    epoll_.reset(ep);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    ::pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    int sfd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        return fail(Error::sys("signalfd"));
    }
    signal_fd_.reset(sfd);
    GANTRY_TRY(epoll_add(ep, sfd, EPOLLIN, kTagSignal));
    if (!opts_.data_dir.empty()) {
        RecoveryReport rep;
        wal_ = GANTRY_TRY(Wal::open(opts_.data_dir, store_, {}, &rep));
        if (rep.torn_tail) {
            log::warn("recovered a torn WAL tail",
                      {{"dir", opts_.data_dir}, {"broken_copy", rep.broken_copy}});
        }
    }
    store_.set_listener(this);
    durable_rev_ = store_.revision();
    for (const auto& addr : opts_.listen) {
        GANTRY_TRY_CTX(listen_tcp(addr), "listen on {}", addr);
    }
    if (!opts_.unix_path.empty()) {
        GANTRY_TRY_CTX(listen_unix(opts_.unix_path), "listen on {}", opts_.unix_path);
    }
    next_progress_ = Clock::now() + opts_.progress_interval;
    return ok();
}

Status ServerImpl::listen_tcp(const std::string& addr) {
    size_t colon = addr.rfind(':');
    if (colon == std::string::npos) {
        return fail(Error::msg("'{}' is not host:port", addr));
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(std::stoi(addr.substr(colon + 1))));
    if (::inet_pton(AF_INET, addr.substr(0, colon).c_str(), &sa.sin_addr) != 1) {
        return fail(Error::msg("'{}' is not an IPv4 address", addr.substr(0, colon)));
    }
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        return fail(Error::sys("socket"));
    }
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
        return fail(Error::sys("bind"));
    }
    if (::listen(fd.get(), 1024) < 0) {
        return fail(Error::sys("listen"));
    }
    socklen_t len = sizeof sa;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
    ports_.push_back(ntohs(sa.sin_port));
    GANTRY_TRY(epoll_add(epoll_.get(), fd.get(), EPOLLIN, kTagListen | fd.get()));
    listeners_.push_back(std::move(fd));
    return ok();
}

Status ServerImpl::listen_unix(const std::string& path) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) {
        return fail(Error::msg("socket path too long"));
    }
    std::copy(path.begin(), path.end(), sa.sun_path);
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        return fail(Error::sys("socket"));
    }
    ::unlink(path.c_str());  // a stale socket from a previous run
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
        return fail(Error::sys("bind '{}'", path));
    }
    ::chmod(path.c_str(), 0660);
    if (::listen(fd.get(), 1024) < 0) {
        return fail(Error::sys("listen"));
    }
    GANTRY_TRY(epoll_add(epoll_.get(), fd.get(), EPOLLIN, kTagListen | fd.get()));
    listeners_.push_back(std::move(fd));
    return ok();
}

void ServerImpl::accept_all(int lfd) {
    while (true) {
        int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;  // EAGAIN, or a transient error (EMFILE): try again on the next event
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto c = std::make_unique<Conn>();
        c->fd.reset(fd);
        if (!epoll_add(epoll_.get(), fd, EPOLLIN | EPOLLRDHUP, static_cast<uint64_t>(fd))) {
            continue;
        }
        conns_[fd] = std::move(c);
    }
}

void ServerImpl::close_conn(int fd) {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    conns_.erase(fd);
}

void ServerImpl::on_readable(Conn& c) {
    char buf[65536];
    while (true) {
        ssize_t n = ::read(c.fd.get(), buf, sizeof buf);
        if (n > 0) {
            c.in.append(buf, static_cast<size_t>(n));
            if (static_cast<size_t>(n) < sizeof buf) {
                // Short read: the socket is drained. Not reading again to see EAGAIN saves a
                // system call per request; epoll is level-triggered, so anything that
                // arrives meanwhile (or the peer's close) wakes the loop again.
                break;
            }
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            c.closing = true;
            c.pending.clear();
            c.out.clear();
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        break;
    }
    if (!c.closing) {
        process(c);
    }
}

void ServerImpl::process(Conn& c) {
    while (!c.closing) {
        if (c.stream != Conn::Stream::kNone) {
            // Streaming body: decode framing, then split JSON messages.
            if (c.req.chunked) {
                bool err = false;
                size_t used = http::decode_chunked(c.in, c.stream_buf, c.chunk_done, err);
                c.in.erase(0, used);
                if (err) {
                    c.closing = true;
                    return;
                }
            } else {
                size_t take = std::min(c.stream_body_left, c.in.size());
                c.stream_buf.append(c.in, 0, take);
                c.in.erase(0, take);
                c.stream_body_left -= take;
            }
            size_t used = http::split_json_stream(
                c.stream_buf, [&](std::string_view msg) { handle_stream_message(c, msg); });
            c.stream_buf.erase(0, used);
            return;
        }
        if (!c.have_head) {
            size_t used = 0;
            std::string err;
            auto st = http::parse_head(c.in, c.req, used, err);
            if (st == http::ParseStatus::kNeedMore) {
                return;
            }
            if (st == http::ParseStatus::kError) {
                send_response(c, 400, err + "\n", 0, "text/plain; charset=utf-8");
                c.closing = true;
                return;
            }
            c.in.erase(0, used);
            c.have_head = true;
            c.body.clear();
            c.chunk_done = false;
            if (c.req.content_length > kMaxBody) {
                send_response(c, 413, "request body too large\n", 0, "text/plain");
                c.closing = true;
                return;
            }
            std::string_view p = c.req.path;
            for (std::string_view prefix : {"/v3beta/", "/v3alpha/"}) {
                if (p.starts_with(prefix)) {
                    c.req.path = "/v3/" + std::string(p.substr(prefix.size()));
                }
            }
            if (c.req.method == "POST" &&
                (c.req.path == "/v3/watch" || c.req.path == "/v3/lease/keepalive")) {
                start_stream(c);
                continue;
            }
        }
        if (c.req.chunked) {
            bool err = false;
            size_t used = http::decode_chunked(c.in, c.body, c.chunk_done, err);
            c.in.erase(0, used);
            if (err || c.body.size() > kMaxBody) {
                send_response(c, 400, "bad chunked body\n", 0, "text/plain");
                c.closing = true;
                return;
            }
            if (!c.chunk_done) {
                return;
            }
        } else {
            if (c.in.size() < c.req.content_length) {
                return;
            }
            c.body.assign(c.in, 0, c.req.content_length);
            c.in.erase(0, c.req.content_length);
        }
        c.have_head = false;
        if (c.req.method != "POST") {
            send_response(c, 405, "Method Not Allowed\n", 0, "text/plain; charset=utf-8");
        } else {
            handle_unary(c, c.req.path, c.body);
        }
        if (!c.req.keep_alive) {
            c.closing = true;
        }
    }
}

void ServerImpl::send(Conn& c, std::string bytes, uint64_t seq) {
    if (c.pending.empty() && seq <= durable()) {
        c.out += bytes;
    } else {
        c.pending.emplace_back(seq, std::move(bytes));
    }
}

void ServerImpl::send_response(Conn& c, int status, std::string_view body, uint64_t seq,
                               const char* type) {
    char num[24];
    std::string r;
    r.reserve(128 + body.size());
    r.append("HTTP/1.1 ").append(num, std::to_chars(num, num + sizeof num, status).ptr);
    r.append(" ").append(http::status_text(status)).append("\r\nContent-Type: ").append(type);
    r.append("\r\nContent-Length: ")
        .append(num, std::to_chars(num, num + sizeof num, body.size()).ptr)
        .append("\r\n");
    if (!c.req.keep_alive || c.closing) {
        r.append("Connection: close\r\n");
    }
    r.append("\r\n").append(body);
    send(c, std::move(r), seq);
}

void ServerImpl::send_chunk(Conn& c, std::string_view msg, uint64_t seq) {
    send(c, fmt::format("{:x}\r\n{}\n\r\n", msg.size() + 1, msg), seq);
}

void ServerImpl::flush(Conn& c) {
    uint64_t d = durable();
    while (!c.pending.empty() && c.pending.front().first <= d) {
        c.out += c.pending.front().second;
        c.pending.pop_front();
    }
    while (!c.out.empty()) {
        ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n > 0) {
            c.out.erase(0, static_cast<size_t>(n));
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            if (n < 0 && errno != EAGAIN) {
                c.closing = true;
                c.out.clear();
                c.pending.clear();
            }
            break;
        }
    }
    update_interest(c);
}

void ServerImpl::update_interest(Conn& c) {
    bool want = !c.out.empty();
    if (want != c.want_write) {
        c.want_write = want;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP | (want ? static_cast<uint32_t>(EPOLLOUT) : 0u);
        ev.data.u64 = static_cast<uint64_t>(c.fd.get());
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
    }
}

void ServerImpl::on_commit(const Commit& c) {
    if (wal_) {
        wal_->on_commit(c);
        undelivered_.emplace_back(wal_->last_seq(), c);
    } else {
        durable_rev_ = c.revision;
        dispatch(c);
    }
}

void ServerImpl::on_lease_grant(int64_t id, int64_t ttl) {
    if (wal_) {
        wal_->on_lease_grant(id, ttl);
    }
}

void ServerImpl::on_lease_revoke(int64_t id) {
    if (wal_) {
        wal_->on_lease_revoke(id);
    }
}

void ServerImpl::on_compact(int64_t rev) {
    if (wal_) {
        wal_->on_compact(rev);
    }
}

void ServerImpl::on_durable() {
    uint64_t d = durable();
    while (!undelivered_.empty() && undelivered_.front().first <= d) {
        Commit c = std::move(undelivered_.front().second);
        undelivered_.pop_front();
        durable_rev_ = c.revision;
        dispatch(c);
    }
    if (auto st = wal_->maybe_snapshot(); !st) {
        log::error("snapshot failed", {{"dir", opts_.data_dir}, {"error", st.error().str()}});
    }
}

void ServerImpl::on_timers() {
    auto now = Clock::now();
    if (store_.next_lease_deadline() <= now) {
        store_.expire_leases(now);
    }
    if (now >= next_progress_) {
        progress_tick();
        next_progress_ = now + opts_.progress_interval;
    }
    if (now >= next_housekeeping_) {
        opts_.housekeeping();
        next_housekeeping_ = now + opts_.housekeeping_interval;
    }
}

void ServerImpl::handle_events(const epoll_event* events, int n) {
    for (int i = 0; i < n; ++i) {
        uint64_t tag = events[i].data.u64;
        if (tag == kTagSignal) {
            stopping_ = true;
        } else if (tag & kTagListen) {
            accept_all(static_cast<int>(tag & 0xffffffff));
        } else if (auto it = conns_.find(static_cast<int>(tag)); it != conns_.end()) {
            Conn& c = *it->second;
            if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                on_readable(c);
            }
        }
    }
}

Status ServerImpl::run() {
    epoll_event events[256];
    if (opts_.housekeeping) {
        next_housekeeping_ = Clock::now() + opts_.housekeeping_interval;
    }
    while (!stopping_) {
        auto now = Clock::now();
        auto next = std::min({store_.next_lease_deadline(), next_progress_, next_housekeeping_});
        int timeout =
            next <= now
                ? 0
                : static_cast<int>(std::min<int64_t>(
                      std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1,
                      1000));
        if (busy_since_trim_) {
            timeout = std::min(timeout, kIdleTrimMs);
        }
        int n = ::epoll_wait(epoll_.get(), events, 256, timeout);
        if (n < 0 && errno != EINTR) {
            return fail(Error::sys("epoll_wait"));
        }
        if (n > 0) {
            busy_since_trim_ = true;
        } else if (n == 0 && busy_since_trim_) {
            // Idle after a burst: give back the free pages inside the heap (the ranges'
            // and responses' buffers), which glibc's top-of-heap trim cannot reach.
            ::malloc_trim(0);
            busy_since_trim_ = false;
        }
        handle_events(events, n);
        // Requests that arrived while this round's were handled (clients answered at the
        // end of the last round) join this round's batch instead of waiting a whole
        // sync: one more non-blocking look when several clients are active and there is
        // something to sync. (Not for a lone client: its next request cannot be there.)
        if (n > 1 && wal_ && wal_->durable_seq() < wal_->last_seq()) {
            n = ::epoll_wait(epoll_.get(), events, 256, 0);
            handle_events(events, n);
        }
        on_timers();
        // Group commit: one sync for every write of this round. Requests arriving
        // meanwhile wait in their sockets and form the next round's batch.
        if (wal_ && wal_->durable_seq() < wal_->last_seq()) {
            wal_->sync();
            on_durable();
        }
        // Everything that became sendable in this round goes out now, in one pass.
        std::vector<int> dead;
        for (auto& [fd, c] : conns_) {
            if (!c->out.empty() || !c->pending.empty()) {
                flush(*c);
            }
            if (c->closing && c->out.empty()) {
                dead.push_back(fd);
            }
        }
        for (int fd : dead) {
            close_conn(fd);
        }
    }
    if (wal_) {
        wal_->flush();
    }
    return ok();
}

Result<std::unique_ptr<Server>> Server::create(const ServerOptions& options) {
    auto impl = std::make_unique<ServerImpl>(options);
    GANTRY_TRY(impl->init());
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<ServerImpl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;
std::vector<int> Server::ports() const {
    return impl_->ports_;
}
Status Server::run() {
    return impl_->run();
}

}  // namespace gantry::kv
