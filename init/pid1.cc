#include "init/pid1.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/input.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "base/fd.h"
#include "base/log.h"
#include "base/strings.h"
#include "cloud-config/sources.h"
#include "init/pid1_modules.h"
#include "supervisor/supervisor.h"

namespace gantry::init {

namespace sv = gantry::supervisor;

namespace {

// PID 1's stderr is /dev/console (the kernel opened it): what an operator must see without
// the event channel goes there too, not only to kmsg.
void console(std::string_view line) {
    (void)write_all(2, fmt::format("gantry-init: {}\n", line));
}

std::string module_fields(const ModuleResult& r) {
    return fmt::format("\"loaded\":{},\"failed\":{}", r.loaded, r.failed.size());
}

void report_module_failures(const ModuleResult& r) {
    for (const auto& f : r.failed) {
        console("module-failed " + f);
    }
}

// /dev/input/NAME; if it is not there yet, a node of our own from the device number in
// sysfs. devtmpfs adds /dev nodes from a kernel thread, so soon after finit_module(evdev)
// returns the node may still be missing.
Result<Fd> open_input_device(const std::string& name) {
    auto fd = Fd::open("/dev/input/" + name, O_RDONLY | O_NONBLOCK);
    if (fd) {
        return fd;
    }
    auto dev = read_file("/sys/class/input/" + name + "/dev");  // "13:66\n"
    unsigned major = 0, minor = 0;
    if (!dev || std::sscanf(dev->c_str(), "%u:%u", &major, &minor) != 2) {
        return fd;
    }
    std::string node = "/run/gantry/" + name;
    ::unlink(node.c_str());
    if (::mknod(node.c_str(), S_IFCHR | 0600, ::makedev(major, minor)) < 0) {
        return fail(Error::sys("mknod {}", node));
    }
    auto own = Fd::open(node, O_RDONLY | O_NONBLOCK);
    ::unlink(node.c_str());
    return own;
}

void load_by_name(const ModuleIndex& index, const std::vector<std::string>& names,
                  const char* what) {
    for (const auto& m : load_named_modules(index, names)) {
        if (m.outcome == ModuleOutcome::failed) {
            log::error("module not loaded",
                       {{"for", what}, {"module", m.name}, {"error", m.error}});
            console(fmt::format("module-failed {} ({}): {}", m.name, what, m.error));
        }
    }
}

// The late helper's body (a child of PID 1, see attach()); `w` is its end of the pipe.
void late_helper(const EventChannel& ev, int w, const std::vector<LinkStep>& links) {
    auto text = read_file(kModuleIndexPath);
    ModuleIndex index = text ? parse_module_index(*text) : ModuleIndex{};
    // 1. The NIC driver and the static links, first: host-network services wait for them.
    // finit_module returns once the driver has probed, so eth0 exists after it.
    if (!links.empty()) {
        load_by_name(index, {"virtio_net"}, "network.interfaces");
        auto errors = apply_links(links);
        for (const auto& e : errors) {
            log::error("network setup", {{"error", e.str()}});
            console("network setup: " + e.str());
        }
        ev.emit("network", fmt::format("\"links\":{},\"errors\":{}", links.size(), errors.size()));
        (void)write_all(w, "n");
    }
    // 2. The rest at the lowest priority: on the one vCPU the first container starts get
    // the CPU first (nice, not SCHED_IDLE: a busy service cannot starve them).
    (void)::setpriority(PRIO_PROCESS, 0, 19);
    auto late = load_module_file("/etc/gantry/modules.late");
    report_module_failures(late);
    ev.emit("modules-late", module_fields(late));
}

}  // namespace

pid_t spawn_helper(const char* name, std::function<void()> fn) {
    pid_t pid = ::fork();
    if (pid != 0) {
        if (pid < 0) {
            log::warn("fork helper failed", {{"helper", name}, {"errno", errno}});
        }
        return pid;
    }
    // The child: PID 1 blocks the signals its signalfds read; a helper wants them plain.
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_UNBLOCK, &all, nullptr);
    for (int s = 1; s < NSIG; ++s) {
        ::signal(s, SIG_DFL);
    }
    ::prctl(PR_SET_NAME, name);
    fn();
    ::_exit(0);
}

