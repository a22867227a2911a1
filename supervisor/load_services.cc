#include "supervisor/load_services.h"

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "base/strings.h"

namespace gantry::supervisor {

using nlohmann::json;

namespace {

Result<Duration> get_duration(const json& obj, const char* key, Duration def) {
    auto it = obj.find(key);
    if (it == obj.end()) {
        return def;
    }
    if (!it->is_string()) {
        return fail(Error::msg("{}: must be a duration string like \"10s\"", key));
    }
    return GANTRY_TRY_CTX(parse_duration(it->get<std::string>()), "{}", key);
}

Result<std::vector<std::string>> get_strings(const json& v, const char* key) {
    std::vector<std::string> out;
    if (v.is_string()) {
        // A plain string is run by the shell, as Compose does for `command: "..."`.
        return std::vector<std::string>{"/bin/sh", "-c", v.get<std::string>()};
    }
    if (!v.is_array()) {
        return fail(Error::msg("{}: must be a list of strings or a string", key));
    }
    for (const auto& s : v) {
        if (!s.is_string()) {
            return fail(Error::msg("{}: must hold only strings", key));
        }
        out.push_back(s.get<std::string>());
    }
    return out;
}

Result<ServiceSpec> parse_one(const std::string& name, const json& j) {
    static const std::vector<std::string> kKeys = {
        "command",     "environment",       "working_dir", "user",    "rootfs",
        "restart",     "depends_on",        "type",        "notify",  "healthcheck",
        "stop_signal", "stop_grace_period", "resources",   "backoff", "start_limit",
        "logging",     "start_timeout",     "watchdog"};
    if (!j.is_object()) {
        return fail(Error::msg("must be an object"));
    }
    for (const auto& [k, v] : j.items()) {
        if (std::find(kKeys.begin(), kKeys.end(), k) == kKeys.end()) {
            std::string hint = closest_match(k, kKeys);
            return fail(
                Error::msg("unknown key \"{}\"{}", k,
                           hint.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", hint)));
        }
    }
    ServiceSpec s;
    s.name = name;
    if (!j.contains("command")) {
        return fail(Error::msg("command: missing"));
    }
    s.argv = GANTRY_TRY(get_strings(j["command"], "command"));
    if (auto it = j.find("environment"); it != j.end()) {
        if (it->is_object()) {
            for (const auto& [k, v] : it->items()) {
                s.env.push_back(k + "=" + (v.is_string() ? v.get<std::string>() : v.dump()));
            }
        } else {
            s.env = GANTRY_TRY(get_strings(*it, "environment"));
        }
    }
    s.working_dir = j.value("working_dir", "");
    s.user = j.value("user", "");
    s.rootfs = j.value("rootfs", "");
    GANTRY_TRY(parse_restart(j.value("restart", "no"), s.restart, s.max_retries));
    if (auto it = j.find("depends_on"); it != j.end()) {
        if (it->is_array()) {
            for (const auto& d : *it) {
                s.depends_on.push_back({d.get<std::string>(), DependCondition::Started});
            }
        } else if (it->is_object()) {
            for (const auto& [dep, v] : it->items()) {
                std::string cond =
                    v.is_object() ? v.value("condition", "service_started") : "service_started";
                s.depends_on.push_back(
                    {dep, GANTRY_TRY_CTX(parse_condition(cond), "depends_on.{}", dep)});
            }
        } else {
            return fail(Error::msg("depends_on: must be a list or a map"));
        }
    }
    std::string type = j.value("type", "simple");
    if (type != "simple" && type != "oneshot") {
        return fail(Error::msg("type: \"{}\" is not one of simple, oneshot", type));
    }
    s.type = type == "oneshot" ? ServiceType::Oneshot : ServiceType::Simple;
    s.notify = j.value("notify", false);
    s.start_timeout = GANTRY_TRY(get_duration(j, "start_timeout", s.start_timeout));
    s.watchdog = GANTRY_TRY(get_duration(j, "watchdog", s.watchdog));
    if (auto it = j.find("healthcheck"); it != j.end()) {
        HealthCheck hc;
        auto test = GANTRY_TRY_CTX(get_strings(it->at("test"), "test"), "healthcheck");
        if (!test.empty() && test[0] == "CMD") {
            test.erase(test.begin());
        } else if (test.size() == 2 && test[0] == "CMD-SHELL") {
            test = {"/bin/sh", "-c", test[1]};
        }
        hc.test = test;
        hc.interval = GANTRY_TRY_CTX(get_duration(*it, "interval", hc.interval), "healthcheck");
        hc.timeout = GANTRY_TRY_CTX(get_duration(*it, "timeout", hc.timeout), "healthcheck");
        hc.start_period =
            GANTRY_TRY_CTX(get_duration(*it, "start_period", hc.start_period), "healthcheck");
        hc.retries = it->value("retries", hc.retries);
        s.healthcheck = hc;
    }
    if (auto it = j.find("stop_signal"); it != j.end()) {
        s.stop_signal = GANTRY_TRY_CTX(parse_signal(it->get<std::string>()), "stop_signal");
    }
    s.stop_grace_period = GANTRY_TRY(get_duration(j, "stop_grace_period", s.stop_grace_period));
    if (auto it = j.find("resources"); it != j.end()) {
        if (auto m = it->find("memory"); m != it->end()) {
            s.resources.memory_bytes =
                GANTRY_TRY_CTX(parse_size(m->get<std::string>()), "resources.memory");
        }
        s.resources.cpus = it->value("cpus", 0.0);
        s.resources.pids = it->value("pids", int64_t{0});
    }
    if (auto it = j.find("backoff"); it != j.end()) {
        s.backoff.initial =
            GANTRY_TRY_CTX(get_duration(*it, "initial", s.backoff.initial), "backoff");
        s.backoff.max = GANTRY_TRY_CTX(get_duration(*it, "max", s.backoff.max), "backoff");
        s.backoff.reset_after =
            GANTRY_TRY_CTX(get_duration(*it, "reset_after", s.backoff.reset_after), "backoff");
    }
    if (auto it = j.find("start_limit"); it != j.end()) {
        s.start_limit.burst = it->value("burst", s.start_limit.burst);
        s.start_limit.interval =
            GANTRY_TRY_CTX(get_duration(*it, "interval", s.start_limit.interval), "start_limit");
    }
    if (auto it = j.find("logging"); it != j.end()) {
        if (auto m = it->find("max_size"); m != it->end()) {
            s.logging.max_size =
                GANTRY_TRY_CTX(parse_size(m->get<std::string>()), "logging.max_size");
        }
        s.logging.max_files = it->value("max_files", s.logging.max_files);
    }
    GANTRY_TRY(validate(s));
    return s;
}

}  // namespace

Result<std::vector<ServiceSpec>> parse_services(std::string_view text, std::string_view origin) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return fail(Error::msg("{}: not a JSON object", origin));
    }
    auto it = j.find("services");
    if (it == j.end() || !it->is_object()) {
        return fail(Error::msg("{}: needs a \"services\" object", origin));
    }
    std::vector<ServiceSpec> out;
    for (const auto& [name, v] : it->items()) {
        // json's typed getters throw on a wrong type; keep that inside this border.
        try {
            out.push_back(GANTRY_TRY_CTX(parse_one(name, v), "{}: services.{}", origin, name));
        } catch (const json::exception& e) {
            return fail(Error::msg("{}: services.{}: {}", origin, name, e.what()));
        }
    }
    return out;
}

Result<std::vector<ServiceSpec>> load_services(const std::string& path) {
    std::string text = GANTRY_TRY_CTX(read_file(path), "load services");
    return parse_services(text, path);
}

}  // namespace gantry::supervisor
