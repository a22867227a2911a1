#include "supervisor/container_spec.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "base/strings.h"
#include "runtime/capabilities.h"
#include "runtime/default_spec.h"
#include "runtime/seccomp.h"

namespace gantry::supervisor {

using json = nlohmann::json;

namespace {

// Every capability the runtime knows (privileged and cap_add: ALL), in bit order; the name
// table itself lives in runtime/capabilities.cc.
const std::vector<std::string>& all_caps() {
    static const std::vector<std::string> caps =
        runtime::capability_names((uint64_t{1} << (runtime::kLastKnownCap + 1)) - 1);
    return caps;
}

std::string cap_name(std::string c) {
    std::ranges::transform(c, c.begin(), [](unsigned char ch) { return std::toupper(ch); });
    return c == "ALL" || c.starts_with("CAP_") ? c : "CAP_" + c;
}

// Compose/Docker order: start from the default set (all for privileged), add, then drop;
// "ALL" in either list means every capability.
Result<std::vector<std::string>> effective_caps(const ServiceSpec& spec,
                                                const std::vector<std::string>& defaults) {
    std::vector<std::string> caps = spec.privileged ? all_caps() : defaults;
    for (const auto& raw : spec.cap_add) {
        std::string c = cap_name(raw);
        if (c == "ALL") {
            caps = all_caps();
            continue;
        }
        if (runtime::capability_number(c) < 0) {
            return fail(Error::msg("cap_add: unknown capability \"{}\"", raw));
        }
        if (std::ranges::find(caps, c) == caps.end()) {
            caps.push_back(c);
        }
    }
    for (const auto& raw : spec.cap_drop) {
        std::string c = cap_name(raw);
        if (c == "ALL") {
            caps.clear();
            continue;
        }
        std::erase(caps, c);
    }
    return caps;
}

json mount(std::string_view dest, std::string_view type, std::string_view source,
           std::vector<std::string> options) {
    return json{{"destination", dest}, {"type", type}, {"source", source}, {"options", options}};
}

}  // namespace

Result<UserIds> resolve_container_user(std::string_view user, std::string_view passwd,
                                       std::string_view group) {
    UserIds ids;
    if (user.empty()) {
        return ids;
    }
    std::string_view u = user, g;
    if (auto colon = user.find(':'); colon != std::string_view::npos) {
        u = user.substr(0, colon);
        g = user.substr(colon + 1);
    }
    auto number = [](std::string_view s, uint32_t& out) {
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        return !s.empty() && ec == std::errc() && p == s.data() + s.size();
    };
    // /etc/passwd: name:x:uid:gid:...; /etc/group: name:x:gid:members.
    auto find = [&](std::string_view db, std::string_view name,
                    int field) -> std::optional<uint32_t> {
        for (const auto& line : split(db, '\n')) {
            auto f = split(line, ':');
            uint32_t v = 0;
            if (f.size() > static_cast<size_t>(field) && f[0] == name && number(f[field], v)) {
                return v;
            }
        }
        return std::nullopt;
    };
    if (number(u, ids.uid)) {
        // A numeric uid takes the primary group from a passwd entry with that uid, if any.
        ids.gid = ids.uid;
        for (const auto& line : split(passwd, '\n')) {
            auto f = split(line, ':');
            uint32_t v = 0, gid = 0;
            if (f.size() > 3 && number(f[2], v) && v == ids.uid && number(f[3], gid)) {
                ids.gid = gid;
                break;
            }
        }
    } else {
        auto uid = find(passwd, u, 2);
        auto gid = find(passwd, u, 3);
        if (!uid || !gid) {
            return fail(Error::msg("user \"{}\" is not in the image's /etc/passwd", u));
        }
        ids.uid = *uid;
        ids.gid = *gid;
    }
    if (!g.empty() && !number(g, ids.gid)) {
        auto gid = find(group, g, 2);
        if (!gid) {
            return fail(Error::msg("group \"{}\" is not in the image's /etc/group", g));
        }
        ids.gid = *gid;
    }
    return ids;
}

Result<json> container_spec_json(const ServiceSpec& spec, const ContainerSpecInput& in) {
    json j = runtime::default_spec();
    json& p = j["process"];
    // 1. The process.
    p["args"] = spec.argv;
    std::vector<std::string> env = spec.env;
    if (!in.notify_socket.empty()) {
        env.push_back("NOTIFY_SOCKET=" + std::string(kContainerNotifySocket));
        if (spec.watchdog > Duration(0)) {
            // The service is PID 1 of its own pid namespace; sd_watchdog_enabled() compares
            // WATCHDOG_PID with getpid(), so children it forks do not take it for theirs.
            env.push_back(fmt::format(
                "WATCHDOG_USEC={}",
                std::chrono::duration_cast<std::chrono::microseconds>(spec.watchdog).count()));
            env.push_back("WATCHDOG_PID=1");
        }
    }
    p["env"] = env;
    p["cwd"] = spec.working_dir.empty() ? "/" : spec.working_dir;
    p["user"] = {{"uid", in.uid}, {"gid", in.gid}};
    if (!in.additional_gids.empty()) {
        p["user"]["additionalGids"] = in.additional_gids;
    }
    auto defaults = p["capabilities"]["bounding"].get<std::vector<std::string>>();
    auto caps = GANTRY_TRY(effective_caps(spec, defaults));
    p["capabilities"] = {{"bounding", caps}, {"effective", caps}, {"permitted", caps}};
    if (!spec.ulimits.empty()) {
        json rl = json::array();
        for (const auto& [name, u] : spec.ulimits) {
            std::string type = "RLIMIT_" + name;
            std::ranges::transform(type, type.begin(),
                                   [](unsigned char c) { return std::toupper(c); });
            rl.push_back({{"type", type}, {"soft", u.soft}, {"hard", u.hard}});
        }
        if (!spec.ulimits.contains("nofile")) {
            rl.push_back({{"type", "RLIMIT_NOFILE"}, {"soft", 1024}, {"hard", 1024}});
        }
        p["rlimits"] = rl;
    }
    // 2. Root and hostname. The overlay is already read-only when read_only is set; the
    // flag also makes the runtime remount the root read-only.
    j["root"] = {{"path", in.rootfs}, {"readonly", spec.read_only}};
    j["hostname"] = spec.hostname.empty() ? spec.name : spec.hostname;
    // 3. Namespaces: pid, mount, uts, ipc, cgroup always; network unless network_mode host.
    json ns = json::array();
    for (const auto& n : j["linux"]["namespaces"]) {
        if (n["type"] == "network" && spec.network_mode == NetworkMode::Host) {
            continue;
        }
        ns.push_back(n);
    }
    j["linux"]["namespaces"] = ns;
    // 4. Mounts: the profile's, then volumes and tmpfs in the order written.
    json& mounts = j["mounts"];
    if (spec.privileged) {
        // Docker's --privileged: /sys writable, nothing masked.
        for (auto& m : mounts) {
            if (m["destination"] == "/sys" || m["destination"] == "/sys/fs/cgroup") {
                std::erase(m["options"].get_ref<json::array_t&>(), json("ro"));
            }
        }
        j["linux"]["maskedPaths"] = json::array();
        j["linux"]["readonlyPaths"] = json::array();
    }
    for (const auto& v : spec.volumes) {
        std::vector<std::string> opts = {"rbind", "rprivate"};
        opts.push_back(v.read_only ? "ro" : "rw");
        mounts.push_back(mount(v.target, "bind", v.source, opts));
    }
    for (const auto& t : spec.tmpfs) {
        std::vector<std::string> opts = {"nosuid", "nodev", "mode=1777"};
        if (t.size_bytes != 0) {
            opts.push_back(fmt::format("size={}", t.size_bytes));
        }
        mounts.push_back(mount(t.target, "tmpfs", "tmpfs", opts));
    }
    if (!in.notify_socket.empty()) {
        // Only this service's socket, not the directory holding every service's.
        mounts.push_back(mount(kContainerNotifySocket, "bind", in.notify_socket, {"bind", "rw"}));
    }
    // 5. Kernel knobs and limits.
    if (!spec.sysctls.empty()) {
        j["linux"]["sysctl"] = spec.sysctls;
    }
    json res = json::object();
    if (spec.resources.memory_bytes != 0) {
        res["memory"] = {{"limit", spec.resources.memory_bytes}};
    }
    if (spec.resources.cpus > 0) {
        constexpr uint64_t kPeriod = 100000;
        res["cpu"] = {{"quota", static_cast<int64_t>(std::llround(spec.resources.cpus * kPeriod))},
                      {"period", kPeriod}};
    }
    if (spec.resources.pids != 0) {
        res["pids"] = {{"limit", spec.resources.pids}};
    }
    if (!res.empty()) {
        j["linux"]["resources"] = res;
    }
    if (!in.cgroups_path.empty()) {
        j["linux"]["cgroupsPath"] = in.cgroups_path;
    }
    // Docker's --privileged also runs without seccomp (the runtime's default spec that
    // this starts from carries the default profile, so it is removed, not just not added).
    if (spec.privileged) {
        j["linux"].erase("seccomp");
    } else {
        j["linux"]["seccomp"] = runtime::default_seccomp_profile();
    }
    return j;
}

Result<runtime::Spec> container_spec(const ServiceSpec& spec, const ContainerSpecInput& in) {
    json j = GANTRY_TRY(container_spec_json(spec, in));
    return GANTRY_TRY_CTX(runtime::parse_spec_json(j), "service \"{}\": container spec", spec.name);
}

}  // namespace gantry::supervisor
