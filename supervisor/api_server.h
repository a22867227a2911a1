// The API server on a unix socket (default /run/gantry/api.sock, 0600, root only).
// One JSON request per line, one JSON response per line; `logs`/`events` with
// "follow" keep streaming. Slow readers are bounded: a client whose unread output passes
// kMaxPendingBytes is disconnected rather than growing PID 1's memory.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/event_loop.h"
#include "base/fd.h"
#include "supervisor/supervisor.h"

namespace gantry::supervisor {

struct ApiHooks {
    std::function<void()> poweroff;
    std::function<void()> reboot;
    // `config`: which source won, refused errors, effective services (built by the init,
    // which owns the config; the server only relays it).
    std::function<nlohmann::json()> config;
};

class ApiServer {
  public:
    static constexpr size_t kMaxPendingBytes = 8 << 20;
    static constexpr size_t kMaxConnections = 64;

    ApiServer(EventLoop& loop, Supervisor& sup, ApiHooks hooks);
    ~ApiServer();
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    // Binds `path` (replacing a stale socket) with mode 0600 and starts accepting.
    Status listen(const std::string& path);
    size_t connections() const { return conns_.size(); }

    struct Conn;

  private:
    void on_accept();
    void on_io(Conn& c, uint32_t revents);
    void process_input(Conn& c);
    void handle_line(Conn& c, std::string_view line);
    void send(Conn& c, const std::string& line);
    void flush(Conn& c);
    void close(Conn& c);

    EventLoop& loop_;
    Supervisor& sup_;
    ApiHooks hooks_;
    std::string path_;
    Fd listen_fd_;
    Source listen_src_;
    std::map<Conn*, std::shared_ptr<Conn>> conns_;
    std::vector<std::shared_ptr<Conn>> dead_;
    Source gc_timer_;
};

// Serializes for the wire: invalid UTF-8 in service output is replaced, not thrown.
std::string to_line(const nlohmann::json& j);

}  // namespace gantry::supervisor
