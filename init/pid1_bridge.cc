// The gantry.ctl virtio-serial port as a byte pipe to the API socket, so the host's
// `gantryctl --socket <vm dir>/ctl.sock` talks to this machine's API. It runs in a helper
// process with blocking I/O: simpler than juggling a port that reports POLLHUP for as
// long as no host client is connected, and a stuck client cannot stall PID 1's loop.
// Host connections come one after another over the one port; each starts with the session
// marker, on which the bridge ends the API session it had and opens a fresh one
// (init/bridge_lines.h), so a request never goes into the last client's session.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "base/fd.h"
#include "init/bridge_lines.h"
#include "init/pid1.h"
#include "init/pid1_events.h"

namespace gantry::init {
namespace {

Fd connect_api(const std::string& path) {
    for (int attempt = 0; attempt < 50; ++attempt) {
        int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
        if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
            return Fd(s);
        }
        ::close(s);
        ::usleep(100 * 1000);  // the API may not listen yet this early in boot
    }
    return Fd();
}

}  // namespace

void run_ctl_bridge(const std::string& api_socket) {
    Fd port;
    while (!port.valid()) {
        std::string path = find_virtio_port("gantry.ctl");
        if (!path.empty()) {
            if (auto fd = Fd::open(path, O_RDWR | O_NOCTTY)) {
                port = std::move(*fd);
                break;
            }
        }
        ::sleep(1);  // a VM without the port (real hardware): stay idle, cheaply
    }
    Fd api;
    BridgeLines lines;
    char buf[16384];
    // Forwards what the API session has for the host; false once the server ended it.
    auto pump_api = [&](int timeout_ms) {
        pollfd a{api.get(), POLLIN, 0};
        while (::poll(&a, 1, timeout_ms) > 0) {
            ssize_t n = ::read(api.get(), buf, sizeof buf);
            if (n <= 0) {
                return false;
            }
            (void)write_all(port.get(), std::string_view(buf, n));
            timeout_ms = 0;
        }
        return true;
    };
    for (;;) {
        pollfd p[2] = {{port.get(), POLLIN, 0}, {api.get(), POLLIN, 0}};
        if (::poll(p, api.valid() ? 2 : 1, -1) < 0) {
            continue;
        }
        // The API side first: a session the server has ended (after an exec, say) must be
        // seen before the next host client's bytes are read, or they would go into the
        // dead session and that client would wait for an answer that never comes.
        if (api.valid() && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !pump_api(0)) {
            api.reset();  // the server ended this session; new bytes reconnect
        }
        if ((p[0].revents & POLLIN) != 0) {
            ssize_t n = ::read(port.get(), buf, sizeof buf);
            if (n > 0) {
                for (BridgeLines::Piece& piece : lines.feed(std::string_view(buf, n))) {
                    if (piece.new_session) {
                        api.reset();  // whatever the last client left unread goes with it
                        continue;
                    }
                    if (api.valid() && !pump_api(0)) {
                        api.reset();  // ended between the poll and now
                    }
                    if (!api.valid()) {
                        api = connect_api(api_socket);
                    }
                    if (api.valid() && !write_all(api.get(), piece.bytes)) {
                        api.reset();
                    }
                }
                continue;
            }
        }
        if ((p[0].revents & (POLLHUP | POLLERR)) != 0) {
            // The host client left (or none is connected): its API session ends with it,
            // and the next client starts a fresh one. The port keeps reporting HUP until a
            // client connects, hence the nap instead of a busy loop.
            api.reset();
            ::usleep(100 * 1000);
        }
    }
}

}  // namespace gantry::init
