// The host side of the gantry.ctl virtio-serial port is one byte stream that carries one
// host connection after another, with no sign of where one ends. Every API client starts
// its connection with the session marker line (supervisor::kSessionStart), so the bridge
// splits the stream into lines and starts a fresh API session at each marker.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gantry::init {

class BridgeLines {
  public:
    struct Piece {
        bool new_session = false;  // the marker: end the current API session here
        std::string bytes;         // else: bytes for the current session
    };

    // Feeds bytes read from the port; returns what to do with them, in order. Complete
    // lines only; a partial line waits for its end (API requests always end in '\n'),
    // unless it grows past `max_line`, when it is passed on as it is (the API server
    // refuses it with its own error).
    std::vector<Piece> feed(std::string_view data);

    static constexpr size_t kMaxLine = 256 * 1024;

  private:
    void forward(std::vector<Piece>& out, std::string_view bytes);

    std::string partial_;
    bool long_line_ = false;  // inside a line already passed on in part
};

}  // namespace gantry::init
