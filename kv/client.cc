#include "kv/client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <string_view>

#include "kv/connect.h"
#include "kv/http.h"
#include "kv/json.h"
#include "kv/types.h"

namespace gantry::kv {

namespace {

void set_socket_timeout(int fd, std::chrono::milliseconds t) {
    if (t.count() <= 0) {
        return;
    }
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(t.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool header_is(std::string_view head, std::string_view name, std::string_view value) {
    auto v = http::header(head, name);
    return v && http::iequals(*v, value);
}

std::string request(std::string_view path, std::string_view body) {
    char len[24];
    auto [end, ec] = std::to_chars(len, len + sizeof len, body.size());
    std::string r;
    r.reserve(128 + path.size() + body.size());
    r.append("POST ").append(path).append(" HTTP/1.1\r\nHost: localhost\r\n");
    r.append("Content-Type: application/json\r\nContent-Length: ");
    r.append(len, end).append("\r\n\r\n").append(body);
    return r;
}

// {"key":"<base64>"[,"range_end":"<base64>"][,"value":"<base64>"][,"lease":"<n>"]}: base64
// needs no JSON escaping, so the bodies of the wrappers are written directly.
std::string key_body(std::string_view key, const std::string* range_end,
                     const std::string* value = nullptr, int64_t lease = 0) {
    std::string b = "{\"key\":\"" + json::base64_encode(key) + "\"";
    if (range_end != nullptr) {
        b.append(",\"range_end\":\"").append(json::base64_encode(*range_end)).append("\"");
    }
    if (value != nullptr) {
        b.append(",\"value\":\"").append(json::base64_encode(*value)).append("\"");
    }
    if (lease != 0) {
        b.append(",\"lease\":\"").append(std::to_string(lease)).append("\"");
    }
    b += '}';
    return b;
}

}  // namespace

Result<Fd> Client::connect() {
    std::string ep = endpoint_;
    if (ep.starts_with("unix://")) {
        std::string path = ep.substr(7);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        if (path.size() >= sizeof sa.sun_path) {
            return fail(Error::msg("socket path too long: {}", path));
        }
        std::copy(path.begin(), path.end(), sa.sun_path);
        Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        GANTRY_TRY(connect_within(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa, "'" + path + "'",
                                  connect_timeout_));
        set_socket_timeout(fd.get(), timeout_);
        return fd;
    }
    if (ep.starts_with("http://")) {
        ep = ep.substr(7);
    }
    while (!ep.empty() && ep.back() == '/') {
        ep.pop_back();
    }
    size_t colon = ep.rfind(':');
    std::string host = colon == std::string::npos ? ep : ep.substr(0, colon);
    std::string port = colon == std::string::npos ? "2379" : ep.substr(colon + 1);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
        return fail(Error::msg("resolve {}: {}", ep, ::gai_strerror(rc)));
    }
    Fd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto st = connect_within(fd, res->ai_addr, res->ai_addrlen, ep, connect_timeout_);
    ::freeaddrinfo(res);
    GANTRY_TRY(std::move(st));
    // Requests go out in one write, but without TCP_NODELAY a request that follows a
    // response-less gap could still wait for a delayed ACK.
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_socket_timeout(fd.get(), timeout_);
    return fd;
}

Status Client::ensure_connected() {
    if (!fd_) {
        fd_ = GANTRY_TRY(connect());
        buf_.clear();
    }
    return ok();
}

Result<HttpResponse> Client::read_response(bool stream,
                                           const std::function<bool(const std::string&)>* cb) {
    HttpResponse resp;
    auto fill = [&]() -> Status {
        char tmp[65536];
        ssize_t n;
        do {
            n = ::read(fd_.get(), tmp, sizeof tmp);
        } while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return fail(Error::msg("no answer from {} within {} ms", endpoint_, timeout_.count()));
        }
        if (n < 0) {
            return fail(Error::sys("read"));
        }
        if (n == 0) {
            return fail(Error::msg("connection closed by server"));
        }
        buf_.append(tmp, static_cast<size_t>(n));
        received_ = true;
        return ok();
    };
    size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
        GANTRY_TRY(fill());
    }
    // "HTTP/1.1 200 OK"
    std::string_view head(buf_.data(), head_end);
    if (head.size() < 12 ||
        std::from_chars(head.data() + 9, head.data() + 12, resp.status).ec != std::errc()) {
        return fail(Error::msg("malformed response"));
    }
    bool chunked = header_is(head, "transfer-encoding", "chunked");
    bool close = header_is(head, "connection", "close");
    size_t cl = 0;
    if (auto v = http::header(head, "content-length")) {
        auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), cl);
        if (ec != std::errc() || end != v->data() + v->size()) {
            return fail(Error::msg("malformed response: Content-Length '{}'", *v));
        }
    }
    buf_.erase(0, head_end + 4);
    if (chunked) {
        bool done = false;
        std::string data;
        while (!done) {
            bool err = false;
            size_t used = http::decode_chunked(buf_, data, done, err);
            buf_.erase(0, used);
            if (err) {
                return fail(Error::msg("bad chunked response"));
            }
            if (stream && cb != nullptr) {
                bool keep = true;
                size_t consumed = http::split_json_stream(data, [&](std::string_view m) {
                    if (keep) {
                        keep = (*cb)(std::string(m));
                    }
                });
                data.erase(0, consumed);
                if (!keep) {
                    fd_.reset();  // the stream cannot be reused
                    return resp;
                }
            }
            if (!done) {
                GANTRY_TRY(fill());
            }
        }
        resp.body = std::move(data);
    } else {
        while (buf_.size() < cl) {
            GANTRY_TRY(fill());
        }
        resp.body = buf_.substr(0, cl);
        buf_.erase(0, cl);
    }
    if (close) {
        fd_.reset();
    }
    return resp;
}

