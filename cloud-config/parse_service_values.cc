// Compose's compact value syntaxes inside a service: ports, volumes, tmpfs, command strings,
// signals and capabilities. Each returns nullopt after reporting what is wrong.
#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <limits>

#include "base/capability_names.h"
#include "cloud-config/parse_services_internal.h"

namespace gantry::config::detail {
namespace {

std::optional<uint16_t> port_number(std::string_view s) {
    if (s.empty() || s.size() > 5 || !std::all_of(s.begin(), s.end(), ::isdigit)) {
        return std::nullopt;
    }
    unsigned v = std::stoul(std::string(s));
    if (v < 1 || v > 65535) {
        return std::nullopt;
    }
    return static_cast<uint16_t>(v);
}

// "8000" or "8000-8010" into [start, end].
bool port_range(std::string_view s, uint16_t& start, uint16_t& end) {
    auto dash = s.find('-');
    auto a = port_number(s.substr(0, dash));
    auto b = dash == std::string_view::npos ? a : port_number(s.substr(dash + 1));
    if (!a || !b || *b < *a) {
        return false;
    }
    start = *a;
    end = *b;
    return true;
}

}  // namespace

std::optional<std::vector<std::string>> split_command(std::string_view s) {
    // POSIX shell word splitting without expansion: quotes and backslashes, as Compose does
    // for a string command (it uses shlex); nothing is run through a shell.
    std::vector<std::string> out;
    std::string cur;
    bool in_word = false;
    char quote = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (quote == '\'') {
            if (c == '\'') {
                quote = 0;
            } else {
                cur += c;
            }
        } else if (quote == '"') {
            if (c == '"') {
                quote = 0;
            } else if (c == '\\' && i + 1 < s.size() &&
                       (s[i + 1] == '"' || s[i + 1] == '\\' || s[i + 1] == '$')) {
                cur += s[++i];
            } else {
                cur += c;
            }
        } else if (c == '\'' || c == '"') {
            quote = c;
            in_word = true;
        } else if (c == '\\' && i + 1 < s.size()) {
            cur += s[++i];
            in_word = true;
        } else if (c == ' ' || c == '\t' || c == '\n') {
            if (in_word) {
                out.push_back(std::move(cur));
                cur.clear();
                in_word = false;
            }
        } else {
            cur += c;
            in_word = true;
        }
    }
    if (quote != 0) {
        return std::nullopt;
    }
    if (in_word) {
        out.push_back(std::move(cur));
    }
    return out;
}

std::optional<Port> parse_port_short(Reader& r, const YAML::Node& n, const std::string& path) {
    auto text = r.string(n, path);
    if (!text) {
        return std::nullopt;
    }
    Port p;
    p.mark = Reader::mark(n);
    std::string s = *text;
    if (auto slash = s.rfind('/'); slash != std::string::npos) {
        std::string proto = s.substr(slash + 1);
        if (proto == "udp") {
            p.protocol = Protocol::udp;
        } else if (proto != "tcp") {
            r.error(n, path, fmt::format("\"{}\" is not a protocol: use tcp or udp", proto),
                    closest_match(proto, {"tcp", "udp"}));
            return std::nullopt;
        }
        s.resize(slash);
    }
    // [HOST_IP:][HOST:]CONTAINER; an IPv6 host address is written in brackets.
    std::string ip;
    if (!s.empty() && s.front() == '[') {
        auto close = s.find("]:");
        if (close == std::string::npos) {
            r.error(n, path,
                    fmt::format("\"{}\": an IPv6 address is written [::1]:8080:80", *text));
            return std::nullopt;
        }
        ip = s.substr(1, close - 1);
        s = s.substr(close + 2);
    }
    std::vector<std::string> parts = split(s, ':');
    if (ip.empty() && parts.size() == 3) {
        ip = parts[0];
        parts.erase(parts.begin());
    }
    if (parts.empty() || parts.size() > 2 || (!ip.empty() && parts.size() != 2)) {
        r.error(n, path,
                fmt::format("\"{}\" is not a port mapping: write CONTAINER, HOST:CONTAINER or "
                            "IP:HOST:CONTAINER, e.g. \"8080:80\"",
                            *text));
        return std::nullopt;
    }
    if (!ip.empty() && !is_ip(ip)) {
        r.error(n, path, fmt::format("\"{}\" is not an IP address", ip));
        return std::nullopt;
    }
    p.host_ip = ip;
    if (!port_range(parts.back(), p.container_start, p.container_end)) {
        r.error(n, path,
                fmt::format("\"{}\" is not a port (1-65535) or a range such as 8000-8010",
                            parts.back()));
        return std::nullopt;
    }
    if (parts.size() == 2) {
        if (!port_range(parts[0], p.host_start, p.host_end)) {
            r.error(n, path,
                    fmt::format("\"{}\" is not a port (1-65535) or a range such as 8000-8010",
                                parts[0]));
            return std::nullopt;
        }
        if (p.host_end - p.host_start != p.container_end - p.container_start) {
            r.error(n, path,
                    fmt::format("host range {} and container range {} differ in length", parts[0],
                                parts[1]));
            return std::nullopt;
        }
    }
    return p;
}

