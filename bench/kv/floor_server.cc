// The floor for one client's durable puts on this machine: the least a server can do and
// still answer a put only once it is on disk. It reads one HTTP request at a time (blocking
// read, no event loop), appends the request body with pwritev2(RWF_DSYNC), as gantry-kv's
// WAL does, into blocks written with zeros beforehand, and answers with an etcd-shaped put
// response. No store, no JSON parsing, no recovery: a yardstick, not a server.
//   build/bench/kv/floor_server PORT DIR
// Run it where gantry-kv runs, the same way (SCHED_FIFO 1, on the disk's interrupt CPU),
// and drive it with the benchmark's client:
//   chrt -f 1 taskset -c 1 build/bench/kv/floor_server 23790 /var/tmp/floor &
//   build/bench/kv/kv_bench 2 --endpoint 127.0.0.1:23790 --only put1 --no-load
// Connections are served one after another: it measures one client, nothing else.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "kv/http.h"

namespace {

constexpr off_t kFileBytes = 16 << 20;  // appends wrap around: only the cost matters here
constexpr size_t kMaxRequest = 1 << 20;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "floor_server: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

// The value of the Content-Length header in `head` (without its final empty line); 0 if it
// has none.
size_t content_length(std::string_view head) {
    size_t n = 0;
    if (auto v = gantry::kv::http::header(head, "Content-Length")) {
        std::from_chars(v->data(), v->data() + v->size(), n);
    }
    return n;
}

class Log {
  public:
    explicit Log(const std::string& dir) {
        std::string path = dir + "/floor.log";
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd_ < 0) {
            die(path.c_str());
        }
        // Zero-written and synced, like the WAL's preallocated segments: a sync then writes
        // data only, no block allocation.
        std::string zeros(1 << 20, '\0');
        for (off_t off = 0; off < kFileBytes; off += static_cast<off_t>(zeros.size())) {
            if (::pwrite(fd_, zeros.data(), zeros.size(), off) !=
                static_cast<ssize_t>(zeros.size())) {
                die("preallocate");
            }
        }
        if (::fsync(fd_) != 0) {
            die("fsync");
        }
    }

    void append(std::string_view record) {
        if (end_ + static_cast<off_t>(record.size()) > kFileBytes) {
            end_ = 0;
        }
        iovec iov{const_cast<char*>(record.data()), record.size()};
        if (::pwritev2(fd_, &iov, 1, end_, RWF_DSYNC) != static_cast<ssize_t>(record.size())) {
            die("pwritev2");
        }
        end_ += static_cast<off_t>(record.size());
    }

  private:
    int fd_ = -1;
    off_t end_ = 0;
};

bool send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

// Answers requests on `fd` until the client closes it (or sends garbage).
void serve(int fd, Log& log, long& revision) {
    std::string in;
    char buf[16384];
    for (;;) {
        size_t head_end = in.find("\r\n\r\n");
        size_t need = head_end == std::string::npos
                          ? 0
                          : head_end + 4 + content_length(std::string_view(in).substr(0, head_end));
        if (head_end == std::string::npos || in.size() < need) {
            if (in.size() > kMaxRequest) {
                return;
            }
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                return;
            }
            in.append(buf, static_cast<size_t>(n));
            continue;
        }
        log.append(std::string_view(in).substr(head_end + 4, need - head_end - 4));
        in.erase(0, need);
        std::string body =
            "{\"header\":{\"cluster_id\":\"7454325447785018473\",\"member_id\":"
            "\"1802383665\",\"revision\":\"" +
            std::to_string(++revision) + "\",\"raft_term\":\"1\"}}";
        std::string response =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
        if (!send_all(fd, response)) {
            return;
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: floor_server PORT DIR\n");
        return 2;
    }
    std::string_view arg = argv[1];
    int port = 0;
    auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), port);
    if (ec != std::errc() || end != arg.data() + arg.size() || port <= 0 || port > 65535) {
        std::fprintf(stderr, "floor_server: bad port '%s'\n", argv[1]);
        return 2;
    }
    Log log(argv[2]);
    int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ls < 0) {
        die("socket");
    }
    int one = 1;
    ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(ls, 16) != 0) {
        die("listen");
    }
    long revision = 1;
    for (;;) {
        int fd = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("accept");
        }
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        serve(fd, log, revision);
        ::close(fd);
    }
}