Result<HttpResponse> Client::post(const std::string& path, const std::string& body) {
    // One retry, for a keep-alive connection the server closed while it was idle: that fails
    // on first use, before any byte of a response. A fresh connection, or a response that
    // started and then went wrong, is not retried (the request may have been applied).
    for (int attempt = 0;; ++attempt) {
        bool reused = static_cast<bool>(fd_);
        GANTRY_TRY(ensure_connected());
        received_ = false;
        auto st = write_all(fd_.get(), request(path, body));
        auto r = st ? read_response(false, nullptr) : Result<HttpResponse>(fail(st.error()));
        if (!r) {
            fd_.reset();
        }
        if (r || attempt == 1 || !reused || received_) {
            return r;
        }
    }
}

Status Client::stream(const std::string& path, const std::string& body,
                      const std::function<bool(const std::string&)>& on_message) {
    Fd saved = std::move(fd_);
    std::string saved_buf = std::move(buf_);
    fd_ = GANTRY_TRY(connect());
    buf_.clear();
    GANTRY_TRY(write_all(fd_.get(), request(path, body)));
    auto r = read_response(true, &on_message);
    fd_ = std::move(saved);
    buf_ = std::move(saved_buf);
    if (!r) {
        return fail(r.error());
    }
    return ok();
}

namespace {

Result<std::string> check(Result<HttpResponse> r) {
    if (!r) {
        return fail(r.error());
    }
    if (r->status != 200) {
        auto j = json::Json::parse(r->body, nullptr, false);
        std::string msg =
            j.is_object() && j.contains("message") ? j["message"].get<std::string>() : r->body;
        return fail(Error::msg("{} (HTTP {})", msg, r->status));
    }
    return std::move(r->body);
}

}  // namespace

Result<std::string> Client::put(const std::string& key, const std::string& value, int64_t lease) {
    return check(post("/v3/kv/put", key_body(key, nullptr, &value, lease)));
}

Result<std::string> Client::get(const std::string& key, bool prefix) {
    std::string end = prefix ? prefix_end(key) : std::string();
    return check(post("/v3/kv/range", key_body(key, prefix ? &end : nullptr)));
}

Result<std::string> Client::del(const std::string& key, bool prefix) {
    std::string end = prefix ? prefix_end(key) : std::string();
    return check(post("/v3/kv/deleterange", key_body(key, prefix ? &end : nullptr)));
}

}  // namespace gantry::kv
