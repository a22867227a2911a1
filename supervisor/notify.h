// sd_notify: the readiness protocol daemons written for systemd already speak.
//
// Each service gets its own SOCK_DGRAM unix socket, passed as NOTIFY_SOCKET. SO_PASSCRED
// makes the kernel attach the sender's pid to every datagram, so a message is only
// believed when it comes from a process of that service (systemd's NotifyAccess=all).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/fd.h"

namespace gantry::supervisor {

// One datagram: newline-separated KEY=VALUE assignments. Unknown keys are ignored, as
// systemd does, so newer daemons keep working.
struct NotifyMessage {
    bool ready = false;                 // READY=1
    bool stopping = false;              // STOPPING=1
    bool reloading = false;             // RELOADING=1
    bool watchdog = false;              // WATCHDOG=1
    bool watchdog_trigger = false;      // WATCHDOG=trigger: fail as if the watchdog expired
    std::optional<std::string> status;  // STATUS=...
    std::optional<int> errno_value;     // ERRNO=...
    std::optional<pid_t> main_pid;      // MAINPID=...
    // EXTEND_TIMEOUT_USEC=...: the service asks for this much more time in the current
    // phase (starting or stopping); sd_notify(3).
    std::optional<std::chrono::microseconds> extend_timeout;
};

// Parses bytes; never fails: malformed lines are skipped.
NotifyMessage parse_notify(std::string_view datagram);

struct NotifyDatagram {
    std::string data;
    pid_t sender = 0;  // from SCM_CREDENTIALS; 0 when the kernel sent none
};

// Binds a fresh SOCK_DGRAM socket at `path` (removing a stale one), non-blocking, with
// SO_PASSCRED, mode 0666 so a service running as another user can still send.
Result<Fd> bind_notify_socket(const std::string& path);
// Reads one datagram; std::nullopt when none is pending. Datagrams over 4 KiB are cut.
Result<std::optional<NotifyDatagram>> receive_notify(int fd);

}  // namespace gantry::supervisor
