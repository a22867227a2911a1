// gantry-kv's server: the etcd v3 JSON gateway over HTTP/1.1 on TCP and a unix socket.
//
// One thread runs an epoll loop (the seam for base/event_loop.h once it lands) over the
// listeners, the connections, the WAL's durability eventfd and a signalfd. Writes are
// applied to the store at once, but no response, watch event or read that could observe
// a write goes out before the WAL says that write is durable: each response carries the
// WAL sequence it depends on and waits in its connection's queue until then.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"

namespace gantry::kv {

struct ServerOptions {
    std::vector<std::string> listen = {"127.0.0.1:2379"};         // host:port; port 0 picks one
    std::string unix_path = "/run/gantry/kv.sock";                // empty: no unix socket
    std::string data_dir = "/var/lib/gantry/kv";                  // empty: in memory, no WAL
    std::chrono::milliseconds progress_interval{10 * 60 * 1000};  // etcd's default
    uint64_t cluster_id = 0x67616e747279ull;                      // "gantry"
    uint64_t member_id = 0x6b762d31ull;                           // "kv-1"
    // Called on the server's thread every housekeeping_interval (the first time one
    // interval after run() starts); gantry-kv re-checks its CPU pinning there.
    std::function<void()> housekeeping;
    std::chrono::milliseconds housekeeping_interval{10 * 1000};
};

class ServerImpl;

class Server {
  public:
    static Result<std::unique_ptr<Server>> create(const ServerOptions& options);
    ~Server();
    // Bound TCP ports, in the order of options.listen (useful with port 0).
    std::vector<int> ports() const;
    // Serves until SIGTERM or SIGINT (blocked by create() for this thread's use).
    Status run();

  private:
    explicit Server(std::unique_ptr<ServerImpl> impl);
    std::unique_ptr<ServerImpl> impl_;
};

}  // namespace gantry::kv
