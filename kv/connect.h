// A connect(2) with a deadline: non-blocking connect, poll for writability, SO_ERROR. A
// blocking connect to an endpoint that drops SYNs (a firewall, a full accept queue, a
// host that is gone) holds the caller for the kernel's SYN retries, about two minutes.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <string>

#include "base/error.h"
#include "base/fd.h"

namespace gantry::kv {

// Connects `fd` (a fresh socket) to `addr`; `what` names the endpoint in errors. A zero or
// negative timeout waits as long as the kernel does. The socket is blocking again on return.
Status connect_within(const Fd& fd, const sockaddr* addr, socklen_t len, const std::string& what,
                      std::chrono::milliseconds timeout);

}  // namespace gantry::kv
