// A blocking client for the etcd v3 JSON gateway: talks to gantry-kv (TCP or its unix
// socket) or to a real etcd's HTTP gateway the same way. One keep-alive connection per
// Client; not thread-safe (one Client per thread).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "base/error.h"
#include "base/fd.h"

namespace gantry::kv {

struct HttpResponse {
    int status = 0;
    std::string body;
};

class Client {
  public:
    // "http://127.0.0.1:2379", "127.0.0.1:2379" or "unix:///run/gantry/kv.sock".
    explicit Client(std::string endpoint) : endpoint_(std::move(endpoint)) {}

    // Bounds every read and write on the connection (SO_RCVTIMEO/SO_SNDTIMEO), streams
    // included; zero (the default) waits forever. Tests set it so a server that stops
    // answering fails the test instead of hanging it.
    void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }
    // Bounds each connection attempt (default 5 s; zero waits as long as the kernel, about
    // two minutes of SYN retries against an endpoint that drops them).
    void set_connect_timeout(std::chrono::milliseconds t) { connect_timeout_ = t; }

    // POSTs a JSON body to an API path ("/v3/kv/put") and reads the whole response.
    Result<HttpResponse> post(const std::string& path, const std::string& body);
    // POSTs to a streaming endpoint (/v3/watch, /v3/lease/keepalive) and calls `on_message`
    // with each JSON message until it returns false or the server ends the stream.
    Status stream(const std::string& path, const std::string& body,
                  const std::function<bool(const std::string&)>& on_message);

    // Convenience wrappers used by gantryctl and the supervisor; keys and values are raw
    // bytes, encoded here.
    Result<std::string> put(const std::string& key, const std::string& value, int64_t lease = 0);
    Result<std::string> get(const std::string& key, bool prefix = false);
    Result<std::string> del(const std::string& key, bool prefix = false);

  private:
    Result<Fd> connect();
    Status ensure_connected();
    Result<HttpResponse> read_response(bool stream,
                                       const std::function<bool(const std::string&)>* cb);

    std::string endpoint_;
    std::chrono::milliseconds timeout_{0};
    std::chrono::milliseconds connect_timeout_{5000};
    Fd fd_;
    std::string buf_;
    bool received_ = false;  // bytes of the current response arrived
};

}  // namespace gantry::kv
