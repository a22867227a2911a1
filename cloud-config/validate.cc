// Whole-config checks: what no single key can know. References between services, cycles,
// options that contradict each other, and two things claiming the same resource.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "base/strings.h"
#include "cloud-config/parse_internal.h"

namespace gantry::config::detail {
namespace {

std::vector<std::string> service_names(const Config& c) {
    std::vector<std::string> names;
    for (const auto& s : c.services) {
        names.push_back(s.name);
    }
    return names;
}

void check_references(Reader& r, const Config& c) {
    std::vector<std::string> names = service_names(c);
    for (const auto& s : c.services) {
        std::string path = child("services", s.name);
        std::set<std::string> seen;
        for (const auto& d : s.depends_on) {
            std::string p = child(child(path, "depends_on"), d.service);
            if (d.service == s.name) {
                r.error_at(d.mark, p, "a service cannot depend on itself");
                continue;
            }
            if (!seen.insert(d.service).second) {
                r.error_at(d.mark, p, "listed twice in depends_on");
                continue;
            }
            const Service* target = c.find_service(d.service);
            if (!target) {
                r.error_at(d.mark, p, fmt::format("no service named \"{}\"", d.service),
                           closest_match(d.service, names));
                continue;
            }
            if (d.condition == DependCondition::service_healthy && !target->healthcheck) {
                r.error_at(d.mark, p,
                           fmt::format("condition service_healthy, but \"{}\" has no "
                                       "healthcheck; add one or use service_started",
                                       d.service));
            }
            // Waiting for a long-running service to exit would hold this one back forever.
            if (d.condition == DependCondition::service_completed_successfully &&
                target->type != ServiceType::oneshot) {
                r.error_at(d.mark, p,
                           fmt::format("condition service_completed_successfully, but \"{}\" "
                                       "is not type: oneshot and never completes",
                                       d.service));
            }
        }
        if (s.network_mode == NetworkMode::service) {
            std::string p = child(path, "network_mode");
            if (s.network_service == s.name) {
                r.error_at(s.mark_of("network_mode"), p,
                           "a service cannot share its own network namespace");
            } else if (!c.find_service(s.network_service)) {
                r.error_at(s.mark_of("network_mode"), p,
                           fmt::format("no service named \"{}\"", s.network_service),
                           closest_match(s.network_service, names));
            }
        }
    }
}

void check_conflicts(Reader& r, const Service& s) {
    std::string path = child("services", s.name);
    // Published ports are DNAT rules onto the container's bridge address; without a bridge
    // address of its own there is nothing to forward to (Docker silently drops them).
    if (s.network_mode != NetworkMode::bridge && !s.ports.empty()) {
        r.error_at(s.ports.front().mark, child(path, "ports"),
                   fmt::format("ports need network_mode: bridge; with network_mode: {} remove "
                               "ports (host mode binds host ports directly)",
                               to_string(s.network_mode)));
    }
    // With host or another service's network the UTS name is shared too (Docker refuses
    // this combination as well: "conflicting options: hostname and the network mode").
    if ((s.network_mode == NetworkMode::host || s.network_mode == NetworkMode::service) &&
        !s.hostname.empty()) {
        r.error_at(s.mark_of("hostname"), child(path, "hostname"),
                   fmt::format("hostname cannot be set with network_mode: {}; the host name "
                               "is shared",
                               to_string(s.network_mode)));
    }
    if (s.privileged && (!s.cap_add.empty() || !s.cap_drop.empty())) {
        r.error_at(s.mark_of("privileged"), child(path, "privileged"),
                   "privileged grants every capability; remove cap_add/cap_drop or privileged");
    }
    for (const auto& c : s.cap_add) {
        if (std::find(s.cap_drop.begin(), s.cap_drop.end(), c) != s.cap_drop.end()) {
            r.error_at(s.mark_of("cap_add"), child(path, "cap_add"),
                       fmt::format("{} is both added and dropped", c));
        }
    }
    // Both are about sd_notify messages; without NOTIFY_SOCKET they could never be met.
    if (!s.notify && s.key_marks.contains("start_timeout")) {
        r.error_at(s.mark_of("start_timeout"), child(path, "start_timeout"),
                   "start_timeout waits for READY=1 and needs notify: true (without notify a "
                   "service is up once started)");
    }
    if (!s.notify && s.watchdog > Duration::zero()) {
        r.error_at(s.mark_of("watchdog"), child(path, "watchdog"),
                   "watchdog needs notify: true (WATCHDOG=1 arrives on NOTIFY_SOCKET)");
    }
    if (s.type == ServiceType::oneshot) {
        if (s.restart.policy == RestartPolicy::always ||
            s.restart.policy == RestartPolicy::unless_stopped) {
            r.error_at(s.mark_of("restart"), child(path, "restart"),
                       fmt::format("a oneshot runs to completion; restart: {} would rerun it "
                                   "forever (use no or on-failure)",
                                   to_string(s.restart.policy)));
        }
        if (s.healthcheck) {
            r.error_at(s.mark_of("healthcheck"), child(path, "healthcheck"),
                       "a oneshot has no health; depend on it with "
                       "service_completed_successfully instead");
        }
    }
}

void check_ports(Reader& r, const Config& c) {
    // Key: protocol, host ip, port. Two services cannot own the same published port.
    std::map<std::tuple<Protocol, std::string, uint16_t>, std::string> owner;
    for (const auto& s : c.services) {
        if (s.network_mode != NetworkMode::bridge) {
            continue;  // already an error of its own (ports need the bridge)
        }
        for (const auto& p : s.ports) {
            if (p.host_start == 0) {
                continue;
            }
            for (uint32_t port = p.host_start; port <= p.host_end; ++port) {
                // "0.0.0.0" and "" both mean every address; a clash with a specific address
                // on the same port is also a clash, so compare on the wildcard too.
                std::string ip = p.host_ip == "0.0.0.0" ? "" : p.host_ip;
                auto key = std::tuple{p.protocol, ip, static_cast<uint16_t>(port)};
                auto wild = std::tuple{p.protocol, std::string(), static_cast<uint16_t>(port)};
                auto it = owner.find(key);
                if (it == owner.end() && !ip.empty()) {
                    it = owner.find(wild);
                }
                if (it != owner.end()) {
                    r.error_at(p.mark, child(child("services", s.name), "ports"),
                               fmt::format("host port {}/{} is already published by service "
                                           "\"{}\"",
                                           port, to_string(p.protocol), it->second));
                    break;
                }
                owner.emplace(key, s.name);
            }
        }
    }
}

// Depth-first search over depends_on and network_mode service:X; each cycle reported once,
// at the dependency that closes it, named in full: "a -> b -> a".
void check_cycles(Reader& r, const Config& c) {
    std::map<std::string, std::vector<std::pair<std::string, Mark>>> edges;
    for (const auto& s : c.services) {
        auto& e = edges[s.name];
        for (const auto& d : s.depends_on) {
            if (c.find_service(d.service) && d.service != s.name) {
                e.emplace_back(d.service, d.mark);
            }
        }
        if (s.network_mode == NetworkMode::service && c.find_service(s.network_service) &&
            s.network_service != s.name) {
            e.emplace_back(s.network_service, s.mark_of("network_mode"));
        }
    }
    enum class Color { white, grey, black };
    std::map<std::string, Color> color;
    std::vector<std::string> stack;
    std::set<std::set<std::string>> reported;
    auto visit = [&](auto&& self, const std::string& n) -> void {
        color[n] = Color::grey;
        stack.push_back(n);
        for (const auto& [next, mark] : edges[n]) {
            if (color[next] == Color::grey) {
                auto from = std::find(stack.begin(), stack.end(), next);
                std::vector<std::string> cycle(from, stack.end());
                std::set<std::string> members(cycle.begin(), cycle.end());
                if (reported.insert(members).second) {
                    cycle.push_back(next);
                    r.error_at(mark, child(child("services", n), "depends_on"),
                               fmt::format("dependency cycle: {}; services would wait for each "
                                           "other forever",
                                           join(cycle, " -> ")));
                }
            } else if (color[next] == Color::white) {
                self(self, next);
            }
        }
        stack.pop_back();
        color[n] = Color::black;
    };
    for (const auto& s : c.services) {
        if (color[s.name] == Color::white) {
            visit(visit, s.name);
        }
    }
}

void check_machine(Reader& r, const Config& c) {
    std::map<std::string, size_t> users;
    for (size_t i = 0; i < c.users.size(); ++i) {
        const User& u = c.users[i];
        if (u.name.empty()) {
            continue;
        }
        if (auto [it, fresh] = users.emplace(u.name, i); !fresh) {
            r.error_at(
                u.mark, child(item("users", i), "name"),
                fmt::format("user \"{}\" is already declared in users[{}]", u.name, it->second));
        }
    }
    std::map<std::string, size_t> files;
    for (size_t i = 0; i < c.write_files.size(); ++i) {
        const WriteFile& w = c.write_files[i];
        if (w.path.empty()) {
            continue;
        }
        // Two appends to one file are fine; anything else means one write silently wins.
        auto it = files.find(w.path);
        if (it != files.end() && !(w.append && c.write_files[it->second].append)) {
            r.error_at(w.mark, child(item("write_files", i), "path"),
                       fmt::format("\"{}\" is already written by write_files[{}]; merge them or "
                                   "use append: true on both",
                                   w.path, it->second));
        } else if (it == files.end()) {
            files.emplace(w.path, i);
        }
    }
}

void check_storage(Reader& r, const Storage& s) {
    std::map<std::string, std::string> mounts;  // path -> who
    auto claim = [&](const std::string& path, Mark m, const std::string& who,
                     const std::string& key) {
        if (path.empty()) {
            return;
        }
        auto [it, fresh] = mounts.emplace(path, who);
        if (!fresh) {
            r.error_at(m, key, fmt::format("\"{}\" is already mounted by {}", path, it->second));
        }
    };
    std::map<std::string, std::string> devices;
    for (size_t i = 0; i < s.filesystems.size(); ++i) {
        const Filesystem& f = s.filesystems[i];
        std::string who = item("storage.filesystems", i);
        claim(f.mount, f.mark, who, child(who, "mount"));
        if (!f.device.empty()) {
            auto [it, fresh] = devices.emplace(f.device, who);
            if (!fresh) {
                r.error_at(
                    f.mark, child(who, "device"),
                    fmt::format("\"{}\" already holds the filesystem of {}", f.device, it->second));
            }
        }
    }
    for (size_t i = 0; i < s.mounts.size(); ++i) {
        const Mount& m = s.mounts[i];
        std::string who = item("storage.mounts", i);
        claim(m.path, m.mark, who, child(who, "path"));
    }
    std::set<std::string> disks;
    for (size_t i = 0; i < s.disks.size(); ++i) {
        const Disk& d = s.disks[i];
        if (!d.device.empty() && !disks.insert(d.device).second) {
            r.error_at(d.mark, child(item("storage.disks", i), "device"),
                       fmt::format("disk \"{}\" is declared twice", d.device));
        }
        std::set<uint32_t> numbers;
        for (size_t j = 0; j < d.partitions.size(); ++j) {
            uint32_t n = d.partitions[j].number;
            if (n != 0 && !numbers.insert(n).second) {
                r.error_at(d.mark, item(child(item("storage.disks", i), "partitions"), j),
                           fmt::format("partition number {} is used twice", n));
            }
        }
    }
}

}  // namespace

void validate(Reader& r, const Config& c) {
    check_machine(r, c);
    check_storage(r, c.storage);
    check_references(r, c);
    for (const auto& s : c.services) {
        check_conflicts(r, s);
    }
    check_ports(r, c);
    check_cycles(r, c);
}

}  // namespace gantry::config::detail
