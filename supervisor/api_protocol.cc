#include "supervisor/api_protocol.h"

#include "base/strings.h"

namespace gantry::supervisor {

using nlohmann::json;

namespace {

struct CommandInfo {
    const char* name;
    Command cmd;
    bool needs_service;
};

constexpr CommandInfo kCommands[] = {
    {"ps", Command::Ps, false},
    {"inspect", Command::Inspect, true},
    {"logs", Command::Logs, true},
    {"start", Command::Start, true},
    {"stop", Command::Stop, true},
    {"restart", Command::Restart, true},
    {"exec", Command::Exec, true},
    {"events", Command::Events, false},
    {"poweroff", Command::Poweroff, false},
    {"reboot", Command::Reboot, false},
    {"config", Command::Config, false},
};

double seconds(Duration d) {
    return std::chrono::duration<double>(d).count();
}

}  // namespace

Result<Request> parse_request(std::string_view line, int64_t now_us) {
    if (line.size() > kMaxRequestBytes) {
        return fail(
            Error::msg("request too long ({} bytes, limit {})", line.size(), kMaxRequestBytes));
    }
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
        return fail(Error::msg("request is not valid JSON (send one JSON object per line)"));
    }
    if (!j.is_object()) {
        return fail(Error::msg("request must be a JSON object like {\"cmd\":\"ps\"}"));
    }
    auto cmd_it = j.find("cmd");
    if (cmd_it == j.end() || !cmd_it->is_string()) {
        return fail(Error::msg("request has no \"cmd\" string"));
    }
    std::string cmd = cmd_it->get<std::string>();
    const CommandInfo* info = nullptr;
    std::vector<std::string> names;
    for (const auto& c : kCommands) {
        names.emplace_back(c.name);
        if (cmd == c.name) {
            info = &c;
        }
    }
    if (info == nullptr) {
        std::string hint = closest_match(cmd, names);
        return fail(Error::msg("unknown cmd \"{}\"{}; known: {}", cmd,
                               hint.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", hint),
                               join(names, ", ")));
    }
    Request r;
    r.cmd = info->cmd;
    if (auto it = j.find("service"); it != j.end()) {
        if (!it->is_string() || it->get<std::string>().empty()) {
            return fail(Error::msg("\"service\" must be a non-empty string"));
        }
        r.service = it->get<std::string>();
    }
    if (info->needs_service && r.service.empty()) {
        return fail(Error::msg("{} needs a \"service\"", cmd));
    }
    if (auto it = j.find("tail"); it != j.end()) {
        if (!it->is_number_unsigned()) {
            return fail(Error::msg("\"tail\" must be a count >= 0"));
        }
        r.tail = it->get<size_t>();
    }
    if (auto it = j.find("follow"); it != j.end()) {
        if (!it->is_boolean()) {
            return fail(Error::msg("\"follow\" must be true or false"));
        }
        r.follow = it->get<bool>();
    }
    if (auto it = j.find("since"); it != j.end()) {
        if (it->is_number()) {
            r.since_us = static_cast<int64_t>(it->get<double>() * 1e6);
        } else if (it->is_string()) {
            auto d = parse_duration(it->get<std::string>());
            if (!d) {
                return fail(
                    Error::msg("\"since\": {} (give seconds since the epoch, or a duration "
                               "like \"10m\")",
                               d.error().message()));
            }
            r.since_us = now_us - std::chrono::duration_cast<std::chrono::microseconds>(*d).count();
        } else {
            return fail(Error::msg("\"since\" must be a number or a duration string"));
        }
    }
    if (r.cmd == Command::Exec) {
        auto it = j.find("argv");
        if (it == j.end() || !it->is_array() || it->empty()) {
            return fail(Error::msg("exec needs \"argv\": a non-empty array of strings"));
        }
        for (const auto& a : *it) {
            if (!a.is_string()) {
                return fail(Error::msg("exec \"argv\" must hold only strings"));
            }
            r.argv.push_back(a.get<std::string>());
        }
        if (auto t = j.find("timeout"); t != j.end()) {
            auto d = t->is_string() ? parse_duration(t->get<std::string>())
                                    : Result<Duration>(fail(Error::msg("not a string")));
            if (!d || *d <= Duration(0)) {
                return fail(Error::msg("\"timeout\" must be a duration like \"30s\""));
            }
            r.timeout = *d;
        }
    }
    return r;
}

