// Cgroup v2, the plan half: OCI linux.resources -> CgroupPlan (pure; unit-tested without a
// cgroup filesystem). The apply half and host detection are in cgroup_host.cc.
#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "runtime/cgroup.h"

namespace gantry::runtime {
namespace {

using nlohmann::json;

// A fresh cgroup already has these values, so writing them would only turn "no limit" into
// a limit request that fails on hosts without cgroup v2.
bool is_default(std::string_view file, std::string_view value) {
    return (value == "max" && (file == "memory.max" || file == "memory.swap.max" ||
                               file == "pids.max" || file.ends_with(".max"))) ||
           (file == "cpu.max" && value == "max 100000");
}

class Planner {
  public:
    explicit Planner(std::string_view path) : base_(path) {}

    void add(std::string file, std::string value, std::string source) {
        if (is_default(file, value)) {
            return;
        }
        std::string controller = file.substr(0, file.find('.'));
        writes_.push_back({std::move(file), std::move(value), controller, std::move(source)});
    }
    std::string at(std::string_view field) const { return fmt::format("{}.{}", base_, field); }
    void warn(std::string_view field, std::string_view why) {
        warnings_.push_back(fmt::format("{}: {}", at(field), why));
    }

    // OCI integers: memory values are int64 with -1 meaning unlimited.
    Result<std::optional<int64_t>> i64(const json& obj, std::string_view key,
                                       std::string_view field) const {
        if (!obj.contains(key) || obj[key].is_null()) {
            return std::nullopt;
        }
        if (!obj[key].is_number_integer()) {
            return fail(Error::msg("{}: must be an integer", at(field)));
        }
        return obj[key].get<int64_t>();
    }
    Result<std::optional<uint64_t>> u64(const json& obj, std::string_view key,
                                        std::string_view field) const {
        auto v = GANTRY_TRY(i64(obj, key, field));
        if (v && *v < 0) {
            return fail(Error::msg("{}: must not be negative", at(field)));
        }
        if (!v) {
            return std::nullopt;
        }
        return static_cast<uint64_t>(*v);
    }
    // -1 -> "max"; other negatives are errors; 0 means "not set" (runc and crun agree).
    Result<std::optional<std::string>> limit(const json& obj, std::string_view key,
                                             std::string_view field) const {
        auto v = GANTRY_TRY(i64(obj, key, field));
        if (!v || *v == 0) {
            return std::nullopt;
        }
        if (*v == -1) {
            return std::string("max");
        }
        if (*v < 0) {
            return fail(Error::msg("{}: {} is negative (use -1 for unlimited)", at(field), *v));
        }
        return fmt::to_string(*v);
    }

    Status memory(const json& m);
    Status cpu(const json& c);
    Status block_io(const json& b);
    Status hugetlb(const json& h);
    Status rdma(const json& r);
    Status unified(const json& u);

    std::vector<CgroupWrite> writes_;
    std::vector<std::string> warnings_;

