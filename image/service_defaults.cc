#include "image/service_defaults.h"

#include <algorithm>

namespace gantry::image {

namespace {

constexpr Duration kDefaultInterval = std::chrono::seconds(30);
constexpr Duration kDefaultTimeout = std::chrono::seconds(30);
constexpr int kDefaultRetries = 3;

Result<std::string> normalize_port(std::string_view p) {
    std::string port(p);
    std::string proto = "tcp";
    if (auto slash = port.find('/'); slash != std::string::npos) {
        proto = port.substr(slash + 1);
        port = port.substr(0, slash);
    }
    if (proto != "tcp" && proto != "udp" && proto != "sctp") {
        return fail(Error::msg("port '{}': protocol must be tcp, udp or sctp", p));
    }
    // A single port or a range "8000-8010", each 1..65535.
    auto valid = [](std::string_view n) {
        if (n.empty() || n.size() > 5 || n.find_first_not_of("0123456789") != std::string::npos) {
            return false;
        }
        int v = std::stoi(std::string(n));
        return v >= 1 && v <= 65535;
    };
    auto dash = port.find('-');
    bool ok_port = dash == std::string::npos ? valid(port)
                                             : valid(std::string_view(port).substr(0, dash)) &&
                                                   valid(std::string_view(port).substr(dash + 1));
    if (!ok_port) {
        return fail(Error::msg("port '{}': expected a number 1-65535 or a range", p));
    }
    return port + "/" + proto;
}

Duration ns_or(int64_t ns, Duration def) {
    return ns > 0 ? Duration(ns) : def;
}

}  // namespace

Result<ServiceDefaults> resolve_service(const ContainerConfig& image, const ServiceOverrides& s) {
    ServiceDefaults out;
    // 1. Process: entrypoint + command, with --entrypoint dropping the image's Cmd.
    std::vector<std::string> entrypoint = s.entrypoint ? *s.entrypoint : image.entrypoint;
    std::vector<std::string> cmd;
    if (s.command) {
        cmd = *s.command;
    } else if (!s.entrypoint) {
        cmd = image.cmd;
    }
    out.argv = entrypoint;
    out.argv.insert(out.argv.end(), cmd.begin(), cmd.end());
    if (out.argv.empty()) {
        return fail(
            Error::msg("nothing to run: the image has no Entrypoint or Cmd and the "
                       "service sets no entrypoint or command"));
    }
    // 2. Environment: image first, service overrides by key.
    std::vector<std::pair<std::string, std::optional<std::string>>> env;
    auto set = [&](const std::string& k, std::optional<std::string> v) {
        auto it = std::find_if(env.begin(), env.end(), [&](const auto& e) { return e.first == k; });
        if (it != env.end()) {
            it->second = std::move(v);
        } else {
            env.emplace_back(k, std::move(v));
        }
    };
    for (const auto& e : image.env) {
        auto eq = e.find('=');
        if (eq == 0) {
            return fail(Error::msg("image Env entry '{}' has no name", e));
        }
        if (eq == std::string::npos) {
            set(e, std::string());  // Docker treats "KEY" in an image config as KEY=""
        } else {
            set(e.substr(0, eq), e.substr(eq + 1));
        }
    }
    for (const auto& [k, v] : s.environment) {
        if (k.empty() || k.find('=') != std::string::npos) {
            return fail(Error::msg("environment name '{}' is empty or contains '='", k));
        }
        set(k, v);
    }
    bool has_path = false;
    for (const auto& [k, v] : env) {
        if (v) {
            out.env.push_back(k + "=" + *v);
            has_path = has_path || k == "PATH";
        }
    }
    if (!has_path) {
        out.env.insert(out.env.begin(), "PATH=" + std::string(kDefaultPath));
    }
    // 3. Plain replacements.
    out.working_dir = s.working_dir.value_or(image.working_dir.empty() ? "/" : image.working_dir);
    if (!out.working_dir.starts_with('/')) {
        return fail(Error::msg("working_dir '{}' must be an absolute path", out.working_dir));
    }
    out.user = s.user.value_or(image.user);
    out.stop_signal =
        s.stop_signal.value_or(image.stop_signal.empty() ? "SIGTERM" : image.stop_signal);
    // 4. Ports: union, normalised, image order first.
    for (const auto& p : image.exposed_ports) {
        out.exposed_ports.push_back(GANTRY_TRY_CTX(normalize_port(p), "image ExposedPorts"));
    }
    for (const auto& p : s.expose) {
        auto n = GANTRY_TRY_CTX(normalize_port(p), "expose");
        if (std::find(out.exposed_ports.begin(), out.exposed_ports.end(), n) ==
            out.exposed_ports.end()) {
            out.exposed_ports.push_back(n);
        }
    }
    // 5. Healthcheck: field-wise merge.
    std::optional<HealthcheckSpec> hc;
    if (image.healthcheck) {
        const auto& h = *image.healthcheck;
        hc = HealthcheckSpec{h.test, ns_or(h.interval_ns, kDefaultInterval),
                             ns_or(h.timeout_ns, kDefaultTimeout), ns_or(h.start_period_ns, {}),
                             h.retries > 0 ? h.retries : kDefaultRetries};
    }
    if (s.healthcheck) {
        const auto& o = *s.healthcheck;
        if (o.disable) {
            hc.reset();
        } else {
            if (!hc) {
                hc = HealthcheckSpec{{}, kDefaultInterval, kDefaultTimeout, {}, kDefaultRetries};
            }
            if (o.test) {
                hc->test = *o.test;
            }
            hc->interval = o.interval.value_or(hc->interval);
            hc->timeout = o.timeout.value_or(hc->timeout);
            hc->start_period = o.start_period.value_or(hc->start_period);
            hc->retries = o.retries.value_or(hc->retries);
        }
    }
    if (hc && (hc->test.empty() || hc->test[0] == "NONE")) {
        hc.reset();
    }
    if (hc && hc->test[0] != "CMD" && hc->test[0] != "CMD-SHELL") {
        return fail(Error::msg("healthcheck test must start with CMD, CMD-SHELL or NONE, not '{}'",
                               hc->test[0]));
    }
    out.healthcheck = std::move(hc);
    return out;
}

}  // namespace gantry::image