std::optional<Port> parse_port_long(Reader& r, const YAML::Node& n, const std::string& path) {
    auto f = r.fields(n, path, {"target", "published", "protocol", "host_ip", "mode"});
    if (!f) {
        return std::nullopt;
    }
    Port p;
    p.mark = Reader::mark(n);
    r.require(*f, "target", path, "the container port");
    uint32_t target = 0, published = 0;
    r.get(*f, "target", path, target);
    r.get(*f, "published", path, published);
    if (f->has("target") && (target < 1 || target > 65535)) {
        r.error(*f->get("target"), child(path, "target"), "a port is 1 to 65535");
        return std::nullopt;
    }
    if (f->has("published") && (published < 1 || published > 65535)) {
        r.error(*f->get("published"), child(path, "published"), "a port is 1 to 65535");
        return std::nullopt;
    }
    p.container_start = p.container_end = static_cast<uint16_t>(target);
    p.host_start = p.host_end = static_cast<uint16_t>(published);
    r.get_choice(*f, "protocol", path, p.protocol,
                 Choices<Protocol>{{"tcp", Protocol::tcp}, {"udp", Protocol::udp}});
    r.get(*f, "host_ip", path, p.host_ip);
    if (!p.host_ip.empty() && !is_ip(p.host_ip)) {
        r.error(*f->get("host_ip"), child(path, "host_ip"),
                fmt::format("\"{}\" is not an IP address", p.host_ip));
    }
    std::string mode;
    r.get(*f, "mode", path, mode);
    if (f->has("mode") && mode != "host") {
        r.error(*f->get("mode"), child(path, "mode"),
                "only mode: host exists on a single machine (ingress is for a swarm)");
    }
    return p;
}

std::optional<Volume> parse_volume(Reader& r, const YAML::Node& n, const std::string& path) {
    Volume v;
    v.mark = Reader::mark(n);
    if (n.IsMap()) {
        auto f = r.fields(n, path, {"type", "source", "target", "read_only"});
        if (!f) {
            return std::nullopt;
        }
        r.require(*f, "type", path, "bind, volume or tmpfs");
        r.get_choice(*f, "type", path, v.type,
                     Choices<VolumeType>{{"bind", VolumeType::bind},
                                         {"volume", VolumeType::volume},
                                         {"tmpfs", VolumeType::tmpfs}});
        r.get(*f, "source", path, v.source);
        r.require(*f, "target", path, "the path inside the container");
        r.get(*f, "target", path, v.target);
        r.get(*f, "read_only", path, v.read_only);
        if (v.type == VolumeType::bind && !is_absolute_path(v.source)) {
            r.error(n, child(path, "source"), "a bind mount needs an absolute host path");
            return std::nullopt;
        }
    } else {
        auto text = r.string(n, path);
        if (!text) {
            return std::nullopt;
        }
        // SOURCE:TARGET[:ro|rw], or TARGET alone for an anonymous volume.
        std::vector<std::string> parts = split(*text, ':');
        if (parts.size() == 3) {
            if (parts[2] == "ro") {
                v.read_only = true;
            } else if (parts[2] != "rw") {
                r.error(n, path,
                        fmt::format("\"{}\" is not a volume option: use ro or rw", parts[2]),
                        closest_match(parts[2], {"ro", "rw"}));
                return std::nullopt;
            }
            parts.pop_back();
        }
        if (parts.size() == 1) {
            v.type = VolumeType::volume;
            v.target = parts[0];
        } else if (parts.size() == 2) {
            v.source = parts[0];
            v.target = parts[1];
            if (is_absolute_path(v.source)) {
                v.type = VolumeType::bind;
            } else if (v.source.rfind("./", 0) == 0 || v.source.rfind("../", 0) == 0 ||
                       v.source.rfind("~", 0) == 0) {
                r.error(n, path,
                        fmt::format("\"{}\": a bind source must be an absolute host path (there "
                                    "is no project directory on a machine)",
                                    v.source));
                return std::nullopt;
            } else {
                v.type = VolumeType::volume;
            }
        } else {
            r.error(n, path,
                    fmt::format("\"{}\" is not SOURCE:TARGET[:ro], e.g. "
                                "\"/var/lib/data:/data:ro\"",
                                *text));
            return std::nullopt;
        }
    }
    if (!is_absolute_path(v.target)) {
        r.error(n, path, fmt::format("target \"{}\" must be an absolute path", v.target));
        return std::nullopt;
    }
    return v;
}

