#include "kv/affinity.h"

#include <sched.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "base/fd.h"

namespace gantry::kv {

namespace fs = std::filesystem;

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
        s.remove_suffix(1);
    }
    return s;
}

bool parse_int(std::string_view s, int& v) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size() && v >= 0;
}

}  // namespace

Result<std::set<int>> parse_cpu_list(std::string_view s) {
    std::set<int> cpus;
    s = trim(s);
    while (!s.empty()) {
        size_t comma = s.find(',');
        std::string_view part = s.substr(0, comma);
        s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
        size_t dash = part.find('-');
        int lo = 0, hi = 0;
        if (dash == std::string_view::npos) {
            if (!parse_int(part, lo)) {
                return fail(Error::msg("bad CPU list entry '{}'", part));
            }
            hi = lo;
        } else if (!parse_int(part.substr(0, dash), lo) || !parse_int(part.substr(dash + 1), hi) ||
                   hi < lo || hi - lo > 4096) {
            return fail(Error::msg("bad CPU range '{}'", part));
        }
        for (int c = lo; c <= hi; ++c) {
            cpus.insert(c);
        }
    }
    return cpus;
}

Result<IrqCpus> storage_irq_cpus(dev_t dev, const std::string& sys, const std::string& proc) {
    std::error_code ec;
    fs::path block = fs::path(sys) / "dev/block" / fmt::format("{}:{}", major(dev), minor(dev));
    fs::path disk = fs::canonical(block, ec);
    if (ec) {
        return fail(Error::msg("{}: not a block device ({})", block.string(), ec.message()));
    }
    if (fs::exists(disk / "partition")) {
        disk = disk.parent_path();
    }
    fs::path dir = fs::canonical(disk / "device", ec);
    if (ec) {
        return fail(Error::msg("{}/device: {}", disk.string(), ec.message()));
    }
    fs::path top = fs::weakly_canonical(fs::path(sys) / "devices", ec);
    while (!fs::is_directory(dir / "msi_irqs")) {
        if (dir == dir.parent_path() || !dir.string().starts_with(top.string())) {
            return fail(Error::msg("no MSI interrupts above {}", disk.string()));
        }
        dir = dir.parent_path();
    }
    IrqCpus out;
    out.device = dir.string();
    for (const auto& e : fs::directory_iterator(dir / "msi_irqs", ec)) {
        int irq = 0;
        if (!parse_int(e.path().filename().string(), irq)) {
            continue;
        }
        auto counts = read_file(fmt::format("{}/kernel/irq/{}/per_cpu_count", sys, irq));
        if (!counts) {
            continue;
        }
        bool fired = false;
        for (char c : *counts) {
            fired = fired || (c >= '1' && c <= '9');
        }
        if (!fired) {
            continue;  // e.g. virtio's config-change interrupt
        }
        auto aff = read_file(fmt::format("{}/irq/{}/effective_affinity_list", proc, irq));
        if (!aff) {
            continue;
        }
        auto cpus = parse_cpu_list(*aff);
        if (!cpus) {
            return fail(cpus.error().context(fmt::format("irq {}", irq)));
        }
        out.cpus.insert(cpus->begin(), cpus->end());
        out.irqs.push_back(irq);
    }
    if (out.cpus.empty()) {
        return fail(Error::msg("{}: no interrupt has fired yet", out.device));
    }
    std::sort(out.irqs.begin(), out.irqs.end());
    return out;
}

Result<std::set<int>> allowed_cpus() {
    cpu_set_t now;
    CPU_ZERO(&now);
    if (::sched_getaffinity(0, sizeof now, &now) < 0) {
        return fail(Error::sys("sched_getaffinity"));
    }
    std::set<int> out;
    for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (CPU_ISSET(c, &now)) {
            out.insert(c);
        }
    }
    return out;
}

Result<bool> pin_to(const std::set<int>& cpus, const std::set<int>& allowed) {
    auto now = GANTRY_TRY(allowed_cpus());
    cpu_set_t want;
    CPU_ZERO(&want);
    std::set<int> target;
    for (int c : cpus) {
        if (c < CPU_SETSIZE && allowed.contains(c)) {
            CPU_SET(c, &want);
            target.insert(c);
        }
    }
    if (target.empty() || target == now) {
        return false;
    }
    if (::sched_setaffinity(0, sizeof want, &want) < 0) {
        return fail(Error::sys("sched_setaffinity"));
    }
    return true;
}

Result<bool> pin_to(const std::set<int>& cpus) {
    return pin_to(cpus, GANTRY_TRY(allowed_cpus()));
}

StoragePin::StoragePin(dev_t dev, std::string sys, std::string proc)
    : dev_(dev), sys_(std::move(sys)), proc_(std::move(proc)) {}

Result<std::optional<std::set<int>>> StoragePin::refresh() {
    if (allowed_.empty()) {
        allowed_ = GANTRY_TRY(allowed_cpus());
    }
    last_ = GANTRY_TRY(storage_irq_cpus(dev_, sys_, proc_));
    if (!GANTRY_TRY(pin_to(last_.cpus, allowed_))) {
        return std::optional<std::set<int>>();
    }
    return std::optional<std::set<int>>(GANTRY_TRY(allowed_cpus()));
}

}  // namespace gantry::kv
