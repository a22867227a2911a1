// The API protocol: one JSON object per line each way (docs/supervisor.md has the
// reference). Parsing is pure and unit-tested; bad input becomes an Error whose text is
// sent back to the client, never an exception in PID 1.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/units.h"
#include "supervisor/supervisor.h"

namespace gantry::supervisor {

enum class Command {
    Ps,
    Inspect,
    Logs,
    Start,
    Stop,
    Restart,
    Exec,
    Events,
    Poweroff,
    Reboot,
    Config
};

struct Request {
    Command cmd = Command::Ps;
    std::string service;
    size_t tail = 0;                              // logs: last N lines, 0 = all
    int64_t since_us = 0;                         // logs: realtime lower bound, 0 = none
    bool follow = false;                          // logs, events: keep streaming
    std::vector<std::string> argv;                // exec
    Duration timeout = std::chrono::seconds(30);  // exec
};

// Requests longer than this are refused and the connection closed.
constexpr size_t kMaxRequestBytes = 64 * 1024;

// `now_us` resolves relative "since" values ("10m" = ten minutes before now).
Result<Request> parse_request(std::string_view line, int64_t now_us);

nlohmann::json error_json(std::string_view message);
nlohmann::json status_json(const ServiceStatus& s, bool detailed);
nlohmann::json event_json(const ServiceEvent& e);
nlohmann::json exec_json(const ExecResult& r);

}  // namespace gantry::supervisor