std::unique_ptr<Pid1> Pid1::boot() {
    // The time of PID 1's start, before it left the initial rootfs (init/switch_root.h).
    const double t_start = boottime();
    double t_pid1 = t_start;
    if (const char* t = std::getenv(kPid1TimeEnv); t != nullptr) {
        t_pid1 = std::strtod(t, nullptr);
        ::unsetenv(kPid1TimeEnv);
    }
    std::unique_ptr<Pid1> m(new Pid1());
    // 1. Early mounts: /proc, /sys, /dev, /dev/pts, /dev/shm, /run, /tmp, cgroup2.
    m->mounts_ = plan_mounts("");
    for (const auto& e : apply_mounts(m->mounts_)) {
        console("early mount failed: " + e.str());
    }
    // 2. Every controller for the services' cgroups (memory, pids, cpu, io ...).
    if (auto st = enable_controllers("/sys/fs/cgroup"); !st) {
        console("cgroup controllers not enabled: " + st.error().str());
    }
    // 3. Ctrl-Alt-Del becomes SIGINT (a clean reboot), not an instant one.
    ::reboot(RB_DISABLE_CAD);
    // 4. The early modules: fw_cfg (config), virtio_console (events, ctl), the button.
    auto early = load_module_file("/etc/gantry/modules");
    report_module_failures(early);
    // 5. The event port exists once virtio_console has probed; PID 1's start is sent now
    // with its own time.
    const double port_wait_ms = m->events_.open(2000);
    m->events_.emit("pid1", "", t_pid1);
    if (t_pid1 < t_start) {
        m->events_.emit("rootfs", "", t_start);  // "/" has a parent mount now
    }
    m->events_.emit("modules",
                    fmt::format("{},\"port_wait_ms\":{:.1f}", module_fields(early), port_wait_ms));
    const EventChannel* ev = &m->events_;
    set_finish_reporter(
        [ev](std::string_view event, const std::string& fields) { ev->emit(event, fields); });
    return m;
}

std::vector<std::string> Pid1::mount_config_drive(const std::string& mount_root) {
    // 0. The disk driver is not an early module: only a boot without a config on the
    // command line or in fw_cfg gets here (init/main.cc).
    auto text = read_file(kModuleIndexPath);
    const ModuleIndex index = text ? parse_module_index(*text) : ModuleIndex{};
    load_by_name(index, {"virtio_blk"}, "config drives");
    // 1. Labels from the devices' bytes: no file system module is needed to find the drive.
    DriveScan scan = scan_config_drives();
    DriveChoice choice = choose_config_drive(scan.found);
    drive_.problems = std::move(scan.problems);
    drive_.problems.insert(drive_.problems.end(), choice.problems.begin(), choice.problems.end());
    drive_.drive = choice.chosen;
    std::string mount_error;
    if (drive_.drive) {
        // 2. The file system's modules only now, and only for a drive that is there: most
        // boots have none, and each module costs ~15 ms under TCG.
        for (const auto& m : load_named_modules(index, fs_modules(drive_.drive->fs.fstype))) {
            if (m.outcome == ModuleOutcome::failed) {
                drive_.problems.push_back(fmt::format("module {}: {}", m.name, m.error));
            }
        }
        // 3. Mount it read-only for the loader.
        auto dir = init::mount_config_drive(*drive_.drive, mount_root);
        if (dir) {
            drive_.dir = *dir;
            if (!config::find_config_drive_file(*dir)) {
                drive_.problems.push_back(fmt::format(
                    "{} ({}) has neither user-data (NoCloud) nor openstack/latest/user_data "
                    "(OpenStack)",
                    drive_.drive->device, drive_.drive->fs.label));
            }
        } else {
            mount_error = dir.error().str();
            drive_.problems.push_back(mount_error);
        }
    }
    for (const auto& p : drive_.problems) {
        console("config drive: " + p);
    }
    if (drive_.drive) {
        const auto& d = *drive_.drive;
        console(fmt::format("config drive {} ({} label {}){}", d.device, d.fs.fstype, d.fs.label,
                            drive_.dir.empty() ? ": not mounted" : " mounted on " + drive_.dir));
        events_.emit("config-drive",
                     fmt::format("\"device\":{},\"label\":{},\"fs\":{},\"kind\":{},\"mounted\":{},"
                                 "\"problems\":{}{}",
                                 json_str(d.device), json_str(d.fs.label), json_str(d.fs.fstype),
                                 json_str(d.kind), drive_.dir.empty() ? "false" : "true",
                                 drive_.problems.size(),
                                 mount_error.empty() ? "" : ",\"error\":" + json_str(mount_error)));
    } else if (!drive_.problems.empty()) {
        events_.emit("config-drive",
                     fmt::format("\"device\":null,\"problems\":{}", drive_.problems.size()));
    }
    if (drive_.dir.empty()) {
        return {};
    }
    return {drive_.dir};
}

