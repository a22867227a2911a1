// gantry-init: PID 1, or (--host-mode) the same supervisor as an ordinary process.
//
//   gantry-init                                           as PID 1 (config from its sources)
//   gantry-init --host-mode --state-dir DIR CONFIG.yaml   anywhere, for tests and trying out
//
// PID 1 never exits and never throws: every failure is logged, and one it cannot go on
// from becomes a clean reboot (the kernel panics if PID 1 exits).
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <tuple>

#include "base/event_loop.h"
#include "base/fd.h"
#include "base/log.h"
#include "base/strings.h"
#include "cloud-config/host.h"
#include "cloud-config/sources.h"
#include "init/machine.h"
#include "init/net_static.h"
#include "init/pid1.h"
#include "init/pid1_events.h"
#include "init/pid1_modules.h"
#include "init/switch_root.h"
#include "runtime/cgroup.h"
#include "runtime/security_steps.h"
#include "supervisor/api_server.h"
#include "supervisor/boot_config.h"
#include "supervisor/container_driver.h"
#include "supervisor/discovery.h"
#include "supervisor/discovery_config.h"
#include "supervisor/supervisor.h"

namespace gantry::init {
namespace {

namespace sv = gantry::supervisor;

struct Flags {
    bool host_mode = false;
    std::string state_dir;
    std::string config;
    std::string socket;
    std::string log_dir;
    std::string cgroup_root;
    std::string store_dir;
    std::string log_level = "info";
    std::string kv_endpoint;                     // discovery's store instead of the embedded one
    Duration kv_ttl = std::chrono::seconds(10);  // discovery's lease TTL
    Duration shutdown_timeout = std::chrono::seconds(90);
};

constexpr const char* kUsage =
    "usage: gantry-init [--log-level LEVEL]\n"
    "       gantry-init --host-mode --state-dir DIR [--socket PATH] [--log-dir DIR]\n"
    "                   [--cgroup-root DIR] [--store DIR] [--shutdown-timeout DUR]\n"
    "                   [--kv-endpoint URL] [--kv-ttl DUR] CONFIG\n"
    "CONFIG is a cloud-config YAML file (docs/config.md); a .json file is read as the\n"
    "older service file format (docs/supervisor.md). As PID 1 the config comes from the\n"
    "kernel command line, fw_cfg, a config drive or /var/lib/gantry (docs/config.md).\n";

Result<Flags> parse_flags(int argc, char** argv) {
    Flags f;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> Result<std::string> {
            if (i + 1 >= argc) {
                return fail(Error::msg("{} needs a value", a));
            }
            return std::string(argv[++i]);
        };
        if (a == "--host-mode") {
            f.host_mode = true;
        } else if (a == "--state-dir") {
            f.state_dir = GANTRY_TRY(value());
        } else if (a == "--socket") {
            f.socket = GANTRY_TRY(value());
        } else if (a == "--log-dir") {
            f.log_dir = GANTRY_TRY(value());
        } else if (a == "--cgroup-root") {
            f.cgroup_root = GANTRY_TRY(value());
        } else if (a == "--store") {
            f.store_dir = GANTRY_TRY(value());
        } else if (a == "--kv-endpoint") {
            f.kv_endpoint = GANTRY_TRY(value());
        } else if (a == "--kv-ttl") {
            f.kv_ttl = GANTRY_TRY(parse_duration(GANTRY_TRY(value())));
            if (f.kv_ttl < std::chrono::seconds(1)) {
                return fail(Error::msg("--kv-ttl must be at least 1s"));
            }
        } else if (a == "--log-level") {
            f.log_level = GANTRY_TRY(value());
        } else if (a == "--shutdown-timeout") {
            f.shutdown_timeout = GANTRY_TRY(parse_duration(GANTRY_TRY(value())));
        } else if (a == "-h" || a == "--help") {
            return fail(Error::msg("help"));
        } else if (!a.starts_with("-") && f.config.empty()) {
            f.config = a;
        } else {
            return fail(Error::msg("unknown argument \"{}\"", a));
        }
    }
    if (f.host_mode) {
        if (f.state_dir.empty() || f.config.empty()) {
            return fail(Error::msg("--host-mode needs --state-dir DIR and CONFIG"));
        }
        ::mkdir(f.state_dir.c_str(), 0755);
        if (f.socket.empty()) {
            f.socket = f.state_dir + "/api.sock";
        }
        if (f.log_dir.empty()) {
            f.log_dir = f.state_dir + "/logs";
        }
        if (f.store_dir.empty()) {
            f.store_dir = f.state_dir + "/images";
        }
    } else {
        if (f.state_dir.empty()) {
            f.state_dir = "/run/gantry";
        }
        if (f.store_dir.empty()) {
            f.store_dir = "/var/lib/gantry/images";
        }
        if (f.socket.empty()) {
            f.socket = "/run/gantry/api.sock";
        }
        if (f.log_dir.empty()) {
            f.log_dir = "/var/log/gantry";
        }
        if (f.cgroup_root.empty()) {
            f.cgroup_root = "/sys/fs/cgroup/gantry";
        }
    }
    return f;
}

// The machine-level outcome of a run: how PID 1 ends, or a host-mode exit code.
struct Outcome {
    FinalAction action = FinalAction::Poweroff;
    int exit_code = 0;
};

// Host mode runs on someone's machine: say up front which limits it can enforce, so a
// service that asks for one and fails is no surprise.
void log_cgroup_support() {
    auto mountinfo = read_file("/proc/self/mountinfo");
    if (!mountinfo) {
        return;
    }
    auto report = runtime::host_cgroup_support_report(*mountinfo, "/sys/fs/cgroup");
    if (!report) {
        log::warn("cgroup support unknown", {{"error", report.error().str()}});
        return;
    }
    for (const auto& line : split(*report, '\n')) {
        if (!line.empty()) {
            log::info("cgroups: " + line);
        }
    }
}

// PID 1 only: hostname, users, write_files. Planned whole first, so a bad owner in
// write_files changes nothing; host mode never touches the host's /etc.
void apply_host_bits(const config::Config& cfg) {
    auto plan = config::plan_host(cfg, "/");
    if (!plan) {
        log::error("host settings not applied", {{"error", plan.error().str()}});
        return;
    }
    if (auto st = config::apply_host(*plan, config::HostOptions{}); !st) {
        log::error("host settings partly applied", {{"error", st.error().str()}});
    }
}

// PID 1 only: the static part of network.interfaces as link steps (init/net_static.h),
// set by the late helper (init/pid1.cc). What needs gantry-netd (DHCP, match.mac, IPv6,
// extra routes) is said, not silently dropped.
std::vector<LinkStep> plan_network(const config::Network& net) {
    std::vector<LinkStep> steps;
    for (const auto& i : net.interfaces) {
        if (!i.match_mac.empty()) {
            log::warn("network: match.mac needs gantry-netd; interface left alone",
                      {{"interface", i.name}});
            continue;
        }
        LinkStep s{.name = i.name, .mtu = i.mtu};
        for (const auto& a : i.addresses) {
            auto v4 = parse_ipv4_cidr(a);
            if (v4 && s.ipv4.empty()) {
                std::tie(s.ipv4, s.prefix) = *v4;
            } else {
                log::warn("network: only the first IPv4 address is set before gantry-netd",
                          {{"interface", i.name}, {"address", a}});
            }
        }
        s.gateway = s.ipv4.empty() ? "" : i.gateway;
        if (i.dhcp) {
            log::warn("network: no DHCP client before gantry-netd; the link is only brought up",
                      {{"interface", i.name}});
        }
        if (!i.routes.empty()) {
            log::warn("network: routes need gantry-netd", {{"interface", i.name}});
        }
        steps.push_back(std::move(s));
    }
    return steps;
}

// For the guest's event channel: where the config came from, and why it was refused.
std::string boot_source(const sv::BootConfig& boot) {
    const auto& src = boot.report.value("source", nlohmann::json::object());
    if (src.is_object()) {
        return src.value("location", src.value("kind", std::string("none")));
    }
    return "none";
}

std::string boot_errors(const sv::BootConfig& boot) {
    std::vector<std::string> errors;
    for (const auto& e : boot.report.value("errors", nlohmann::json::array())) {
        errors.push_back(e.is_string() ? e.get<std::string>() : e.dump());
    }
    return join(errors, "; ");
}

void add_discovery(sv::BootConfig& boot, bool pid1, const Flags& f, sv::Supervisor& sup,
                   std::unique_ptr<sv::Discovery>& discovery) {
    const std::string& kv_endpoint = f.kv_endpoint;
    sv::DiscoveryPlan plan = sv::plan_discovery(boot.config.kv, pid1, kv_endpoint);
    plan.options.ttl = f.kv_ttl;
    if (pid1 && boot.config.kv.backend == config::KvBackend::embedded && kv_endpoint.empty()) {
        bool taken = false;
        for (const auto& s : boot.services) {
            taken = taken || s.name == sv::kEmbeddedKvName;
        }
        auto kv = sv::embedded_kv_service("/usr/bin/gantry-kv", sv::embedded_kv_data_dir());
        if (taken || !kv) {
            log::warn("embedded gantry-kv not started",
                      {{"why", taken ? "a service is named gantry-kv" : "no /usr/bin/gantry-kv"}});
        } else {
            boot.services.insert(boot.services.begin(), std::move(*kv));  // starts first
        }
    }
    if (!plan.enabled) {
        log::info("discovery off", {{"why", plan.why}});
        return;
    }
    log::info("discovery on", {{"store", plan.why}});
    discovery = std::make_unique<sv::Discovery>(plan.options);
    sup.set_discovery(discovery.get());
}

// For `gantryctl config status`: which drive the config came from, and what went wrong
// with drives; kept apart from "errors", which are about the config itself.
void report_config_drive(nlohmann::json& report, const Pid1::DriveState& d) {
    nlohmann::json drive = nullptr;
    if (d.drive) {
        drive = {{"device", d.drive->device},
                 {"label", d.drive->fs.label},
                 {"fs", d.drive->fs.fstype},
                 {"kind", d.drive->kind},
                 {"mounted", !d.dir.empty()}};
        auto& src = report["source"];
        if (src.is_object() && src.value("kind", "") == "config-drive") {
            src["device"] = d.drive->device;
            src["label"] = d.drive->fs.label;
        }
    }
    report["config_drive"] = {{"drive", drive}, {"problems", d.problems}};
}

void report_kernel(nlohmann::json& report, const KernelReport& k) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& i : k.items) {
        nlohmann::json e = {{"what", i.what}, {"name", i.name}};
        if (i.what == "sysctl") {
            e["value"] = i.value;
        }
        if (i.error.empty()) {
            e["result"] = i.result;
        } else {
            e["error"] = i.error;
        }
        items.push_back(std::move(e));
    }
    report["kernel"] = {{"items", std::move(items)}, {"errors", k.errors}};
}

