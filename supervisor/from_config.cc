#include "supervisor/from_config.h"

#include <algorithm>
#include <map>

#include "base/fd.h"
#include "base/strings.h"
#include "image/service_defaults.h"

namespace gantry::supervisor {

namespace {

bool written(const config::Service& svc, std::string_view key) {
    return svc.key_marks.contains(std::string(key));
}

RestartPolicy map_restart(config::RestartPolicy p) {
    switch (p) {
        case config::RestartPolicy::no:
            return RestartPolicy::No;
        case config::RestartPolicy::always:
            return RestartPolicy::Always;
        case config::RestartPolicy::on_failure:
            return RestartPolicy::OnFailure;
        case config::RestartPolicy::unless_stopped:
            return RestartPolicy::UnlessStopped;
    }
    return RestartPolicy::No;
}

DependCondition map_condition(config::DependCondition c) {
    switch (c) {
        case config::DependCondition::service_started:
            return DependCondition::Started;
        case config::DependCondition::service_healthy:
            return DependCondition::Healthy;
        case config::DependCondition::service_completed_successfully:
            return DependCondition::CompletedSuccessfully;
    }
    return DependCondition::Started;
}

std::string port_text(const config::Port& p) {
    std::string s;
    if (p.host_start != 0) {
        s = fmt::format("{}{}{}:", p.host_ip.empty() ? "" : p.host_ip, p.host_ip.empty() ? "" : ":",
                        p.host_start);
    }
    return fmt::format("{}{}/{}", s, p.container_start, to_string(p.protocol));
}

// env_file entries first, `environment` over them (Compose: environment wins).
Result<std::vector<std::pair<std::string, std::optional<std::string>>>> service_env(
    const config::Service& svc, const FromConfigOptions& opts) {
    std::vector<std::pair<std::string, std::optional<std::string>>> env;
    auto set = [&](const std::string& k, std::string v) {
        auto it = std::find_if(env.begin(), env.end(), [&](const auto& e) { return e.first == k; });
        if (it != env.end()) {
            it->second = std::move(v);
        } else {
            env.emplace_back(k, std::move(v));
        }
    };
    for (const auto& file : svc.env_file) {
        std::string path = file.starts_with('/') ? file : opts.base_dir + "/" + file;
        auto bytes = read_file(path);
        if (!bytes) {
            return fail(
                Error::msg("service \"{}\": env_file {}: {}", svc.name, path, bytes.error().str()));
        }
        for (auto& [k, v] : GANTRY_TRY(parse_env_file(*bytes, path))) {
            set(k, std::move(v));
        }
    }
    for (const auto& [k, v] : svc.environment) {
        set(k, v);
    }
    return env;
}

image::ServiceOverrides overrides_of(
    const config::Service& svc,
    std::vector<std::pair<std::string, std::optional<std::string>>> env) {
    image::ServiceOverrides o;
    // The model leaves an unset list empty; `entrypoint: []` (none) is told apart by the
    // key having been written.
    if (written(svc, "entrypoint")) {
        o.entrypoint = svc.entrypoint;
    }
    if (written(svc, "command")) {
        o.command = svc.command;
    }
    o.environment = std::move(env);
    if (written(svc, "working_dir")) {
        o.working_dir = svc.working_dir;
    }
    if (written(svc, "user")) {
        o.user = svc.user;
    }
    if (written(svc, "stop_signal")) {
        o.stop_signal = signal_name(svc.stop_signal);
    }
    if (svc.healthcheck) {
        image::HealthcheckOverride h;
        h.test = std::vector<std::string>{"CMD"};
        h.test->insert(h.test->end(), svc.healthcheck->test.begin(), svc.healthcheck->test.end());
        h.interval = svc.healthcheck->interval;
        h.timeout = svc.healthcheck->timeout;
        h.start_period = svc.healthcheck->start_period;
        h.retries = static_cast<int>(svc.healthcheck->retries);
        o.healthcheck = h;
    } else if (written(svc, "healthcheck")) {
        o.healthcheck = image::HealthcheckOverride{.disable = true};  // disable / [NONE]
    }
    return o;
}

// ["CMD", a, b] -> {a, b}; ["CMD-SHELL", s] -> sh -c s; ["NONE"] / empty -> none.
std::optional<HealthCheck> map_health(const std::optional<image::HealthcheckSpec>& h) {
    if (!h || h->test.empty() || h->test[0] == "NONE") {
        return std::nullopt;
    }
    HealthCheck out;
    if (h->test[0] == "CMD") {
        out.test.assign(h->test.begin() + 1, h->test.end());
    } else if (h->test[0] == "CMD-SHELL") {
        std::vector<std::string> rest(h->test.begin() + 1, h->test.end());
        out.test = {"/bin/sh", "-c", join(rest, " ")};
    } else {
        out.test = h->test;  // a bare argv (Docker accepts it too)
    }
    if (out.test.empty()) {
        return std::nullopt;
    }
    out.interval = h->interval;
    out.timeout = h->timeout;
    out.start_period = h->start_period;
    out.retries = h->retries;
    return out;
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> parse_env_file(std::string_view bytes,
                                                                        std::string_view origin) {
    std::vector<std::pair<std::string, std::string>> out;
    int line_no = 0;
    for (auto line : split(bytes, '\n')) {
        ++line_no;
        std::string l(trim(line));
        if (l.empty() || l.starts_with('#')) {
            continue;
        }
        auto eq = l.find('=');
        std::string key = std::string(trim(l.substr(0, eq)));
        if (key.empty()) {
            return fail(Error::msg("{}:{}: a line must be KEY=VALUE", origin, line_no));
        }
        std::string value = eq == std::string::npos ? "" : l.substr(eq + 1);
        // Compose strips one pair of matching quotes around the value.
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
            value.back() == value.front()) {
            value = value.substr(1, value.size() - 2);
        }
        out.emplace_back(std::move(key), std::move(value));
    }
    return out;
}

Result<ServiceSpec> service_from_config(const config::Service& svc, const FromConfigOptions& opts,
                                        const image::ContainerConfig* image_config) {
    ServiceSpec spec;
    spec.name = svc.name;
    spec.image = svc.image;
    auto env = GANTRY_TRY(service_env(svc, opts));
    image::ServiceOverrides o = overrides_of(svc, env);
    if (image_config) {
        auto d = image::resolve_service(*image_config, o);
        if (!d) {
            spec.image_error = fmt::format("image {}: {}", svc.image, d.error().str());
        } else {
            spec.argv = d->argv;
            spec.env = d->env;
            spec.working_dir = d->working_dir;
            spec.user = d->user;
            spec.stop_signal = GANTRY_TRY_CTX(parse_signal(d->stop_signal),
                                              "service \"{}\": stop_signal", svc.name);
            spec.healthcheck = map_health(d->healthcheck);
        }
    }
    if (!image_config || !spec.image_error.empty()) {
        // No image config: what the config itself says (the driver fails the start when
        // image_error is set, so this only shapes inspect's output).
        spec.argv = svc.entrypoint;
        spec.argv.insert(spec.argv.end(), svc.command.begin(), svc.command.end());
        bool has_path = false;
        for (const auto& [k, v] : env) {
            spec.env.push_back(k + "=" + v.value_or(""));
            has_path = has_path || k == "PATH";
        }
        if (!has_path) {
            spec.env.insert(spec.env.begin(), "PATH=" + std::string(image::kDefaultPath));
        }
        spec.working_dir = svc.working_dir;
        spec.user = svc.user;
        spec.stop_signal = svc.stop_signal;
        if (svc.healthcheck) {
            spec.healthcheck = HealthCheck{
                svc.healthcheck->test, svc.healthcheck->interval, svc.healthcheck->timeout,
                static_cast<int>(svc.healthcheck->retries), svc.healthcheck->start_period};
        }
        if (spec.argv.empty() && spec.image_error.empty()) {
            spec.image_error = fmt::format(
                "image {} was not looked up and the service sets no "
                "entrypoint or command",
                svc.image);
        }
    }
    spec.restart = map_restart(svc.restart.policy);
    spec.max_retries = static_cast<int>(svc.restart.max_retries);
    for (const auto& d : svc.depends_on) {
        spec.depends_on.push_back({d.service, map_condition(d.condition)});
    }
    spec.type =
        svc.type == config::ServiceType::oneshot ? ServiceType::Oneshot : ServiceType::Simple;
    spec.notify = svc.notify;
    spec.start_timeout = svc.start_timeout;
    spec.watchdog = svc.watchdog;
    spec.stop_grace_period = svc.stop_grace_period;
    spec.resources = {svc.resources.memory_bytes, svc.resources.cpus,
                      static_cast<int64_t>(svc.resources.pids)};
    spec.read_only = svc.read_only;
    for (const auto& v : svc.volumes) {
        switch (v.type) {
            case config::VolumeType::bind:
                spec.volumes.push_back({v.source, v.target, v.read_only});
                break;
            case config::VolumeType::volume: {
                // An anonymous volume is the service's own, kept across restarts.
                std::string name = v.source;
                if (name.empty()) {
                    name = svc.name + v.target;
                    std::ranges::replace(name, '/', '_');
                }
                spec.volumes.push_back({opts.volumes_dir + "/" + name, v.target, v.read_only});
                break;
            }
            case config::VolumeType::tmpfs:
                spec.tmpfs.push_back({v.target, 0});
                break;
        }
    }
    for (const auto& t : svc.tmpfs) {
        spec.tmpfs.push_back({t.target, t.size_bytes});
    }
    spec.cap_add = svc.cap_add;
    spec.cap_drop = svc.cap_drop;
    spec.privileged = svc.privileged;
    switch (svc.network_mode) {
        case config::NetworkMode::host:
            spec.network_mode = NetworkMode::Host;
            break;
        case config::NetworkMode::none:
            spec.network_mode = NetworkMode::None;
            break;
        default:
            // bridge, and service:NAME until netd exists: a private namespace with lo.
            spec.network_mode = NetworkMode::Bridge;
            break;
    }
    spec.hostname = svc.hostname.empty() ? svc.name : svc.hostname;
    for (const auto& [k, u] : svc.ulimits) {
        spec.ulimits[k] = {u.soft, u.hard};
    }
    spec.sysctls = svc.sysctls;
    spec.labels = svc.labels;
    for (const auto& p : svc.ports) {
        spec.ports.push_back(port_text(p));
    }
    return spec;
}

Result<ServiceSpec> resolve_pending_image(const PendingImage& p,
                                          const image::ContainerConfig& image_config) {
    return service_from_config(p.service, p.options, &image_config);
}

Result<std::vector<ServiceSpec>> services_from_config(const config::Config& cfg,
                                                      const FromConfigOptions& opts) {
    std::map<std::string, Result<image::ContainerConfig>> images;
    std::vector<ServiceSpec> out;
    for (const auto& svc : cfg.services) {
        const image::ContainerConfig* ic = nullptr;
        std::string lookup_error;
        bool pending = false;
        if (opts.lookup) {
            auto it = images.find(svc.image);
            if (it == images.end()) {
                it = images.emplace(svc.image, opts.lookup(svc.image)).first;
            }
            if (it->second) {
                ic = &*it->second;
            } else if (it->second.error().code() == ENOENT) {
                pending = true;
            } else {
                lookup_error = fmt::format("image {}: {}", svc.image, it->second.error().str());
            }
        }
        ServiceSpec spec = GANTRY_TRY(service_from_config(svc, opts, ic));
        if (!lookup_error.empty()) {
            spec.image_error = lookup_error;
        }
        if (pending) {
            // Not an error yet: argv and the rest come when the image helper has brought it.
            spec.image_error.clear();
            spec.pending_image = std::make_shared<const PendingImage>(PendingImage{svc, opts});
        }
        out.push_back(std::move(spec));
    }
    return out;
}

}  // namespace gantry::supervisor