  private:
    std::string base_;
};

Status Planner::memory(const json& m) {
    if (!m.is_object()) {
        return fail(Error::msg("{}: must be an object", at("memory")));
    }
    auto low = GANTRY_TRY(limit(m, "reservation", "memory.reservation"));
    auto max = GANTRY_TRY(limit(m, "limit", "memory.limit"));
    auto swap = GANTRY_TRY(i64(m, "swap", "memory.swap"));
    if (low) {
        add("memory.low", *low, at("memory.reservation"));
    }
    if (max) {
        add("memory.max", *max, at("memory.limit"));
    }
    if (swap && *swap != 0) {
        // OCI swap is memory+swap (the v1 memsw limit); v2 limits swap alone.
        if (*swap == -1) {
            add("memory.swap.max", "max", at("memory.swap"));
        } else if (*swap < 0) {
            return fail(
                Error::msg("{}: {} is negative (use -1 for unlimited)", at("memory.swap"), *swap));
        } else if (!max || *max == "max") {
            return fail(Error::msg("{}: needs {} too: OCI swap is the memory+swap total",
                                   at("memory.swap"), at("memory.limit")));
        } else {
            int64_t mem = std::stoll(*max);
            if (*swap < mem) {
                return fail(
                    Error::msg("{}: {} is below memory.limit {} (OCI swap is the "
                               "memory+swap total, so it must be at least the limit)",
                               at("memory.swap"), *swap, mem));
            }
            add("memory.swap.max", fmt::to_string(*swap - mem), at("memory.swap"));
        }
    }
    for (const char* key : {"kernel", "kernelTCP"}) {
        if (m.contains(key) && !m[key].is_null()) {
            warn(fmt::format("memory.{}", key),
                 "ignored: cgroup v2 accounts kernel memory "
                 "inside memory.max");
        }
    }
    if (m.contains("swappiness") && !m["swappiness"].is_null()) {
        warn("memory.swappiness", "ignored: cgroup v2 has no per-cgroup swappiness");
    }
    if (m.value("disableOOMKiller", false)) {
        warn("memory.disableOOMKiller", "ignored: cgroup v2 cannot disable the OOM killer");
    }
    return ok();
}

bool valid_cpu_list(std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789,-") == std::string_view::npos;
}

Status Planner::cpu(const json& c) {
    if (!c.is_object()) {
        return fail(Error::msg("{}: must be an object", at("cpu")));
    }
    if (c.contains("cpus") && !c["cpus"].is_null()) {
        if (!c["cpus"].is_string() || !valid_cpu_list(c["cpus"].get<std::string>())) {
            return fail(Error::msg("{}: must be a CPU list such as \"0-3,6\"", at("cpu.cpus")));
        }
        add("cpuset.cpus", c["cpus"].get<std::string>(), at("cpu.cpus"));
    }
    if (c.contains("mems") && !c["mems"].is_null()) {
        if (!c["mems"].is_string() || !valid_cpu_list(c["mems"].get<std::string>())) {
            return fail(Error::msg("{}: must be a node list such as \"0-1\"", at("cpu.mems")));
        }
        add("cpuset.mems", c["mems"].get<std::string>(), at("cpu.mems"));
    }
    auto shares = GANTRY_TRY(u64(c, "shares", "cpu.shares"));
    if (shares && *shares != 0) {
        add("cpu.weight", fmt::to_string(cpu_shares_to_weight(*shares)), at("cpu.shares"));
    }
    auto quota = GANTRY_TRY(i64(c, "quota", "cpu.quota"));
    auto period = GANTRY_TRY(u64(c, "period", "cpu.period"));
    if (quota || period) {
        uint64_t p = period.value_or(100000);
        // The kernel's bounds for cfs_period_us: 1 ms to 1 s.
        if (p < 1000 || p > 1000000) {
            return fail(Error::msg("{}: {} us is outside 1000..1000000", at("cpu.period"), p));
        }
        std::string q = "max";
        if (quota && *quota > 0) {
            if (*quota < 1000) {
                return fail(Error::msg("{}: {} us is below the kernel's minimum of 1000",
                                       at("cpu.quota"), *quota));
            }
            q = fmt::to_string(*quota);
        } else if (quota && *quota < -1) {
            return fail(
                Error::msg("{}: {} is negative (use -1 for unlimited)", at("cpu.quota"), *quota));
        }
        add("cpu.max", fmt::format("{} {}", q, p), at(quota ? "cpu.quota" : "cpu.period"));
    }
    auto burst = GANTRY_TRY(u64(c, "burst", "cpu.burst"));
    if (burst) {
        add("cpu.max.burst", fmt::to_string(*burst), at("cpu.burst"));
    }
    auto idle = GANTRY_TRY(i64(c, "idle", "cpu.idle"));
    if (idle && *idle != 0) {
        add("cpu.idle", "1", at("cpu.idle"));
    }
    for (const char* key : {"realtimeRuntime", "realtimePeriod"}) {
        auto v = GANTRY_TRY(i64(c, key, fmt::format("cpu.{}", key)));
        if (v && *v != 0) {
            return fail(Error::msg("{}: cgroup v2 has no real-time CPU bandwidth controller",
                                   at(fmt::format("cpu.{}", key))));
        }
    }
    return ok();
}

Status Planner::block_io(const json& b) {
    if (!b.is_object()) {
        return fail(Error::msg("{}: must be an object", at("blockIO")));
    }
    auto weight = GANTRY_TRY(u64(b, "weight", "blockIO.weight"));
    if (weight && *weight != 0) {
        if (*weight < 10 || *weight > 1000) {
            return fail(Error::msg("{}: {} is outside 10..1000", at("blockIO.weight"), *weight));
        }
        add("io.weight", fmt::format("default {}", blkio_weight_to_io_weight(*weight)),
            at("blockIO.weight"));
    }
    if (b.contains("leafWeight") && !b["leafWeight"].is_null()) {
        warn("blockIO.leafWeight", "ignored: cgroup v2 has no leaf weight");
    }
    auto device = [&](const json& d, std::string_view field) -> Result<std::string> {
        auto major = GANTRY_TRY(u64(d, "major", fmt::format("{}.major", field)));
        auto minor = GANTRY_TRY(u64(d, "minor", fmt::format("{}.minor", field)));
        if (!major || !minor) {
            return fail(Error::msg("{}: needs major and minor", at(field)));
        }
        return fmt::format("{}:{}", *major, *minor);
    };
    if (b.contains("weightDevice") && b["weightDevice"].is_array()) {
        const auto& list = b["weightDevice"];
        for (size_t i = 0; i < list.size(); ++i) {
            std::string field = fmt::format("blockIO.weightDevice[{}]", i);
            std::string dev = GANTRY_TRY(device(list[i], field));
            auto w = GANTRY_TRY(u64(list[i], "weight", field + ".weight"));
            if (w) {
                add("io.weight", fmt::format("{} {}", dev, blkio_weight_to_io_weight(*w)),
                    at(field + ".weight"));
            }
        }
    }
    // io.max takes one line per device with any of rbps/wbps/riops/wiops; gather per device.
    struct Line {
        std::string dev, keys, source;
    };
    std::vector<Line> lines;
    const std::array<std::pair<const char*, const char*>, 4> throttles = {{
        {"throttleReadBpsDevice", "rbps"},
        {"throttleWriteBpsDevice", "wbps"},
        {"throttleReadIOPSDevice", "riops"},
        {"throttleWriteIOPSDevice", "wiops"},
    }};
    for (const auto& [key, io_key] : throttles) {
        if (!b.contains(key) || !b[key].is_array()) {
            continue;
        }
        for (size_t i = 0; i < b[key].size(); ++i) {
            std::string field = fmt::format("blockIO.{}[{}]", key, i);
            std::string dev = GANTRY_TRY(device(b[key][i], field));
            auto rate = GANTRY_TRY(u64(b[key][i], "rate", field + ".rate"));
            std::string v = rate && *rate != 0 ? fmt::to_string(*rate) : "max";
            auto it = std::find_if(lines.begin(), lines.end(),
                                   [&](const Line& l) { return l.dev == dev; });
            if (it == lines.end()) {
                lines.push_back({dev, "", at(field)});
                it = lines.end() - 1;
            }
            it->keys += fmt::format(" {}={}", io_key, v);
        }
    }
    for (const auto& l : lines) {
        writes_.push_back({"io.max", l.dev + l.keys, "io", l.source});
    }
    return ok();
}

Status Planner::hugetlb(const json& h) {
    if (!h.is_array()) {
        return fail(Error::msg("{}: must be an array", at("hugepageLimits")));
    }
    for (size_t i = 0; i < h.size(); ++i) {
        std::string field = fmt::format("hugepageLimits[{}]", i);
        std::string size = h[i].value("pageSize", "");
        // "2MB", "1GB", "64KB": the names of the hugetlb.<size>.max files.
        size_t digits = size.find_first_not_of("0123456789");
        if (digits == 0 || digits == std::string::npos ||
            (size.substr(digits) != "KB" && size.substr(digits) != "MB" &&
             size.substr(digits) != "GB")) {
            return fail(Error::msg("{}: \"{}\" is not a page size such as \"2MB\" or \"1GB\"",
                                   at(field + ".pageSize"), size));
        }
        auto lim = GANTRY_TRY(u64(h[i], "limit", field + ".limit"));
        if (!lim) {
            return fail(Error::msg("{}: required", at(field + ".limit")));
        }
        add(fmt::format("hugetlb.{}.max", size), fmt::to_string(*lim), at(field + ".limit"));
    }
    return ok();
}

Status Planner::rdma(const json& r) {
    if (!r.is_object()) {
        return fail(Error::msg("{}: must be an object keyed by device", at("rdma")));
    }
    for (const auto& [dev, lim] : r.items()) {
        std::string field = fmt::format("rdma.{}", dev);
        auto handles = GANTRY_TRY(u64(lim, "hcaHandles", field + ".hcaHandles"));
        auto objects = GANTRY_TRY(u64(lim, "hcaObjects", field + ".hcaObjects"));
        add("rdma.max",
            fmt::format("{} hca_handle={} hca_object={}", dev,
                        handles ? fmt::to_string(*handles) : "max",
                        objects ? fmt::to_string(*objects) : "max"),
            at(field));
    }
    return ok();
}

Status Planner::unified(const json& u) {
    if (!u.is_object()) {
        return fail(Error::msg("{}: must be an object of file: value", at("unified")));
    }
    for (const auto& [file, value] : u.items()) {
        std::string field = fmt::format("unified[\"{}\"]", file);
        size_t dot = file.find('.');
        // A file name of this cgroup only: no paths, and not the files the runtime itself
        // drives (membership, kill, freeze, controller delegation).
        if (file.find('/') != std::string::npos || dot == 0 || dot == std::string::npos ||
            file == "cgroup.procs" || file == "cgroup.threads" || file == "cgroup.kill" ||
            file == "cgroup.freeze" || file == "cgroup.subtree_control") {
            return fail(Error::msg("{}: not a cgroup file a spec may set", at(field)));
        }
        if (!value.is_string()) {
            return fail(Error::msg("{}: must be a string", at(field)));
        }
        std::string controller = file.substr(0, dot);
        writes_.push_back(
            {file, value.get<std::string>(), controller == "cgroup" ? "" : controller, at(field)});
    }
    return ok();
}

Result<std::string> relative_cgroup_path(std::string_view cgroups_path, std::string_view id,
                                         std::string_view path) {
    if (cgroups_path.empty()) {
        if (id.empty() || id.find('/') != std::string_view::npos) {
            return fail(Error::msg("container id \"{}\" cannot name a cgroup", id));
        }
        return fmt::format("gantry/{}", id);
    }
    if (cgroups_path.find(':') != std::string_view::npos) {
        return fail(
            Error::msg("{}: \"{}\" is a systemd slice:prefix:name path; gantry manages "
                       "cgroupfs paths such as \"/gantry/web\"",
                       path, cgroups_path));
    }
    std::vector<std::string> parts;
    for (const auto& p : split(cgroups_path, '/')) {
        if (p.empty()) {
            continue;
        }
        if (p == "." || p == "..") {
            return fail(
                Error::msg("{}: \"{}\" must not contain . or .. components", path, cgroups_path));
        }
        parts.push_back(p);
    }
    if (parts.empty()) {
        return fail(Error::msg("{}: \"{}\" names the cgroup root itself", path, cgroups_path));
    }
    return join(parts, "/");
}

}  // namespace

uint64_t cpu_shares_to_weight(uint64_t shares) {
    if (shares == 0) {
        return 0;  // unset
    }
    if (shares <= 2) {
        return 1;
    }
    if (shares >= 262144) {
        return 10000;
    }
    double l = std::log2(static_cast<double>(shares));
    double exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    return static_cast<uint64_t>(std::ceil(std::pow(10.0, exponent)));
}

uint64_t blkio_weight_to_io_weight(uint64_t weight) {
    return 1 + (weight - 10) * 9999 / 990;
}

Result<CgroupPlan> plan_cgroup(const json& r, std::string_view cgroups_path,
                               std::string_view container_id, std::string_view path) {
    CgroupPlan plan;
    std::string parent_path(path);
    if (auto dot = parent_path.rfind('.'); dot != std::string::npos) {
        parent_path = parent_path.substr(0, dot);
    }
    plan.relative_path = GANTRY_TRY(relative_cgroup_path(
        cgroups_path, container_id, fmt::format("{}.cgroupsPath", parent_path)));
    if (r.is_null()) {
        return plan;
    }
    if (!r.is_object()) {
        return fail(Error::msg("{}: must be an object", path));
    }
    Planner p(path);
    // Order: cpuset first (its files gate where tasks may run), then cpu, memory, pids, io,
    // hugetlb, rdma; the raw "unified" map last so it can override anything above.
    if (r.contains("cpu") && !r["cpu"].is_null()) {
        GANTRY_TRY(p.cpu(r["cpu"]));  // cpuset.* come out first
    }
    if (r.contains("memory") && !r["memory"].is_null()) {
        GANTRY_TRY(p.memory(r["memory"]));
    }
    if (r.contains("pids") && !r["pids"].is_null()) {
        auto lim = GANTRY_TRY(p.i64(r["pids"], "limit", "pids.limit"));
        if (lim && *lim > 0) {
            p.add("pids.max", fmt::to_string(*lim), p.at("pids.limit"));
        }
    }
    if (r.contains("blockIO") && !r["blockIO"].is_null()) {
        GANTRY_TRY(p.block_io(r["blockIO"]));
    }
    if (r.contains("hugepageLimits") && !r["hugepageLimits"].is_null()) {
        GANTRY_TRY(p.hugetlb(r["hugepageLimits"]));
    }
    if (r.contains("rdma") && !r["rdma"].is_null()) {
        GANTRY_TRY(p.rdma(r["rdma"]));
    }
    if (r.contains("network") && !r["network"].is_null()) {
        p.warn("network", "ignored: cgroup v2 has no net_cls/net_prio");
    }
    if (r.contains("unified") && !r["unified"].is_null()) {
        GANTRY_TRY(p.unified(r["unified"]));
    }
    plan.writes = std::move(p.writes_);
    plan.warnings = std::move(p.warnings_);
    for (auto c : kCgroupControllers) {
        bool needed = false;
        for (const auto& w : plan.writes) {
            needed = needed || w.controller == c;
        }
        if (needed) {
            plan.controllers.emplace_back(c);
        }
    }
    for (const auto& w : plan.writes) {
        bool known = w.controller.empty();
        for (auto c : kCgroupControllers) {
            known = known || w.controller == c;
        }
        if (!known) {
            return fail(Error::msg("{}: unknown cgroup controller \"{}\"", w.source, w.controller));
        }
    }
    return plan;
}

}  // namespace gantry::runtime