Result<Outcome> run(const Flags& f, bool pid1) {
    // PID 1: early mounts, cgroup controllers, ctrl-alt-del, early modules, events (pid1.h).
    std::unique_ptr<Pid1> machine = pid1 ? Pid1::boot() : nullptr;
    if (!pid1 && ::prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
        return fail(Error::sys("PR_SET_CHILD_SUBREAPER"));
    }
    ::mkdir(f.state_dir.c_str(), 0755);

    EventLoop loop = GANTRY_TRY(EventLoop::create());
    std::unique_ptr<sv::Discovery> discovery;  // outlives the supervisor, which borrows it
    sv::ProcessDriver process_driver(sv::ProcessDriverOptions{f.cgroup_root});
    sv::ContainerDriverOptions co;
    co.store_dir = f.store_dir;
    co.state_dir = f.state_dir;
    // Host mode: a cgroup parent per instance, so two test runs never share a leaf.
    co.cgroup_parent = pid1 ? "gantry" : fmt::format("gantry-host-{}", ::getpid());
    sv::ContainerDriver container_driver(co);
    sv::RoutingDriver driver(process_driver, container_driver);
    sv::Supervisor sup(loop, driver, {f.state_dir + "/run", f.log_dir});
    if (!pid1) {
        log_cgroup_support();
    }

    // 4. The config: refused whole or used whole; with none, no services and the API up.
    sv::BootConfigOptions bo;
    bo.pid1 = pid1;
    bo.config_path = f.config;
    bo.state_dir = pid1 ? "/var/lib/gantry" : f.state_dir;
    bo.store_dir = f.store_dir;
    bo.volumes_dir = pid1 ? "/var/lib/gantry/volumes" : f.state_dir + "/volumes";
    // Config drives are looked for only when no source before them has a config (the
    // first source found wins, docs/config.md): a boot with fw_cfg loads no virtio_blk.
    if (machine && !config::has_source_before_drives(config::SourcePaths{})) {
        bo.config_drives = machine->mount_config_drive(f.state_dir + "/config-drive");
    }
    sv::BootConfig boot = sv::load_boot_config(bo);
    if (machine) {
        machine->unmount_config_drive();
        report_config_drive(boot.report, machine->config_drive());
        machine->config_loaded(boot_source(boot), boot.services.size(), boot_errors(boot));
    }
    // 5. The kernel section, then the host bits, before any service starts.
    if (machine && boot.have_config) {
        report_kernel(boot.report,
                      machine->apply_kernel(boot.config.kernel.modules, boot.config.kernel.sysctl));
    }
    if (pid1 && boot.have_config) {
        apply_host_bits(boot.config);
    }
    // The network: `lo` now (gantry-kv and health checks use 127.0.0.1); the NIC and
    // network.interfaces in the late helper, while services in their own network
    // namespace start. Services on the host's network wait until the links are set.
    std::vector<LinkStep> links;
    if (pid1) {
        for (const auto& e : apply_links({})) {
            log::error("network setup", {{"error", e.str()}});
        }
        links = plan_network(boot.have_config ? boot.config.network : config::Network{});
        if (!links.empty()) {
            std::vector<std::string> names;
            for (const auto& l : links) {
                names.push_back(l.name);
            }
            sup.hold_host_network("waiting for the network (" + join(names, ", ") + ")");
        }
    }
    // PID 1's helpers are forks that run code: before discovery starts its thread.
    if (machine) {
        GANTRY_TRY(machine->start_helpers(loop, sup, f.socket, links));
    }
    // Discovery (issue 7): PID 1 with the embedded store runs gantry-kv first, as a
    // built-in host-process service; every service is then registered in the store.
    if (boot.have_config) {
        add_discovery(boot, pid1, f, sup, discovery);
    }
    std::vector<std::string> names;
    for (const auto& s : boot.services) {
        names.push_back(s.name);
    }
    if (auto st = sup.load(boot.services); !st) {
        // Graph problems the config checker cannot see (none expected: it checks the same
        // references); reported like a refused config.
        log::error("no services: config rejected", {{"error", st.error().str()}});
        boot.report["errors"].push_back(st.error().str());
        boot.report["message"] = "services not loaded: " + st.error().str();
        sv::report_services(boot.report, {});
    }

    Outcome outcome;
    std::optional<Source> deadline;
    auto begin_shutdown = [&](FinalAction action) {
        if (sup.shutting_down()) {
            return;
        }
        outcome.action = action;
        log::info(action == FinalAction::Poweroff ? "poweroff requested" : "reboot requested");
        // A bound on the whole shutdown, in case a driver never reports an exit.
        if (auto t = loop.after(f.shutdown_timeout, [&] {
                log::warn("shutdown timed out; going on");
                loop.exit(0);
            })) {
            deadline = std::move(*t);
        }
        sup.shutdown([&] { loop.exit(0); });
    };
    // The API's reply to `gantryctl poweroff` goes out first: through the host's
    // virtio-serial bridge it needs a moment, and a machine with nothing to stop would
    // otherwise power off before the reply left.
    std::optional<Source> api_delay;
    auto shutdown_from_api = [&](FinalAction action) {
        auto t =
            loop.after(std::chrono::milliseconds(200), [&, action] { begin_shutdown(action); });
        if (t) {
            api_delay = std::move(*t);
        } else {
            begin_shutdown(action);
        }
    };

    sv::ApiServer api(
        loop, sup,
        {[&] { shutdown_from_api(FinalAction::Poweroff); },
         [&] { shutdown_from_api(FinalAction::Reboot); }, [&] { return boot.report; }});
    if (auto st = api.listen(f.socket); !st) {
        if (!pid1) {
            return fail(std::move(st).error());
        }
        log::error("API not available", {{"error", st.error().str()}});
    }

    Source term = GANTRY_TRY(loop.on_signal(
        SIGTERM, [&](const signalfd_siginfo&) { begin_shutdown(FinalAction::Poweroff); }));
    Source intr = GANTRY_TRY(loop.on_signal(
        SIGINT, [&](const signalfd_siginfo&) { begin_shutdown(FinalAction::Reboot); }));
    std::string children = fmt::format("/proc/self/task/{}/children", ::getpid());
    Source chld = GANTRY_TRY(loop.on_signal(SIGCHLD, [&](const signalfd_siginfo&) {
        int n = reap_orphans([&](pid_t pid) { return sup.tracks(pid); }, children);
        if (n > 0) {
            log::debug("reaped orphans", {{"count", n}});
        }
    }));
    ::signal(SIGPIPE, SIG_IGN);

    log::info("gantry-init up",
              {{"mode", pid1 ? "pid1" : "host"}, {"socket", f.socket}, {"config", f.config}});
    if (machine)
        GANTRY_TRY(machine->attach(loop, sup, begin_shutdown));
    sup.start_all();
    GANTRY_TRY(loop.run());
    log::info("all services stopped");
    // One last sweep: the supervisor is idle, nothing it tracks is alive.
    reap_orphans([](pid_t) { return false; }, children);
    if (machine) {
        finish(outcome.action, machine->mounts());
    }
    return outcome;
}

}  // namespace
}  // namespace gantry::init