void Pid1::unmount_config_drive() {
    if (drive_.dir.empty()) {
        return;
    }
    if (auto st = init::unmount_config_drive(drive_.dir); !st) {
        console("config drive: " + st.error().str());
    }
}

KernelReport Pid1::apply_kernel(const std::vector<std::string>& modules,
                                const std::map<std::string, std::string>& sysctl) {
    KernelReport r = apply_kernel_settings(modules, sysctl);
    for (const auto& item : r.items) {
        if (item.error.empty()) {
            continue;
        }
        std::string where = item.what == "module" ? fmt::format("kernel.modules {}", item.name)
                                                  : fmt::format("kernel.sysctl[\"{}\"]", item.name);
        console(fmt::format("{}: {} (the boot goes on)", where, item.error));
        events_.emit("kernel-error",
                     fmt::format("\"what\":{},\"name\":{},\"error\":{}", json_str(item.what),
                                 json_str(item.name), json_str(item.error)));
    }
    if (!r.items.empty()) {
        events_.emit("kernel", fmt::format("\"modules\":{},\"sysctls\":{},\"errors\":{}",
                                           r.modules_loaded, r.sysctls_set, r.errors));
    }
    return r;
}

Pid1::~Pid1() {
    if (sup_ != nullptr && sub_ != 0) {
        sup_->unsubscribe(sub_);
    }
}

void Pid1::config_loaded(const std::string& source, size_t services, const std::string& error) {
    if (error.empty()) {
        events_.emit("config", fmt::format("\"ok\":true,\"source\":{},\"services\":{}",
                                           json_str(source), services));
        return;
    }
    // A refused config leaves the machine up with its API (no services), so it can be
    // inspected and given a new one; the errors go where an operator looks first.
    for (const auto& line : split(error, '\n')) {
        if (!trim(line).empty()) {
            console("config error: " + std::string(line));
        }
    }
    events_.emit("config", fmt::format("\"ok\":false,\"source\":{},\"error\":{}", json_str(source),
                                       json_str(error)));
    events_.emit("failed", "\"reason\":" + json_str("config: " + error));
    failed_ = true;
}

Status Pid1::start_helpers(EventLoop& loop, sv::Supervisor& sup, const std::string& api_socket,
                           const std::vector<LinkStep>& links) {
    loop_ = &loop;
    sup_ = &sup;
    // The late helper, while services start: the NIC and network.interfaces (when the
    // config names any) first, then every other module at the lowest priority. It tells
    // PID 1 on a pipe: 'n' = the links are set (host-network services may start); EOF =
    // it is done or died.
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) < 0) {
        return fail(Error::sys("pipe for the late helper"));
    }
    Fd from_helper(pipe_fds[0]);
    Fd to_pid1(pipe_fds[1]);
    const EventChannel* ev = &events_;
    spawn_helper("gantry-modules", [ev, w = to_pid1.get(), &links] { late_helper(*ev, w, links); });
    to_pid1.reset();  // only the helper holds the write end: its exit is our EOF
    late_ = GANTRY_TRY(HelperReports::watch(
        loop, std::move(from_helper),
        [this](char report) {
            if (report == 'n') {
                sup_->release_host_network();
            }
        },
        // Done (or died): nothing may stay held because of it.
        [this] { sup_->release_host_network(); }));
    spawn_helper("gantry-ctl-port", [api_socket] { run_ctl_bridge(api_socket); });
    return ok();
}

