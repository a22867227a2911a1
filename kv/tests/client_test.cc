// kv::Client's connect timeout: an endpoint that never answers the handshake must fail the
// call after the configured time, not after the kernel's two minutes of SYN retries. And its
// reading of responses (ClientResponse): headers in any case, bad heads as clear errors (a fresh
// connection is not retried, so each takes one connection), and the one retry, only for a
// kept-alive connection the server had closed.
#include "kv/client.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "kv/connect.h"

namespace gantry::kv {
namespace {

using namespace std::chrono_literals;
using Clk = std::chrono::steady_clock;

// Binds `l` to 127.0.0.1 on a port the kernel picks and listens with `backlog`; sets `sa`
// to the address and `port` to the port.
void listen_loopback(Fd& l, int backlog, sockaddr_in& sa, int& port) {
    l = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(l);
    sa = sockaddr_in{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    ASSERT_EQ(::bind(l.get(), reinterpret_cast<sockaddr*>(&sa), len), 0);
    ASSERT_EQ(::listen(l.get(), backlog), 0);
    ASSERT_EQ(::getsockname(l.get(), reinterpret_cast<sockaddr*>(&sa), &len), 0);
    port = ntohs(sa.sin_port);
}

// A 127.0.0.1 listener that never accepts, its accept queue filled: the kernel drops further
// SYNs, so a new connection's handshake hangs.
struct FullListener {
    Fd listener;
    std::vector<Fd> fillers;
    int port = 0;

    void start() {
        sockaddr_in sa{};
        ASSERT_NO_FATAL_FAILURE(listen_loopback(listener, 0, sa, port));
        // Connect until one handshake does not finish within 200 ms: the queue is full.
        for (int i = 0; i < 32; ++i) {
            Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
            int rc = ::connect(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
            ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << std::strerror(errno);
            pollfd p{s.get(), POLLOUT, 0};
            bool pending = rc != 0 && ::poll(&p, 1, 200) == 0;
            fillers.push_back(std::move(s));
            if (pending) {
                return;
            }
        }
        FAIL() << "could not fill the accept queue of 127.0.0.1:" << port;
    }
};

TEST(ClientConnect, TimesOutAgainstAFullAcceptQueue) {
    FullListener l;
    ASSERT_NO_FATAL_FAILURE(l.start());
    Client c("127.0.0.1:" + std::to_string(l.port));
    c.set_connect_timeout(300ms);
    auto t0 = Clk::now();
    auto r = c.put("k", "v");
    auto took = Clk::now() - t0;
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().str().find("no answer within 300 ms"), std::string::npos)
        << r.error().str();
    EXPECT_GE(took, 290ms);
    EXPECT_LT(took, 3s);  // the first SYN retry is at 1 s; the kernel's limit is minutes
}

TEST(ClientConnect, DefaultTimeoutIsBounded) {
    FullListener l;
    ASSERT_NO_FATAL_FAILURE(l.start());
    Client c("127.0.0.1:" + std::to_string(l.port));
    auto t0 = Clk::now();
    auto r = c.get("k");
    auto took = Clk::now() - t0;
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().str().find("no answer within 5000 ms"), std::string::npos)
        << r.error().str();
    EXPECT_LT(took, 8s);
}

TEST(ClientConnect, TimesOutAgainstAFullUnixBacklog) {
    char dir[] = "/tmp/kv-connect-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    std::string path = std::string(dir) + "/s.sock";
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::copy(path.begin(), path.end(), sa.sun_path);
    Fd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ASSERT_EQ(::listen(listener.get(), 0), 0);
    std::vector<Fd> fillers;
    for (int i = 0; i < 32; ++i) {
        Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (::connect(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
            ASSERT_EQ(errno, EAGAIN) << std::strerror(errno);
            break;
        }
        fillers.push_back(std::move(s));
    }
    Client c("unix://" + path);
    c.set_connect_timeout(200ms);
    auto t0 = Clk::now();
    auto r = c.put("k", "v");
    auto took = Clk::now() - t0;
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().str().find("no answer within 200 ms"), std::string::npos)
        << r.error().str();
    EXPECT_GE(took, 190ms);
    EXPECT_LT(took, 3s);
    ::unlink(path.c_str());
    ::rmdir(dir);
}

// A listener that answers: the connection is made, and the socket is blocking again (the
// client's reads rely on SO_RCVTIMEO, not on non-blocking I/O).
TEST(ClientConnect, ConnectsAndRestoresBlockingMode) {
    Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&sa), len), 0);
    ASSERT_EQ(::listen(listener.get(), 16), 0);
    ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&sa), &len), 0);
    Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto st = connect_within(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa, "test", 1000ms);
    ASSERT_TRUE(st) << st.error().str();
    EXPECT_EQ(::fcntl(s.get(), F_GETFL) & O_NONBLOCK, 0);
    // The same port with nobody listening: an immediate, named error, not a timeout.
    s.reset();
    listener.reset();
    Fd again(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto t0 = Clk::now();
    st = connect_within(again, reinterpret_cast<sockaddr*>(&sa), sizeof sa, "closed", 5000ms);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().str().find("refused"), std::string::npos) << st.error().str();
    EXPECT_LT(Clk::now() - t0, 1s);
}

}  // namespace
}  // namespace gantry::kv