int main(int argc, char** argv) {
    using namespace gantry;
    const bool pid1_process = ::getpid() == 1;
    auto flags = init::parse_flags(argc, argv);
    if (!flags) {
        if (!pid1_process) {
            if (flags.error().message() != "help") {
                fmt::print(stderr, "gantry-init: {}\n", flags.error().str());
            }
            fmt::print(stderr, "{}", init::kUsage);
            return 2;
        }
        flags = init::Flags{};  // PID 1 with odd kernel cmdline args still boots
        flags->state_dir = "/run/gantry";
        flags->store_dir = "/var/lib/gantry/images";
        flags->socket = "/run/gantry/api.sock";
        flags->log_dir = "/var/log/gantry";
        flags->cgroup_root = "/sys/fs/cgroup/gantry";
    }
    const bool pid1 = pid1_process && !flags->host_mode;
    if (pid1 && init::on_initial_rootfs()) {
        // Containers pivot_root, which the kernel refuses on the initial rootfs: give "/" a
        // parent mount first (init/switch_root.h). Normally a bind, no copy, and PID 1 goes
        // on; only the copy fallback re-executes, and the "pid1" event then keeps this first
        // start's time so the copy counts as PID 1's.
        ::setenv(init::kPid1TimeEnv, fmt::format("{:.6f}", init::boottime()).c_str(), 1);
        auto st = init::switch_off_rootfs(argv);
        if (!st) {
            fmt::print(stderr, "gantry-init: staying on the initramfs root: {}\n",
                       st.error().str());
        }
    }
    log::Options lo;
    log::parse_level(flags->log_level, lo.min_level);
    lo.ident = "gantry-init";
    log::configure(lo);
    if (pid1) {
        // The OS image's default seccomp program, compiled by `gantry-build os`: the first
        // container start then loads it instead of compiling (runtime/security_steps.h).
        runtime::set_seccomp_prebuilt_dir(runtime::kSeccompPrebuiltDir);
    }
    try {
        auto r = init::run(*flags, pid1);
        if (r) {
            return r->exit_code;
        }
        log::error("gantry-init failed", {{"error", r.error().str()}});
    } catch (const std::exception& e) {
        log::error("gantry-init: unexpected exception", {{"error", e.what()}});
    } catch (...) {
        log::error("gantry-init: unexpected exception");
    }
    if (pid1) {
        // A fatal error in PID 1 becomes a clean reboot, never a kernel panic.
        init::finish(init::FinalAction::Reboot, init::plan_mounts(""));
    }
    return 1;
}
