// A blocking client for the API socket: what gantryctl and the tests use.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/fd.h"
#include "base/units.h"

namespace gantry::supervisor {

constexpr const char* kDefaultApiSocket = "/run/gantry/api.sock";

// The first line a client sends on every connection. The API server ignores it; the VM
// bridge (init/pid1_bridge.cc), which carries many host connections one after another over
// one virtio-serial byte stream, starts a fresh API session on it, so a request never lands
// in the previous client's session (which may be a stream that no longer reads input).
constexpr std::string_view kSessionStart = R"({"cmd":"session-start"})";

class ApiClient {
  public:
    static Result<ApiClient> connect(const std::string& path);

    // Sends one request line and reads one response line. A response with "ok": false
    // becomes an Error holding the server's message.
    Result<nlohmann::json> call(const nlohmann::json& request);
    // Reads the next line of a stream (logs/events with follow). `timeout` < 0 = forever;
    // on timeout returns an Error with code ETIMEDOUT.
    Result<nlohmann::json> next(Duration timeout = Duration(-1));
    // Sends raw bytes (tests send malformed requests with this).
    Status send_raw(std::string_view bytes);

  private:
    explicit ApiClient(Fd fd) : fd_(std::move(fd)) {}
    Fd fd_;
    std::string buf_;
};

}  // namespace gantry::supervisor