std::optional<Tmpfs> parse_tmpfs(Reader& r, const YAML::Node& n, const std::string& path) {
    auto text = r.string(n, path);
    if (!text) {
        return std::nullopt;
    }
    Tmpfs t;
    auto colon = text->find(':');
    t.target = text->substr(0, colon);
    if (!is_absolute_path(t.target)) {
        r.error(n, path, fmt::format("\"{}\" is not an absolute path", t.target));
        return std::nullopt;
    }
    if (colon != std::string::npos) {
        std::string opt = text->substr(colon + 1);
        if (opt.rfind("size=", 0) != 0) {
            r.error(n, path,
                    fmt::format("\"{}\": the only tmpfs option is size=, e.g. "
                                "/run:size=64M",
                                opt));
            return std::nullopt;
        }
        auto s = parse_size(opt.substr(5));
        if (!s) {
            r.error(n, path, s.error().str());
            return std::nullopt;
        }
        t.size_bytes = *s;
    }
    return t;
}

std::optional<int> parse_signal(Reader& r, const YAML::Node& n, const std::string& path) {
    static const Choices<int> signals = {
        {"SIGTERM", SIGTERM},         {"SIGINT", SIGINT},     {"SIGQUIT", SIGQUIT},
        {"SIGKILL", SIGKILL},         {"SIGHUP", SIGHUP},     {"SIGUSR1", SIGUSR1},
        {"SIGUSR2", SIGUSR2},         {"SIGWINCH", SIGWINCH}, {"SIGPWR", SIGPWR},
        {"SIGRTMIN+3", SIGRTMIN + 3},
    };
    auto s = r.string(n, path);
    if (!s) {
        return std::nullopt;
    }
    std::string name = *s;
    if (!name.empty() && std::all_of(name.begin(), name.end(), ::isdigit) && name.size() < 3) {
        int v = std::stoi(name);
        if (v >= 1 && v <= 64) {
            return v;
        }
    }
    if (name.rfind("SIG", 0) != 0) {
        name = "SIG" + name;
    }
    std::vector<std::string> names;
    for (const auto& [k, v] : signals) {
        if (k == name) {
            return v;
        }
        names.emplace_back(k);
    }
    r.error(
        n, path,
        fmt::format("\"{}\" is not a signal Gantry knows: {} or a number", *s, join(names, ", ")),
        closest_match(name, names));
    return std::nullopt;
}

std::optional<std::string> parse_capability(Reader& r, const YAML::Node& n,
                                            const std::string& path) {
    static const std::vector<std::string> caps = [] {
        std::vector<std::string> v{"ALL"};
        v.insert(v.end(), kCapNames.begin(), kCapNames.end());
        return v;
    }();
    auto s = r.string(n, path);
    if (!s) {
        return std::nullopt;
    }
    std::string name = *s;
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::toupper(c); });
    if (name != "ALL" && name.rfind("CAP_", 0) != 0) {
        name = "CAP_" + name;
    }
    if (std::find(caps.begin(), caps.end(), name) == caps.end()) {
        r.error(n, path, fmt::format("\"{}\" is not a Linux capability", *s),
                closest_match(name, caps));
        return std::nullopt;
    }
    return name;
}

}  // namespace gantry::config::detail
