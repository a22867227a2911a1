#include "supervisor/service_spec.h"

#include <string.h>

#include <charconv>

#include "base/strings.h"

namespace gantry::supervisor {

std::string_view to_string(RestartPolicy p) {
    switch (p) {
        case RestartPolicy::No:
            return "no";
        case RestartPolicy::Always:
            return "always";
        case RestartPolicy::OnFailure:
            return "on-failure";
        case RestartPolicy::UnlessStopped:
            return "unless-stopped";
    }
    return "?";
}

std::string_view to_string(ServiceType t) {
    return t == ServiceType::Oneshot ? "oneshot" : "simple";
}

std::string_view to_string(NetworkMode m) {
    switch (m) {
        case NetworkMode::Bridge:
            return "bridge";
        case NetworkMode::Host:
            return "host";
        case NetworkMode::None:
            return "none";
    }
    return "?";
}

std::string_view to_string(DependCondition c) {
    switch (c) {
        case DependCondition::Started:
            return "service_started";
        case DependCondition::Healthy:
            return "service_healthy";
        case DependCondition::CompletedSuccessfully:
            return "service_completed_successfully";
    }
    return "?";
}

Status parse_restart(std::string_view text, RestartPolicy& policy, int& max_retries) {
    max_retries = 0;
    if (text == "no" || text == "never" || text.empty()) {
        policy = RestartPolicy::No;
    } else if (text == "always") {
        policy = RestartPolicy::Always;
    } else if (text == "unless-stopped") {
        policy = RestartPolicy::UnlessStopped;
    } else if (text.starts_with("on-failure")) {
        policy = RestartPolicy::OnFailure;
        std::string_view rest = text.substr(10);
        if (!rest.empty()) {
            if (rest[0] != ':') {
                return fail(
                    Error::msg("restart: \"{}\" is not one of no, always, on-failure[:N], "
                               "unless-stopped",
                               text));
            }
            rest.remove_prefix(1);
            auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), max_retries);
            if (ec != std::errc() || p != rest.data() + rest.size() || max_retries < 0) {
                return fail(
                    Error::msg("restart: \"{}\": N in on-failure:N must be a count >= 0", text));
            }
        }
    } else {
        std::string hint = closest_match(text, {"no", "always", "on-failure", "unless-stopped"});
        return fail(
            Error::msg("restart: \"{}\" is not one of no, always, on-failure[:N], "
                       "unless-stopped{}",
                       text, hint.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", hint)));
    }
    return ok();
}

Result<DependCondition> parse_condition(std::string_view text) {
    if (text == "service_started") {
        return DependCondition::Started;
    }
    if (text == "service_healthy") {
        return DependCondition::Healthy;
    }
    if (text == "service_completed_successfully") {
        return DependCondition::CompletedSuccessfully;
    }
    return fail(
        Error::msg("condition \"{}\" is not one of service_started, service_healthy, "
                   "service_completed_successfully",
                   text));
}

Result<int> parse_signal(std::string_view text) {
    int n = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec == std::errc() && p == text.data() + text.size()) {
        if (n > 0 && n < NSIG) {
            return n;
        }
        return fail(Error::msg("signal {} is out of range", text));
    }
    std::string_view name = text.starts_with("SIG") ? text.substr(3) : text;
    for (int s = 1; s < NSIG; ++s) {
        const char* abbrev = sigabbrev_np(s);
        if (abbrev != nullptr && name == abbrev) {
            return s;
        }
    }
    return fail(Error::msg("\"{}\" is not a signal name (like SIGTERM) or number", text));
}

std::string signal_name(int sig) {
    const char* abbrev = sigabbrev_np(sig);
    return abbrev != nullptr ? fmt::format("SIG{}", abbrev) : fmt::to_string(sig);
}

Status validate(const ServiceSpec& spec) {
    if (spec.name.empty()) {
        return fail(Error::msg("service has no name"));
    }
    for (char c : spec.name) {
        bool okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_' || c == '.';
        if (!okc) {
            return fail(Error::msg(
                "service \"{}\": name may only hold letters, digits, '-', '_', '.'", spec.name));
        }
    }
    if (spec.name[0] == '.') {
        return fail(Error::msg("service \"{}\": name may not start with '.'", spec.name));
    }
    // An image that could not be resolved at load leaves argv empty; the service then
    // fails at start with image_error, which is more useful than refusing the config.
    // A pending image (not in the store yet) fills argv when it arrives (from_config.h).
    if (spec.image_error.empty() && !spec.pending_image &&
        (spec.argv.empty() || spec.argv[0].empty())) {
        return fail(Error::msg("service \"{}\": no command to run", spec.name));
    }
    if (spec.healthcheck && spec.healthcheck->test.empty()) {
        return fail(Error::msg("service \"{}\": healthcheck has no test command", spec.name));
    }
    if (spec.healthcheck && spec.healthcheck->interval <= 0s) {
        return fail(Error::msg("service \"{}\": healthcheck interval must be > 0", spec.name));
    }
    if (spec.backoff.initial < 0s || spec.backoff.max < spec.backoff.initial) {
        return fail(Error::msg("service \"{}\": backoff max ({}) must be >= initial ({})",
                               spec.name, format_duration(spec.backoff.max),
                               format_duration(spec.backoff.initial)));
    }
    if (spec.start_timeout < 0s) {
        return fail(Error::msg("service \"{}\": start_timeout must be >= 0", spec.name));
    }
    if (spec.watchdog < 0s) {
        return fail(Error::msg("service \"{}\": watchdog must be >= 0", spec.name));
    }
    if (spec.watchdog > 0s && !spec.notify) {
        return fail(Error::msg(
            "service \"{}\": watchdog needs notify: true (WATCHDOG=1 comes over NOTIFY_SOCKET)",
            spec.name));
    }
    if (spec.start_limit.burst < 0) {
        return fail(Error::msg("service \"{}\": start limit burst must be >= 0", spec.name));
    }
    if (spec.logging.max_files < 1) {
        return fail(Error::msg("service \"{}\": logging max_files must be >= 1", spec.name));
    }
    return ok();
}

}  // namespace gantry::supervisor
