#include "ctl/service_common.h"

#include <fmt/format.h>

#include <cstdlib>

#include "base/units.h"
#include "ctl/service_cmds.h"

namespace gantry::ctl {

using nlohmann::json;

const ServiceCommand kServiceCommands[] = {
    {"ps", cmd_ps, "list services: state, health, restarts, uptime, memory, pid"},
    {"inspect", cmd_inspect, "everything about one service, as JSON"},
    {"logs", cmd_logs, "a service's output [-f] [--tail N] [--since DURATION|EPOCH]"},
    {"start", cmd_start, "start services"},
    {"stop", cmd_stop, "stop services"},
    {"restart", cmd_restart, "restart services"},
    {"exec", cmd_exec, "run a command in a service: exec SERVICE -- CMD..."},
    {"events", cmd_events, "service state changes [-f]"},
    {"poweroff", cmd_poweroff, "stop every service and power the machine off"},
    {"reboot", cmd_reboot, "stop every service and reboot the machine"},
    {"config-status", cmd_config_status,
     "the running config: its source, refused errors, services (= config status)"},
};
const int kServiceCommandCount = sizeof kServiceCommands / sizeof kServiceCommands[0];

bool Args::has_flag(std::string_view f) const {
    for (const auto& x : flags) {
        if (x == f) {
            return true;
        }
    }
    return false;
}

std::optional<std::string> Args::option(std::string_view name) const {
    for (const auto& [k, v] : options) {
        if (k == name) {
            return v;
        }
    }
    return std::nullopt;
}

Result<Args> parse_args(int argc, char** argv, const std::vector<std::string>& valued,
                        const std::vector<std::string>& switches) {
    Args a;
    if (const char* env = std::getenv("GANTRY_SOCKET"); env != nullptr && *env != '\0') {
        a.socket = env;
    }
    auto is = [](const std::vector<std::string>& list, const std::string& s) {
        for (const auto& x : list) {
            if (x == s) {
                return true;
            }
        }
        return false;
    };
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        if (s == "--") {
            for (int j = i + 1; j < argc; ++j) {
                a.after_dashdash.emplace_back(argv[j]);
            }
            break;
        }
        if (s.size() < 2 || s[0] != '-') {
            a.positional.push_back(s);
            continue;
        }
        std::string name = s.substr(s[1] == '-' ? 2 : 1);
        std::string value;
        bool has_value = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            has_value = true;
        }
        bool takes_value = name == "socket" || name == "output" || name == "o" || is(valued, name);
        if (takes_value) {
            if (!has_value) {
                if (i + 1 >= argc) {
                    return fail(Error::msg("{} needs a value", s));
                }
                value = argv[++i];
            }
            if (name == "socket") {
                a.socket = value;
            } else if (name == "output" || name == "o") {
                if (value != "json" && value != "table") {
                    return fail(Error::msg("--output must be json or table, not \"{}\"", value));
                }
                a.json = value == "json";
            } else {
                a.options.emplace_back(name, value);
            }
        } else if (is(switches, name)) {
            a.flags.push_back(name);
        } else {
            return fail(Error::msg("unknown option {}", s));
        }
    }
    if (a.socket.empty()) {
        a.socket = supervisor::kDefaultApiSocket;
    }
    return a;
}

Result<supervisor::ApiClient> connect(const Args& a) {
    return supervisor::ApiClient::connect(a.socket);
}

std::optional<json> call(const Args& a, const std::string& cmd, const json& req) {
    auto c = connect(a);
    if (!c) {
        fmt::print(stderr, "gantryctl {}: {}\n", cmd, c.error().str());
        return std::nullopt;
    }
    auto r = c->call(req);
    if (!r) {
        fmt::print(stderr, "gantryctl {}: {}\n", cmd, r.error().str());
        return std::nullopt;
    }
    return *r;
}

int usage_error(const std::string& cmd, const std::string& usage, const std::string& problem) {
    if (!problem.empty()) {
        fmt::print(stderr, "gantryctl {}: {}\n", cmd, problem);
    }
    fmt::print(stderr, "usage: gantryctl {}\n", usage);
    return 2;
}

int per_service(int argc, char** argv, const std::string& cmd) {
    std::string usage = cmd + " [--socket PATH] SERVICE...";
    auto a = parse_args(argc, argv, {}, {});
    if (!a) {
        return usage_error(cmd, usage, a.error().str());
    }
    if (a->positional.empty()) {
        return usage_error(cmd, usage, "name at least one service");
    }
    int rc = 0;
    for (const auto& s : a->positional) {
        if (!call(*a, cmd, {{"cmd", cmd}, {"service", s}})) {
            rc = 1;
        }
    }
    return rc;
}

std::string human_duration(double seconds) {
    if (seconds <= 0) {
        return "-";
    }
    auto secs = static_cast<int64_t>(seconds);
    if (secs < 60) {
        return fmt::format("{}s", secs);
    }
    if (secs < 3600) {
        return fmt::format("{}m{}s", secs / 60, secs % 60);
    }
    if (secs < 86400) {
        return fmt::format("{}h{}m", secs / 3600, secs % 3600 / 60);
    }
    return fmt::format("{}d{}h", secs / 86400, secs % 86400 / 3600);
}

}  // namespace gantry::ctl