Status Pid1::attach(EventLoop& loop, sv::Supervisor& sup,
                    std::function<void(FinalAction)> shutdown) {
    loop_ = &loop;
    sup_ = &sup;
    shutdown_ = std::move(shutdown);
    // The ACPI power button: its modules are early, so it is watched before any service
    // starts and a press right after `ready` is never lost.
    watch_power_button();
    sub_ = sup.subscribe_events([this](const sv::ServiceEvent& e) {
        events_.emit("service", fmt::format("\"service\":{},\"from\":{},\"to\":{},\"detail\":{}",
                                            json_str(e.service), json_str(e.from), json_str(e.to),
                                            json_str(e.detail)));
        check_ready();
    });
    // After start_all(): with no services at all, nothing changes state to trigger a check.
    sources_.push_back(GANTRY_TRY(loop.defer([this] { check_ready(); })));
    return ok();
}

void Pid1::check_ready() {
    if (ready_ || sup_ == nullptr || sup_->shutting_down()) {
        return;
    }
    bool all_started = true, all_ready = true;
    auto names = sup_->names();
    for (const auto& name : names) {
        auto st = sup_->status(name);
        if (!st || st->spec == nullptr) {
            continue;
        }
        if (st->state == sv::State::Failed && !failed_) {
            failed_ = true;
            events_.emit(
                "failed",
                "\"reason\":" + json_str(fmt::format("service {} failed: {}", name, st->reason)) +
                    ",\"service\":" + json_str(name));
        }
        bool up;
        if (st->spec->type == sv::ServiceType::Oneshot) {
            up = st->state == sv::State::Exited;
        } else if (st->spec->healthcheck) {
            up = st->state == sv::State::Healthy;
        } else {
            up = st->state == sv::State::Running || st->state == sv::State::Healthy;
        }
        all_ready = all_ready && up;
        all_started = all_started && st->state != sv::State::Waiting;
    }
    if (all_started && !started_) {
        started_ = true;
        events_.emit("services-started", fmt::format("\"services\":{}", names.size()));
    }
    if (all_ready) {
        ready_ = true;
        events_.emit("ready", fmt::format("\"services\":{}", names.size()));
        log::info("machine ready", {{"services", names.size()}});
    }
}

// The ACPI power button (what a cloud's "stop" sends) is an input device named "Power
// Button" (drivers/acpi/button.c, needs `button` + `evdev`): KEY_POWER down = poweroff.
void Pid1::watch_power_button() {
    int watched = 0;
    DIR* d = ::opendir("/sys/class/input");
    if (d == nullptr) {
        return;
    }
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        auto name = read_file("/sys/class/input/" + n + "/device/name");
        if (!n.starts_with("event") || !name || !trim(*name).starts_with("Power Button")) {
            continue;
        }
        auto fd = open_input_device(n);
        if (!fd) {
            console("power button: " + fd.error().str());
            continue;
        }
        int raw = fd->get();
        auto src = loop_->on_io(raw, EPOLLIN, [this, raw](uint32_t) {
            input_event ev{};
            while (::read(raw, &ev, sizeof ev) == static_cast<ssize_t>(sizeof ev)) {
                if (ev.type == EV_KEY && ev.code == KEY_POWER && ev.value == 1) {
                    events_.emit("power-button");
                    shutdown_(FinalAction::Poweroff);
                }
            }
        });
        if (src) {
            sources_.push_back(std::move(*src));
            fds_.push_back(std::move(*fd));
            ++watched;
        }
    }
    ::closedir(d);
    events_.emit("power-button-watch", fmt::format("\"devices\":{}", watched));
}

}  // namespace gantry::init
