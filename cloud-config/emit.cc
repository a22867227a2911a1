#include "cloud-config/emit.h"

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "base/units.h"

namespace gantry::config {
namespace {

using nlohmann::ordered_json;

std::string str(std::string_view s) {
    return std::string(s);
}

std::string size_text(uint64_t bytes) {
    // Exact and readable: the biggest binary unit that divides the value.
    static const std::pair<uint64_t, const char*> units[] = {
        {1ull << 40, "T"}, {1ull << 30, "G"}, {1ull << 20, "M"}, {1ull << 10, "K"}};
    for (const auto& [mult, name] : units) {
        if (bytes != 0 && bytes % mult == 0) {
            return std::to_string(bytes / mult) + name;
        }
    }
    return std::to_string(bytes);
}

ordered_json service_json(const Service& s) {
    ordered_json j;
    j["type"] = str(to_string(s.type));
    j["image"] = s.image;
    j["command"] = s.command;
    j["entrypoint"] = s.entrypoint;
    j["environment"] = s.environment;
    j["env_file"] = s.env_file;
    ordered_json ports = ordered_json::array();
    for (const auto& p : s.ports) {
        auto range = [](uint16_t a, uint16_t b) {
            return a == b ? std::to_string(a) : std::to_string(a) + "-" + std::to_string(b);
        };
        std::string text;
        if (!p.host_ip.empty()) {
            text = (p.host_ip.find(':') != std::string::npos ? "[" + p.host_ip + "]" : p.host_ip) +
                   ":";
        }
        if (p.host_start != 0) {
            text += range(p.host_start, p.host_end) + ":";
        }
        text += range(p.container_start, p.container_end) + "/" + str(to_string(p.protocol));
        ports.push_back(text);
    }
    j["ports"] = ports;
    ordered_json vols = ordered_json::array();
    for (const auto& v : s.volumes) {
        vols.push_back(ordered_json{{"type", str(to_string(v.type))},
                                    {"source", v.source},
                                    {"target", v.target},
                                    {"read_only", v.read_only}});
    }
    j["volumes"] = vols;
    ordered_json tmpfs = ordered_json::array();
    for (const auto& t : s.tmpfs) {
        tmpfs.push_back(t.size_bytes ? t.target + ":size=" + size_text(t.size_bytes) : t.target);
    }
    j["tmpfs"] = tmpfs;
    std::string restart = str(to_string(s.restart.policy));
    if (s.restart.max_retries) {
        restart += ":" + std::to_string(s.restart.max_retries);
    }
    j["restart"] = restart;
    ordered_json deps = ordered_json::object();
    for (const auto& d : s.depends_on) {
        deps[d.service] = ordered_json{{"condition", str(to_string(d.condition))}};
    }
    j["depends_on"] = deps;
    if (s.healthcheck) {
        ordered_json test = ordered_json::array({"CMD"});
        for (const auto& a : s.healthcheck->test) {
            test.push_back(a);
        }
        j["healthcheck"] =
            ordered_json{{"test", test},
                         {"interval", format_duration(s.healthcheck->interval)},
                         {"timeout", format_duration(s.healthcheck->timeout)},
                         {"start_period", format_duration(s.healthcheck->start_period)},
                         {"retries", s.healthcheck->retries}};
    }
    // Empty means "the image's default"; an empty value would not read back.
    if (!s.user.empty()) {
        j["user"] = s.user;
    }
    if (!s.working_dir.empty()) {
        j["working_dir"] = s.working_dir;
    }
    j["read_only"] = s.read_only;
    j["cap_add"] = s.cap_add;
    j["cap_drop"] = s.cap_drop;
    j["privileged"] = s.privileged;
    j["network_mode"] = s.network_mode == NetworkMode::service ? "service:" + s.network_service
                                                               : str(to_string(s.network_mode));
    if (!s.hostname.empty()) {
        j["hostname"] = s.hostname;
    }
    j["stop_signal"] = std::to_string(s.stop_signal);
    j["stop_grace_period"] = format_duration(s.stop_grace_period);
    ordered_json ul = ordered_json::object();
    for (const auto& [k, u] : s.ulimits) {
        ul[k] = ordered_json{{"soft", u.soft}, {"hard", u.hard}};
    }
    j["ulimits"] = ul;
    j["sysctls"] = s.sysctls;
    j["labels"] = s.labels;
    j["mem_limit"] = s.resources.memory_bytes ? size_text(s.resources.memory_bytes) : "0";
    j["cpus"] = s.resources.cpus;
    j["pids_limit"] = s.resources.pids;
    j["notify"] = s.notify;
    if (s.notify) {
        j["start_timeout"] = format_duration(s.start_timeout);
        j["watchdog"] = format_duration(s.watchdog);
    }
    return j;
}

ordered_json config_json(const Config& c) {
    ordered_json j;
    if (!c.hostname.empty()) {
        j["hostname"] = c.hostname;
    }
    ordered_json users = ordered_json::array();
    for (const auto& u : c.users) {
        users.push_back(ordered_json{{"name", u.name},
                                     {"groups", u.groups},
                                     {"ssh_authorized_keys", u.ssh_authorized_keys},
                                     {"passwd", u.passwd},
                                     {"shell", u.shell},
                                     {"home", u.home}});
    }
    j["users"] = users;
    j["ssh_authorized_keys"] = c.ssh_authorized_keys;
    ordered_json files = ordered_json::array();
    for (const auto& w : c.write_files) {
        files.push_back(ordered_json{{"path", w.path},
                                     {"content", w.content},
                                     {"encoding", str(to_string(w.encoding))},
                                     {"permissions", fmt::format("{:04o}", w.permissions)},
                                     {"owner", w.owner},
                                     {"append", w.append}});
    }
    j["write_files"] = files;
    j["kernel"] = ordered_json{{"modules", c.kernel.modules}, {"sysctl", c.kernel.sysctl}};
    if (!c.timezone.empty()) {
        j["timezone"] = c.timezone;
    }
    ordered_json disks = ordered_json::array();
    for (const auto& d : c.storage.disks) {
        ordered_json parts = ordered_json::array();
        for (const auto& p : d.partitions) {
            ordered_json pj{{"label", p.label}, {"type", p.type}};
            if (p.number) {
                pj["number"] = p.number;
            }
            if (p.size_bytes) {
                pj["size"] = size_text(p.size_bytes);
            }
            parts.push_back(pj);
        }
        disks.push_back(
            ordered_json{{"device", d.device}, {"wipe", d.wipe}, {"partitions", parts}});
    }
    ordered_json fss = ordered_json::array();
    for (const auto& f : c.storage.filesystems) {
        ordered_json fj;
        if (!f.device.empty()) {
            fj["device"] = f.device;
        }
        if (!f.label.empty()) {
            fj["label"] = f.label;
        }
        fj["format"] = str(to_string(f.format));
        if (!f.mount.empty()) {
            fj["mount"] = f.mount;
        }
        fj["options"] = f.options;
        fj["wipe"] = f.wipe;
        fss.push_back(fj);
    }
    ordered_json mounts = ordered_json::array();
    for (const auto& m : c.storage.mounts) {
        ordered_json mj{{"device", m.device}, {"path", m.path}};
        if (!m.type.empty()) {
            mj["type"] = m.type;
        }
        mj["options"] = m.options;
        mounts.push_back(mj);
    }
    j["storage"] = ordered_json{{"disks", disks}, {"filesystems", fss}, {"mounts", mounts}};
    ordered_json ifs = ordered_json::object();
    for (const auto& i : c.network.interfaces) {
        ordered_json ij;
        if (!i.match_mac.empty()) {
            ij["match"] = ordered_json{{"mac", i.match_mac}};
        }
        ij["dhcp"] = i.dhcp;
        ij["addresses"] = i.addresses;
        if (!i.gateway.empty()) {
            ij["gateway"] = i.gateway;
        }
        ordered_json routes = ordered_json::array();
        for (const auto& r : i.routes) {
            routes.push_back(ordered_json{{"to", r.to}, {"via", r.via}, {"metric", r.metric}});
        }
        ij["routes"] = routes;
        if (i.mtu) {
            ij["mtu"] = i.mtu;
        }
        ifs[i.name] = ij;
    }
    j["network"] = ordered_json{{"interfaces", ifs},
                                {"dns", ordered_json{{"nameservers", c.network.dns.nameservers},
                                                     {"search", c.network.dns.search}}}};
    ordered_json services = ordered_json::object();
    for (const auto& s : c.services) {
        services[s.name] = service_json(s);
    }
    j["services"] = services;
    ordered_json kv{{"backend", str(to_string(c.kv.backend))}};
    if (c.kv.backend == KvBackend::etcd) {
        kv["endpoints"] = c.kv.endpoints;
    }
    j["kv"] = kv;
    j["update"] = ordered_json{{"channel", c.update.channel},
                               {"url", c.update.url},
                               {"public_key", c.update.public_key},
                               {"reboot_strategy", str(to_string(c.update.reboot_strategy))}};
    return j;
}

void emit(YAML::Emitter& out, const ordered_json& j) {
    switch (j.type()) {
        case ordered_json::value_t::object:
            if (j.empty()) {
                out << YAML::Flow;  // "{}" on the key's line, not a dangling block
            }
            out << YAML::BeginMap;
            for (const auto& [k, v] : j.items()) {
                out << YAML::Key << k << YAML::Value;
                emit(out, v);
            }
            out << YAML::EndMap;
            break;
        case ordered_json::value_t::array:
            if (j.empty()) {
                out << YAML::Flow;
            }
            out << YAML::BeginSeq;
            for (const auto& v : j) {
                emit(out, v);
            }
            out << YAML::EndSeq;
            break;
        case ordered_json::value_t::string: {
            const std::string& s = j.get_ref<const std::string&>();
            // Plain where yaml-cpp allows it: parse_config reads every scalar as text, so
            // "0644" or "true" read back as the same string; multi-line text as a block.
            if (s.find('\n') != std::string::npos) {
                out << YAML::Literal;
            }
            out << s;
            break;
        }
        case ordered_json::value_t::boolean:
            out << j.get<bool>();
            break;
        case ordered_json::value_t::number_float:
            out << j.get<double>();
            break;
        case ordered_json::value_t::number_integer:
        case ordered_json::value_t::number_unsigned:
            out << j.dump();
            break;
        default:
            out << YAML::Null;
    }
}

}  // namespace

std::string to_json(const Config& c) {
    return config_json(c).dump(2) + "\n";
}

std::string to_yaml(const Config& c) {
    YAML::Emitter out;
    out.SetBoolFormat(YAML::TrueFalseBool);
    out.SetLocalValue(YAML::Block);
    out << YAML::Comment("cloud-config (effective: defaults filled in)");
    emit(out, config_json(c));
    return std::string(out.c_str()) + "\n";
}

}  // namespace gantry::config
