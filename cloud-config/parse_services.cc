// The services section: Docker Compose's service keys, plus Gantry's type, notify,
// start_timeout and watchdog.
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "cloud-config/parse_services_internal.h"

namespace gantry::config::detail {
namespace {

const std::vector<std::string> kServiceKeys = {
    "image",       "command",       "entrypoint",
    "environment", "env_file",      "ports",
    "volumes",     "tmpfs",         "restart",
    "depends_on",  "healthcheck",   "user",
    "working_dir", "read_only",     "cap_add",
    "cap_drop",    "privileged",    "network_mode",
    "hostname",    "stop_signal",   "stop_grace_period",
    "ulimits",     "sysctls",       "labels",
    "mem_limit",   "cpus",          "pids_limit",
    "deploy",      "type",          "notify",
    "resources",   "start_timeout", "watchdog",
};

// Compose keys with no meaning on a single Gantry machine, with what to do instead.
const std::vector<ForeignKey> kForeignService = {
    {"build",
     "Gantry does not build images; build and push it elsewhere, then name it in "
     "image"},
    {"container_name", "the container is named after the service; remove container_name"},
    {"networks", "services share one bridge network; choose with network_mode"},
    {"links",
     "services reach each other by name through the built-in DNS; use depends_on for "
     "start order"},
    {"extends", "extends is not supported; write the service out in full"},
    {"profiles", "profiles are not supported: every service in the file runs"},
    {"scale", "one container per service; declare a second service to run two"},
};

// Compose service names: what `docker compose` accepts, and what makes a DNS label.
bool is_valid_service_name(std::string_view n) {
    if (n.empty() || n.size() > 63 || !std::isalnum(static_cast<unsigned char>(n[0]))) {
        return false;
    }
    return std::all_of(n.begin(), n.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
}

void parse_command(Reader& r, const Fields& f, std::string_view key, const std::string& path,
                   std::vector<std::string>& out) {
    const YAML::Node* v = f.get(key);
    if (!v) {
        return;
    }
    std::string p = child(path, key);
    if (v->IsScalar()) {
        auto words = split_command(v->Scalar());
        if (!words) {
            r.error(*v, p, "unterminated quote; write the command as a list to avoid quoting");
        } else {
            out = std::move(*words);
        }
        return;
    }
    if (auto l = r.strings(*v, p, true)) {
        out = std::move(*l);
    }
}

void parse_restart(Reader& r, const YAML::Node& n, const std::string& path, Restart& out) {
    auto s = r.string(n, path);
    if (!s) {
        return;
    }
    static const std::vector<std::string> names = {"no", "always", "on-failure", "unless-stopped"};
    if (*s == "no") {
        out.policy = RestartPolicy::no;
    } else if (*s == "always") {
        out.policy = RestartPolicy::always;
    } else if (*s == "unless-stopped") {
        out.policy = RestartPolicy::unless_stopped;
    } else if (*s == "on-failure") {
        out.policy = RestartPolicy::on_failure;
    } else if (s->rfind("on-failure:", 0) == 0) {
        std::string n_text = s->substr(11);
        bool ok = !n_text.empty() && n_text.size() < 10 &&
                  std::all_of(n_text.begin(), n_text.end(), ::isdigit) && std::stoul(n_text) > 0;
        if (!ok) {
            r.error(n, path,
                    fmt::format("\"{}\": the retry count after on-failure: is a number of 1 or "
                                "more, e.g. on-failure:5",
                                *s));
            return;
        }
        out.policy = RestartPolicy::on_failure;
        out.max_retries = static_cast<uint32_t>(std::stoul(n_text));
    } else {
        r.error(n, path, fmt::format("\"{}\" is not one of {}", *s, join(names, ", ")),
                closest_match(*s, names));
    }
}

void parse_depends_on(Reader& r, const YAML::Node& n, const std::string& path,
                      std::vector<Dependency>& out) {
    if (n.IsSequence()) {
        size_t i = 0;
        for (const auto& x : n) {
            std::string p = item(path, i++);
            if (auto s = r.string(x, p)) {
                out.push_back(Dependency{*s, DependCondition::service_started, Reader::mark(x)});
            }
        }
        return;
    }
    auto es = r.entries(n, path);
    if (!es) {
        return;
    }
    for (const auto& e : *es) {
        Dependency d{e.key, DependCondition::service_started, Reader::mark(e.key_node)};
        std::string p = child(path, e.key);
        if (!e.value.IsNull()) {
            if (auto f = r.fields(e.value, p, {"condition", "restart", "required"})) {
                r.get_choice(
                    *f, "condition", p, d.condition,
                    Choices<DependCondition>{{"service_started", DependCondition::service_started},
                                             {"service_healthy", DependCondition::service_healthy},
                                             {"service_completed_successfully",
                                              DependCondition::service_completed_successfully}});
                // restart/required are accepted for Compose compatibility: Gantry always
                // restarts dependents in order and every dependency is required.
                bool ignored = true;
                r.get(*f, "restart", p, ignored);
                r.get(*f, "required", p, ignored);
                if (f->has("required") && !ignored) {
                    r.error(*f->get("required"), child(p, "required"),
                            "optional dependencies are not supported; remove the dependency");
                }
            }
        }
        out.push_back(std::move(d));
    }
}

void parse_healthcheck(Reader& r, const YAML::Node& n, const std::string& path,
                       std::optional<Healthcheck>& out) {
    auto f =
        r.fields(n, path, {"test", "interval", "timeout", "retries", "start_period", "disable"});
    if (!f) {
        out = Healthcheck{};
        return;
    }
    Healthcheck h;
    bool disable = false;
    r.get(*f, "disable", path, disable);
    if (const YAML::Node* t = f->get("test")) {
        std::string p = child(path, "test");
        if (t->IsScalar()) {
            h.test = {"/bin/sh", "-c", t->Scalar()};
        } else if (auto l = r.strings(*t, p)) {
            if (l->empty() || ((*l)[0] != "CMD" && (*l)[0] != "CMD-SHELL" && (*l)[0] != "NONE")) {
                r.error(*t, p,
                        "a test list starts with CMD, CMD-SHELL or NONE, e.g. [\"CMD\", "
                        "\"/bin/check\"]");
            } else if ((*l)[0] == "NONE") {
                disable = true;
            } else if (l->size() < 2) {
                r.error(*t, p, fmt::format("{} needs a command after it", (*l)[0]));
            } else if ((*l)[0] == "CMD") {
                h.test.assign(l->begin() + 1, l->end());
            } else {
                h.test = {"/bin/sh", "-c", join({l->begin() + 1, l->end()}, " ")};
            }
        }
    }
    r.get_duration(*f, "interval", path, h.interval);
    r.get_duration(*f, "timeout", path, h.timeout);
    r.get_duration(*f, "start_period", path, h.start_period);
    r.get(*f, "retries", path, h.retries);
    if (disable) {
        if (f->has("test") && !h.test.empty()) {
            r.error(n, path, "disable: true (or test: [NONE]) conflicts with a test; keep one");
        }
        out.reset();
        return;
    }
    if (!f->has("test")) {
        r.error(n, path, "missing \"test\" (the check to run, e.g. [\"CMD\", \"/bin/check\"])");
    }
    if (f->has("interval") && h.interval == Duration::zero()) {
        r.error(*f->get("interval"), child(path, "interval"), "must be more than 0");
    }
    if (f->has("timeout") && h.timeout == Duration::zero()) {
        r.error(*f->get("timeout"), child(path, "timeout"), "must be more than 0");
    }
    out = std::move(h);
}

void parse_ulimits(Reader& r, const YAML::Node& n, const std::string& path,
                   std::map<std::string, Ulimit>& out) {
    // setrlimit(2) resources, as Docker names them.
    static const std::vector<std::string> names = {
        "core",   "cpu",   "data", "fsize",  "locks",  "memlock",    "msgqueue", "nice",
        "nofile", "nproc", "rss",  "rtprio", "rttime", "sigpending", "stack",
    };
    auto es = r.entries(n, path);
    if (!es) {
        return;
    }
    constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
    for (const auto& e : *es) {
        std::string p = child(path, e.key);
        if (std::find(names.begin(), names.end(), e.key) == names.end()) {
            r.error(e.key_node, p, fmt::format("not a resource limit: {}", join(names, ", ")),
                    closest_match(e.key, names));
            continue;
        }
        Ulimit u;
        if (e.value.IsMap()) {
            auto f = r.fields(e.value, p, {"soft", "hard"});
            if (!f) {
                continue;
            }
            r.require(*f, "soft", p, "the soft limit");
            r.require(*f, "hard", p, "the hard limit");
            if (auto* v = f->get("soft")) {
                u.soft = r.unsigned_int(*v, child(p, "soft"), kMax).value_or(0);
            }
            if (auto* v = f->get("hard")) {
                u.hard = r.unsigned_int(*v, child(p, "hard"), kMax).value_or(0);
            }
            if (u.soft > u.hard) {
                r.error(e.value, p,
                        fmt::format("soft limit {} is above hard limit {}", u.soft, u.hard));
            }
        } else if (auto v = r.unsigned_int(e.value, p, kMax)) {
            u.soft = u.hard = *v;
        }
        out[e.key] = u;
    }
}

// {memory, cpus, pids}: the body of Compose's deploy.resources.limits and of Gantry's
// shorter `resources` (the spelling DESIGN.md shows).
void parse_limits(Reader& r, const YAML::Node& n, const std::string& lp, Resources& res) {
    auto lf = r.fields(n, lp, {"cpus", "memory", "pids"});
    if (!lf) {
        return;
    }
    r.get_size(*lf, "memory", lp, res.memory_bytes);
    if (auto* v = lf->get("cpus")) {
        res.cpus = r.number(*v, child(lp, "cpus")).value_or(0);
    }
    if (auto* v = lf->get("pids")) {
        res.pids = r.unsigned_int(*v, child(lp, "pids"), 4194304).value_or(0);
    }
}

void parse_deploy(Reader& r, const YAML::Node& n, const std::string& path, Resources& res) {
    static const std::vector<ForeignKey> foreign = {
        {"replicas", "one container per service; declare a second service to run two"},
        {"restart_policy", "use the service's restart key"},
        {"placement", "there is one machine; remove placement"},
        {"mode", "there is one machine; remove mode"},
        {"update_config", "services are replaced on the next boot; remove update_config"},
    };
    auto f = r.fields(n, path, {"resources"}, foreign);
    if (!f) {
        return;
    }
    const YAML::Node* rn = f->get("resources");
    if (!rn) {
        return;
    }
    std::string rp = child(path, "resources");
    auto rf = r.fields(*rn, rp, {"limits"},
                       {{"reservations", "Gantry enforces limits only; remove reservations"}});
    if (!rf || !rf->has("limits")) {
        return;
    }
    parse_limits(r, *rf->get("limits"), child(rp, "limits"), res);
}

void parse_service(Reader& r, const Entry& e, Service& s) {
    std::string path = child("services", e.key);
    s.name = e.key;
    s.mark = Reader::mark(e.key_node);
    if (!is_valid_service_name(e.key)) {
        r.error(e.key_node, path,
                "a service name is letters, digits, '-', '_' and '.', starting with a letter or "
                "digit, at most 63");
    }
    auto f = r.fields(e.value, path, kServiceKeys, kForeignService);
    if (!f) {
        return;
    }
    for (const auto& key : kServiceKeys) {
        if (const YAML::Node* k = f->key_node(key)) {
            s.key_marks[key] = Reader::mark(*k);
        }
    }
    r.get_choice(
        *f, "type", path, s.type,
        Choices<ServiceType>{{"service", ServiceType::service}, {"oneshot", ServiceType::oneshot}});
    r.require(*f, "image", path, "the container image, e.g. nginx:1.25");
    r.get(*f, "image", path, s.image);
    if (f->has("image") && f->get("image")->IsScalar() && s.image.empty()) {
        r.error(*f->get("image"), child(path, "image"), "is empty; name an image, e.g. nginx:1.25");
    }
    parse_command(r, *f, "command", path, s.command);
    parse_command(r, *f, "entrypoint", path, s.entrypoint);
    if (auto* v = f->get("environment")) {
        if (auto m = r.string_map(*v, child(path, "environment"), true)) {
            s.environment = std::move(*m);
        }
    }
    r.get(*f, "env_file", path, s.env_file, true);
    for (size_t i = 0; i < s.env_file.size(); ++i) {
        if (!is_absolute_path(s.env_file[i])) {
            r.error(*f->get("env_file"), child(path, "env_file"),
                    fmt::format("\"{}\" must be an absolute path on the machine", s.env_file[i]));
        }
    }
    if (auto* v = f->get("ports")) {
        std::string p = child(path, "ports");
        if (auto list = r.items(*v, p)) {
            for (size_t i = 0; i < list->size(); ++i) {
                const YAML::Node& x = (*list)[i];
                auto port = x.IsMap() ? parse_port_long(r, x, item(p, i))
                                      : parse_port_short(r, x, item(p, i));
                if (port) {
                    s.ports.push_back(*port);
                }
            }
        }
    }
    if (auto* v = f->get("volumes")) {
        std::string p = child(path, "volumes");
        if (auto list = r.items(*v, p)) {
            for (size_t i = 0; i < list->size(); ++i) {
                if (auto vol = parse_volume(r, (*list)[i], item(p, i))) {
                    s.volumes.push_back(*vol);
                }
            }
        }
    }
    if (auto* v = f->get("tmpfs")) {
        std::string p = child(path, "tmpfs");
        if (v->IsScalar()) {
            if (auto t = parse_tmpfs(r, *v, p)) {
                s.tmpfs.push_back(*t);
            }
        } else if (auto list = r.items(*v, p)) {
            for (size_t i = 0; i < list->size(); ++i) {
                if (auto t = parse_tmpfs(r, (*list)[i], item(p, i))) {
                    s.tmpfs.push_back(*t);
                }
            }
        }
    }
    if (auto* v = f->get("restart")) {
        parse_restart(r, *v, child(path, "restart"), s.restart);
    }
    if (auto* v = f->get("depends_on")) {
        parse_depends_on(r, *v, child(path, "depends_on"), s.depends_on);
    }
    if (auto* v = f->get("healthcheck")) {
        parse_healthcheck(r, *v, child(path, "healthcheck"), s.healthcheck);
    }
    r.get(*f, "user", path, s.user);
    r.get(*f, "working_dir", path, s.working_dir);
    if (f->has("working_dir") && !is_absolute_path(s.working_dir)) {
        r.error(*f->get("working_dir"), child(path, "working_dir"), "must be an absolute path");
    }
    r.get(*f, "read_only", path, s.read_only);
    for (auto [key, out] : {std::pair{"cap_add", &s.cap_add}, std::pair{"cap_drop", &s.cap_drop}}) {
        if (auto* v = f->get(key)) {
            std::string p = child(path, key);
            if (auto list = r.items(*v, p)) {
                for (size_t i = 0; i < list->size(); ++i) {
                    if (auto c = parse_capability(r, (*list)[i], item(p, i))) {
                        out->push_back(*c);
                    }
                }
            }
        }
    }
    r.get(*f, "privileged", path, s.privileged);
    if (auto* v = f->get("network_mode")) {
        std::string p = child(path, "network_mode");
        if (auto m = r.string(*v, p)) {
            if (m->rfind("service:", 0) == 0 && m->size() > 8) {
                s.network_mode = NetworkMode::service;
                s.network_service = m->substr(8);
            } else if (auto c = r.choice(*v, p,
                                         Choices<NetworkMode>{{"bridge", NetworkMode::bridge},
                                                              {"host", NetworkMode::host},
                                                              {"none", NetworkMode::none}})) {
                s.network_mode = *c;
            }
        }
    }
    r.get(*f, "hostname", path, s.hostname);
    if (f->has("hostname") && !is_valid_hostname(s.hostname)) {
        r.error(*f->get("hostname"), child(path, "hostname"),
                fmt::format("\"{}\" is not a valid host name", s.hostname));
    }
    if (auto* v = f->get("stop_signal")) {
        if (auto sig = parse_signal(r, *v, child(path, "stop_signal"))) {
            s.stop_signal = *sig;
        }
    }
    r.get_duration(*f, "stop_grace_period", path, s.stop_grace_period);
    if (auto* v = f->get("ulimits")) {
        parse_ulimits(r, *v, child(path, "ulimits"), s.ulimits);
    }
    if (auto* v = f->get("sysctls")) {
        if (auto m = r.string_map(*v, child(path, "sysctls"), true)) {
            s.sysctls = std::move(*m);
        }
    }
    if (auto* v = f->get("labels")) {
        if (auto m = r.string_map(*v, child(path, "labels"), true)) {
            s.labels = std::move(*m);
        }
    }
    r.get_size(*f, "mem_limit", path, s.resources.memory_bytes);
    if (auto* v = f->get("cpus")) {
        s.resources.cpus = r.number(*v, child(path, "cpus")).value_or(0);
    }
    if (auto* v = f->get("pids_limit")) {
        s.resources.pids = r.unsigned_int(*v, child(path, "pids_limit"), 4194304).value_or(0);
    }
    // Limits have three spellings (mem_limit/cpus/pids_limit, resources, and Compose's
    // deploy.resources.limits); one limit written in two places is ambiguous, so an error.
    struct Spelling {
        std::string_view key;
        std::string_view memory, cpus, pids;
        Resources res;
    };
    std::vector<Spelling> spellings;
    if (auto* v = f->get("resources")) {
        Spelling sp{"resources", "resources.memory", "resources.cpus", "resources.pids", {}};
        parse_limits(r, *v, child(path, "resources"), sp.res);
        spellings.push_back(sp);
    }
    if (auto* v = f->get("deploy")) {
        Spelling sp{"deploy",
                    "deploy.resources.limits.memory",
                    "deploy.resources.limits.cpus",
                    "deploy.resources.limits.pids",
                    {}};
        parse_deploy(r, *v, child(path, "deploy"), sp.res);
        spellings.push_back(sp);
    }
    for (const auto& sp : spellings) {
        const YAML::Node& at = *f->get(sp.key);
        auto merge = [&](bool set_here, bool set_before, std::string_view before,
                         std::string_view here) {
            if (set_here && set_before) {
                r.error(at, child(path, sp.key),
                        fmt::format("set either {} or {}, not both", before, here));
            }
        };
        merge(sp.res.memory_bytes != 0, s.resources.memory_bytes != 0,
              f->has("mem_limit") ? "mem_limit" : "resources.memory", sp.memory);
        merge(sp.res.cpus != 0, s.resources.cpus != 0, f->has("cpus") ? "cpus" : "resources.cpus",
              sp.cpus);
        merge(sp.res.pids != 0, s.resources.pids != 0,
              f->has("pids_limit") ? "pids_limit" : "resources.pids", sp.pids);
        if (sp.res.memory_bytes != 0) {
            s.resources.memory_bytes = sp.res.memory_bytes;
        }
        if (sp.res.cpus != 0) {
            s.resources.cpus = sp.res.cpus;
        }
        if (sp.res.pids != 0) {
            s.resources.pids = sp.res.pids;
        }
    }
    r.get(*f, "notify", path, s.notify);
    r.get_duration(*f, "start_timeout", path, s.start_timeout);
    r.get_duration(*f, "watchdog", path, s.watchdog);
}

}  // namespace

void parse_services(Reader& r, const YAML::Node& n, std::vector<Service>& out) {
    if (n.IsNull()) {
        return;
    }
    auto es = r.entries(n, "services");
    if (!es) {
        return;
    }
    for (const auto& e : *es) {
        Service s;
        parse_service(r, e, s);
        out.push_back(std::move(s));
    }
    std::sort(out.begin(), out.end(),
              [](const Service& a, const Service& b) { return a.name < b.name; });
}

}  // namespace gantry::config::detail
