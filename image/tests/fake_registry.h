// A small registry-v2 server on 127.0.0.1 for unit tests of the pull client: serves one
// repository from an OCI layout, and misbehaves on request (token auth, 503s, a connection
// cut in the middle of a blob, corrupt content). Answers one connection at a time.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gantry::image::testing {

class FakeRegistry {
  public:
    struct Faults {
        bool require_token = false;
        int unavailable_first = 0;    // answer 503 to the first N requests
        bool cut_first_blob = false;  // first big blob GET: send half, then close
        std::string corrupt_digest;   // serve this blob with one byte flipped
        std::string basic_auth;       // require "Authorization: Basic <this>"
    };
    FakeRegistry(std::string layout_dir, std::string repo, Faults faults);
    ~FakeRegistry();

    int port() const { return port_; }
    std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
    // Request lines seen ("GET /v2/..."), in order.
    std::vector<std::string> requests();
    int range_requests() const { return ranges_; }

  private:
    void serve();
    void handle(int fd);
    std::string blob_bytes(const std::string& digest);

    std::string layout_, repo_;
    Faults faults_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> ranges_{0};
    std::thread thread_;
    std::mutex mu_;
    std::vector<std::string> requests_;
    int count_ = 0;
    bool cut_done_ = false;
};

}  // namespace gantry::image::testing