json error_json(std::string_view message) {
    return json{{"ok", false}, {"error", message}};
}

json status_json(const ServiceStatus& s, bool detailed) {
    json j{{"name", s.spec->name}, {"state", to_string(s.state)},
           {"health", s.health},   {"restarts", s.restarts},
           {"pid", s.pid},         {"uptime_s", seconds(s.uptime)},
           {"reason", s.reason}};
    j["memory_bytes"] = s.memory_bytes ? json(*s.memory_bytes) : json(nullptr);
    if (!detailed) {
        return j;
    }
    const ServiceSpec& sp = *s.spec;
    j["status"] = s.notify_status;
    j["health_output"] = s.health_output;
    j["oom_kills"] = s.oom_kills;
    j["pids"] = s.pids ? json(*s.pids) : json(nullptr);
    j["pids_limit_hits"] = s.pids_limit_hits ? json(*s.pids_limit_hits) : json(nullptr);
    json deps = json::array();
    for (const auto& d : sp.depends_on) {
        deps.push_back({{"service", d.service}, {"condition", to_string(d.condition)}});
    }
    j["spec"] = {
        {"argv", sp.argv},
        {"env", sp.env},
        {"working_dir", sp.working_dir},
        {"user", sp.user},
        {"rootfs", sp.rootfs},
        {"type", to_string(sp.type)},
        {"restart", sp.max_retries > 0 ? fmt::format("{}:{}", to_string(sp.restart), sp.max_retries)
                                       : std::string(to_string(sp.restart))},
        {"notify", sp.notify},
        {"start_timeout", format_duration(sp.start_timeout)},
        {"watchdog", format_duration(sp.watchdog)},
        {"depends_on", deps},
        {"stop_signal", signal_name(sp.stop_signal)},
        {"stop_grace_period", format_duration(sp.stop_grace_period)},
        {"backoff",
         {{"initial", format_duration(sp.backoff.initial)},
          {"max", format_duration(sp.backoff.max)},
          {"reset_after", format_duration(sp.backoff.reset_after)}}}};
    if (!sp.image.empty()) {
        json vols = json::array();
        for (const auto& v : sp.volumes) {
            vols.push_back(fmt::format("{}:{}{}", v.source, v.target, v.read_only ? ":ro" : ""));
        }
        j["spec"]["image"] = sp.image;
        j["spec"]["network_mode"] = to_string(sp.network_mode);
        j["spec"]["hostname"] = sp.hostname;
        j["spec"]["read_only"] = sp.read_only;
        j["spec"]["volumes"] = vols;
        j["spec"]["cap_add"] = sp.cap_add;
        j["spec"]["cap_drop"] = sp.cap_drop;
        j["spec"]["privileged"] = sp.privileged;
        j["spec"]["labels"] = sp.labels;
        if (!sp.image_error.empty()) {
            j["spec"]["image_error"] = sp.image_error;
        }
    }
    if (sp.healthcheck) {
        j["spec"]["healthcheck"] = {
            {"test", sp.healthcheck->test},
            {"interval", format_duration(sp.healthcheck->interval)},
            {"timeout", format_duration(sp.healthcheck->timeout)},
            {"retries", sp.healthcheck->retries},
            {"start_period", format_duration(sp.healthcheck->start_period)}};
    }
    json hist = json::array();
    for (const auto& h : s.history) {
        hist.push_back(
            {{"time_us", h.time_us},
             {"status", h.oom ? "OOM-killed" : h.status.str()},
             {"exit_code", h.status.kind == ExitStatus::Kind::Exited ? h.status.code : -1},
             {"signal", h.status.signal},
             {"oom", h.oom},
             {"ran_for_s", seconds(h.ran_for)}});
    }
    j["history"] = hist;
    return j;
}

json event_json(const ServiceEvent& e) {
    return {{"seq", e.seq},   {"time_us", e.time_us}, {"service", e.service},
            {"from", e.from}, {"to", e.to},           {"detail", e.detail}};
}

json exec_json(const ExecResult& r) {
    return {{"ok", true},
            {"status", r.timed_out ? "timed out" : r.status.str()},
            {"exit_code",
             r.status.kind == ExitStatus::Kind::Exited ? r.status.code : 128 + r.status.signal},
            {"timed_out", r.timed_out},
            {"output", r.output}};
}

}  // namespace gantry::supervisor