namespace gantry::kv {
namespace {

// A 127.0.0.1 server that, for each of `responses`, accepts a connection, reads one request,
// answers with the response and closes the connection. `request` is the last request read.
struct CannedServer {
    Fd listener;
    int port = 0;
    std::thread thread;
    std::string request;

    void start(std::vector<std::string> responses) {
        sockaddr_in sa{};
        ASSERT_NO_FATAL_FAILURE(listen_loopback(listener, 4, sa, port));
        thread = std::thread([this, responses = std::move(responses)] {
            for (const std::string& response : responses) {
                Fd c(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
                request.clear();
                char buf[4096];
                while (request.find("\r\n\r\n") == std::string::npos ||
                       request.size() < request.find("\r\n\r\n") + 4 + body_length()) {
                    ssize_t n = ::read(c.get(), buf, sizeof buf);
                    if (n <= 0) {
                        return;
                    }
                    request.append(buf, static_cast<size_t>(n));
                }
                (void)!::write(c.get(), response.data(), response.size());
            }
        });
    }
    size_t body_length() const {
        size_t p = request.find("Content-Length: ");
        return p == std::string::npos ? 0 : std::stoul(request.substr(p + 16));
    }
    ~CannedServer() {
        if (thread.joinable()) {
            thread.join();
        }
    }
};

TEST(ClientResponse, HeadersMatchInAnyCase) {
    CannedServer s;
    ASSERT_NO_FATAL_FAILURE(
        s.start({"HTTP/1.1 200 OK\r\ncontent-TYPE: application/json\r\nCONTENT-LENGTH:  "
                 "2\r\nconnection: Close\r\n\r\n{}"}));
    Client c("127.0.0.1:" + std::to_string(s.port));
    c.set_timeout(5s);
    auto r = c.put("k", "v", 7);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(*r, "{}");
    s.thread.join();
    // The body written directly: base64 key and value, the lease as a string.
    EXPECT_NE(s.request.find("POST /v3/kv/put HTTP/1.1\r\n"), std::string::npos) << s.request;
    EXPECT_NE(s.request.find("\r\n\r\n{\"key\":\"aw==\",\"value\":\"dg==\",\"lease\":\"7\"}"),
              std::string::npos)
        << s.request;
}

TEST(ClientResponse, ChunkedInAnyCase) {
    CannedServer s;
    ASSERT_NO_FATAL_FAILURE(
        s.start({"HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n2\r\n{}\r\n0\r\n\r\n"}));
    Client c("127.0.0.1:" + std::to_string(s.port));
    c.set_timeout(5s);
    auto r = c.get("k", true);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(*r, "{}");
    s.thread.join();
    EXPECT_NE(s.request.find("{\"key\":\"aw==\",\"range_end\":\"bA==\"}"), std::string::npos)
        << s.request;
}

// The error a call gets from a server that answers with `response` (empty if none).
std::string error_for(std::string response) {
    CannedServer s;
    s.start({std::move(response)});
    Client c("127.0.0.1:" + std::to_string(s.port));
    c.set_timeout(5s);
    auto r = c.del("k");
    return r ? std::string() : r.error().str();
}

TEST(ClientResponse, BadHeadsAreErrors) {
    EXPECT_NE(error_for("HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\n{}")
                  .find("malformed response: Content-Length '2x'"),
              std::string::npos);
    EXPECT_NE(error_for("HTTP/1.1 OK\r\n\r\n").find("malformed response"), std::string::npos);
}

// The server closes a keep-alive connection after its answer (without "Connection: close"):
// the next call finds it closed before any byte of a response and retries once on a new one.
TEST(ClientResponse, AClosedKeepAliveConnectionIsRetriedOnce) {
    CannedServer s;
    std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
    ASSERT_NO_FATAL_FAILURE(s.start({ok, ok}));
    Client c("127.0.0.1:" + std::to_string(s.port));
    c.set_timeout(5s);
    ASSERT_TRUE(c.put("a", "1"));
    auto r = c.put("b", "2");
    ASSERT_TRUE(r) << r.error().str();
    s.thread.join();
    EXPECT_NE(s.request.find("\"key\":\"Yg==\""), std::string::npos) << s.request;
}

}  // namespace
}  // namespace gantry::kv
