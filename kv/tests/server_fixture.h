// Starts gantry-kv and etcd as child processes on 127.0.0.1 for the server-level tests.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "kv/client.h"

namespace gantry::kv::testing {

inline int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    ::close(fd);
    return ntohs(sa.sin_port);
}

inline std::string temp_dir(const char* what) {
    std::string t = std::string("/tmp/") + what + "-XXXXXX";
    return ::mkdtemp(t.data());
}

// A child process killed (SIGKILL) on destruction.
class Child {
  public:
    Child() = default;
    explicit Child(std::vector<std::string> argv) {
        pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ == 0) {
            // If the test is killed (a CTest timeout), its servers must not outlive it and
            // hold ports and data dirs: the kernel kills them with their parent.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) {
                ::_exit(127);
            }
            std::vector<char*> a;
            for (auto& s : argv) {
                a.push_back(s.data());
            }
            a.push_back(nullptr);
            int devnull = ::open("/dev/null", O_WRONLY);
            ::dup2(devnull, 1);
            ::dup2(devnull, 2);
            ::execv(a[0], a.data());
            ::_exit(127);
        }
    }
    Child(Child&& o) noexcept : pid_(std::exchange(o.pid_, -1)) {}
    Child& operator=(Child&& o) noexcept {
        kill();
        pid_ = std::exchange(o.pid_, -1);
        return *this;
    }
    ~Child() { kill(); }
    pid_t pid() const { return pid_; }
    void kill(int sig = SIGKILL) {
        if (pid_ > 0) {
            ::kill(pid_, sig);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }

  private:
    pid_t pid_ = -1;
};

// Polls until the endpoint answers /v3/maintenance/status.
inline bool wait_ready(const std::string& endpoint, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        Client c(endpoint);
        c.set_timeout(std::chrono::seconds(2));
        if (auto r = c.post("/v3/maintenance/status", "{}"); r && r->status == 200) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

inline Child start_gantry_kv(int port, const std::string& data_dir,
                             std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {GANTRY_KV_BIN, "--listen", "127.0.0.1:" + std::to_string(port),
                                     "--unix",      "",         "--data-dir",
                                     data_dir};
    args.insert(args.end(), extra.begin(), extra.end());
    return Child(args);
}

inline constexpr const char* kEtcdBin = "/usr/bin/etcd";

inline Child start_etcd(int port, int peer_port, const std::string& data_dir) {
    std::string client = "http://127.0.0.1:" + std::to_string(port);
    std::string peer = "http://127.0.0.1:" + std::to_string(peer_port);
    return Child({kEtcdBin, "--data-dir", data_dir, "--listen-client-urls", client,
                  "--advertise-client-urls", client, "--listen-peer-urls", peer,
                  "--initial-advertise-peer-urls", peer, "--initial-cluster", "default=" + peer});
}

}  // namespace gantry::kv::testing
