#include <grp.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <cmath>

#include "base/log.h"
#include "base/strings.h"
#include "supervisor/driver.h"

namespace gantry::supervisor {

namespace {

Status write_all_file(const std::string& path, std::string_view value) {
    Fd fd = GANTRY_TRY(Fd::open(path, O_WRONLY));
    return write_all(fd.get(), value);
}

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Everything the child needs, prepared in the parent: between fork and exec there is no
// allocation (STYLE.md), only syscalls on these fields.
struct ChildPlan {
    std::string exe;
    std::vector<std::string> args;
    std::vector<std::string> envs;
    std::vector<char*> argv;
    std::vector<char*> envp;
    std::string rootfs;
    std::string cwd;
    bool set_user = false;
    uid_t uid = 0;
    gid_t gid = 0;
    int stdin_fd = -1;
    int stdout_fd = -1;
    int stderr_fd = -1;
    int cgroup_procs_fd = -1;
};

// Steps the child reports on failure, so the parent's error says where it broke.
enum ChildStep : int {
    kSigmask = 1,
    kSetsid,
    kCgroup,
    kDup,
    kChroot,
    kChdir,
    kSetgid,
    kSetuid,
    kExec
};

const char* step_name(int step) {
    switch (step) {
        case kSigmask:
            return "reset signal mask";
        case kSetsid:
            return "setsid";
        case kCgroup:
            return "join cgroup";
        case kDup:
            return "set up stdio";
        case kChroot:
            return "chroot";
        case kChdir:
            return "chdir to working_dir";
        case kSetgid:
            return "setgid";
        case kSetuid:
            return "setuid";
        case kExec:
            return "exec";
    }
    return "?";
}

Result<std::string> resolve_exe(const ServiceSpec& spec, const std::string& argv0,
                                const std::vector<std::string>& env) {
    if (argv0.find('/') != std::string::npos) {
        return argv0;
    }
    std::string path = kDefaultPath;
    for (const auto& e : env) {
        if (e.starts_with("PATH=")) {
            path = e.substr(5);
        }
    }
    for (const auto& dir : split(path, ':')) {
        if (dir.empty()) {
            continue;
        }
        std::string candidate = dir + "/" + argv0;
        if (::access((spec.rootfs + candidate).c_str(), X_OK) == 0) {
            return candidate;
        }
    }
    return fail(Error::msg("\"{}\" not found in PATH ({})", argv0, path));
}

Status resolve_user(const std::string& user, ChildPlan& plan) {
    if (user.empty()) {
        return ok();
    }
    plan.set_user = true;
    std::string u = user;
    std::string g;
    if (auto colon = user.find(':'); colon != std::string::npos) {
        u = user.substr(0, colon);
        g = user.substr(colon + 1);
    }
    auto number = [](const std::string& s, unsigned& out) {
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        return ec == std::errc() && p == s.data() + s.size();
    };
    unsigned id = 0;
    if (number(u, id)) {
        plan.uid = id;
        plan.gid = id;
    } else {
        // The host's user database; a rootfs's /etc/passwd is the image part's business.
        passwd* pw = ::getpwnam(u.c_str());
        if (pw == nullptr) {
            return fail(Error::msg("user \"{}\" not found", u));
        }
        plan.uid = pw->pw_uid;
        plan.gid = pw->pw_gid;
    }
    if (!g.empty()) {
        if (number(g, id)) {
            plan.gid = id;
        } else {
            group* gr = ::getgrnam(g.c_str());
            if (gr == nullptr) {
                return fail(Error::msg("group \"{}\" not found", g));
            }
            plan.gid = gr->gr_gid;
        }
    }
    return ok();
}

[[noreturn]] void child_fail(int report_fd, int step) {
    int msg[2] = {step, errno};
    ssize_t r = ::write(report_fd, msg, sizeof msg);
    (void)r;
    ::_exit(127);
}

// Runs in the child: async-signal-safe calls only.
[[noreturn]] void child_main(const ChildPlan& p, int report_fd) {
    // 1. sd-event blocked SIGCHLD/SIGTERM... in the parent; the mask and ignored
    //    dispositions survive exec, so a service would never see its stop signal.
    if (!reset_signals_for_exec()) {
        child_fail(report_fd, kSigmask);
    }
    // 2. Own session and process group: stop/kill reach every process of the service.
    if (::setsid() < 0) {
        child_fail(report_fd, kSetsid);
    }
    // 3. Cgroup first, so everything the service forks is accounted there.
    if (p.cgroup_procs_fd >= 0 && ::write(p.cgroup_procs_fd, "0", 1) != 1) {
        child_fail(report_fd, kCgroup);
    }
    // 4. stdio.
    if (::dup2(p.stdin_fd, 0) < 0 || ::dup2(p.stdout_fd, 1) < 0 || ::dup2(p.stderr_fd, 2) < 0) {
        child_fail(report_fd, kDup);
    }
    // 5. Root and working directory.
    if (!p.rootfs.empty() && (::chroot(p.rootfs.c_str()) < 0 || ::chdir("/") < 0)) {
        child_fail(report_fd, kChroot);
    }
    if (!p.cwd.empty() && ::chdir(p.cwd.c_str()) < 0) {
        child_fail(report_fd, kChdir);
    }
    // 6. Credentials: groups and gid before uid, while we still may.
    //    Raw system calls: the child shares the parent's memory (PidFd::vfork_exec), and
    //    glibc's wrappers in a process with threads (PID 1's discovery thread) would apply
    //    the change to every thread of the parent as well (the setxid broadcast).
    if (p.set_user) {
        if (::syscall(SYS_setgroups, 0, nullptr) < 0 || ::syscall(SYS_setgid, p.gid) < 0) {
            child_fail(report_fd, kSetgid);
        }
        if (::syscall(SYS_setuid, p.uid) < 0) {
            child_fail(report_fd, kSetuid);
        }
    }
    // 7. Nothing but 0-2 may cross exec (runc CVE-2024-21626): mark the rest CLOEXEC;
    //    report_fd closes with them, which tells the parent exec worked.
    ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execve(p.exe.c_str(), p.argv.data(), p.envp.data());
    child_fail(report_fd, kExec);
}

struct ChildStart {
    const ChildPlan* plan;
    int report_fd;
};

int child_entry(void* arg) {
    auto* c = static_cast<ChildStart*>(arg);
    child_main(*c->plan, c->report_fd);
}

Result<PidFd> spawn(const ServiceSpec& spec, const std::vector<std::string>& args,
                    std::vector<std::string> env, int out_fd, int err_fd, int cgroup_procs_fd) {
    ChildPlan p;
    p.args = args;
    p.envs = std::move(env);
    GANTRY_TRY_CTX(resolve_user(spec.user, p), "service {}", spec.name);
    p.exe = GANTRY_TRY_CTX(resolve_exe(spec, args.at(0), p.envs), "service {}", spec.name);
    for (auto& a : p.args) {
        p.argv.push_back(a.data());
    }
    p.argv.push_back(nullptr);
    for (auto& e : p.envs) {
        p.envp.push_back(e.data());
    }
    p.envp.push_back(nullptr);
    p.rootfs = spec.rootfs;
    p.cwd = spec.working_dir;
    Fd devnull = GANTRY_TRY(Fd::open("/dev/null", O_RDONLY));
    p.stdin_fd = devnull.get();
    p.stdout_fd = out_fd;
    p.stderr_fd = err_fd;
    p.cgroup_procs_fd = cgroup_procs_fd;

    FdPair report = GANTRY_TRY(make_pipe());
    // vfork-style: in PID 1 a fork would copy its page tables and leave every page
    // copy-on-write for the one execve that follows (costly under QEMU's TCG).
    ChildStart start{&p, report.write.get()};
    auto forked =
        GANTRY_TRY_CTX(PidFd::vfork_exec(child_entry, &start), "start service {}", spec.name);
    report.write.reset();
    // EOF means exec happened (the pipe was CLOEXEC); 8 bytes mean a step failed.
    int msg[2] = {0, 0};
    ssize_t n;
    do {
        n = ::read(report.read.get(), msg, sizeof msg);
    } while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(sizeof msg)) {
        (void)forked.wait();
        return fail(Error::with_errno(
            msg[1], fmt::format("service {}: {} ({})", spec.name, step_name(msg[0]), p.exe)));
    }
    return forked;
}

std::vector<std::string> base_env(const ServiceSpec& spec) {
    std::vector<std::string> env;
    bool has_path = false;
    for (const auto& e : spec.env) {
        has_path = has_path || e.starts_with("PATH=");
    }
    if (!has_path) {
        env.push_back(std::string("PATH=") + kDefaultPath);
    }
    env.insert(env.end(), spec.env.begin(), spec.env.end());
    return env;
}

}  // namespace

std::optional<uint64_t> parse_events_counter(std::string_view text, std::string_view key) {
    for (const auto& line : split(text, '\n')) {
        if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ' ') {
            uint64_t v = 0;
            auto [p, ec] =
                std::from_chars(line.data() + key.size() + 1, line.data() + line.size(), v);
            if (ec == std::errc()) {
                return v;
            }
        }
    }
    return std::nullopt;
}

std::optional<uint64_t> parse_oom_kills(std::string_view text) {
    return parse_events_counter(text, "oom_kill");
}

Result<Started> ProcessDriver::start(const ServiceSpec& spec, const StartIo& io) {
    std::vector<std::string> env = base_env(spec);
    if (!io.notify_socket.empty()) {
        env.push_back("NOTIFY_SOCKET=" + io.notify_socket);
        if (spec.watchdog > Duration(0)) {
            // No WATCHDOG_PID: the pid is known only after clone, and the child may not
            // allocate. sd_watchdog_enabled() accepts a missing WATCHDOG_PID.
            env.push_back(fmt::format(
                "WATCHDOG_USEC={}",
                std::chrono::duration_cast<std::chrono::microseconds>(spec.watchdog).count()));
        }
    }
    Started s;
    Fd procs;
    if (!opts_.cgroup_root.empty()) {
        s.cgroup = opts_.cgroup_root + "/" + spec.name;
        ::mkdir(s.cgroup.c_str(), 0755);
        // Limits are best effort: a controller missing from subtree_control is logged,
        // not fatal, so a service still runs on a kernel without it.
        auto limit = [&](const char* file, const std::string& value) {
            if (auto st = write_all_file(s.cgroup + "/" + file, value); !st) {
                log::warn("cgroup limit not applied",
                          {{"service", spec.name}, {"error", st.error().str()}});
            }
        };
        if (spec.resources.memory_bytes > 0) {
            limit("memory.max", fmt::to_string(spec.resources.memory_bytes));
        }
        if (spec.resources.pids > 0) {
            limit("pids.max", fmt::to_string(spec.resources.pids));
        }
        if (spec.resources.cpus > 0) {
            limit("cpu.max", fmt::format("{} 100000", std::llround(spec.resources.cpus * 100000)));
        }
        if (auto fd = Fd::open(s.cgroup + "/cgroup.procs", O_WRONLY)) {
            procs = std::move(*fd);
        } else {
            log::warn("service runs outside its cgroup",
                      {{"service", spec.name}, {"error", fd.error().str()}});
            s.cgroup.clear();
        }
    }
    s.process =
        GANTRY_TRY(spawn(spec, spec.argv, std::move(env), io.stdout_fd, io.stderr_fd, procs.get()));
    return s;
}

Result<PidFd> ProcessDriver::exec(const ServiceSpec& spec, const Started* running,
                                  const std::vector<std::string>& argv, int output_fd) {
    if (argv.empty()) {
        return fail(Error::msg("exec: no command"));
    }
    Fd procs;
    if (running != nullptr && !running->cgroup.empty()) {
        if (auto fd = Fd::open(running->cgroup + "/cgroup.procs", O_WRONLY)) {
            procs = std::move(*fd);
        }
    }
    return spawn(spec, argv, base_env(spec), output_fd, output_fd, procs.get());
}

Status ProcessDriver::kill(const ServiceSpec&, const Started& s, int sig, bool all) {
    if (all && !s.cgroup.empty()) {
        if (sig == SIGKILL && write_all_file(s.cgroup + "/cgroup.kill", "1")) {
            return ok();
        }
    }
    if (all) {
        // The service is a session led by its main process; while that process is not
        // reaped, its pid (= the group id) cannot be reused, so -pgid is safe here.
        if (::kill(-s.process.pid(), sig) == 0 || errno == ESRCH) {
            (void)s.process.send_signal(sig);
            return ok();
        }
    }
    Status st = s.process.send_signal(sig);
    if (!st && st.error().code() == ESRCH) {
        return ok();  // already exited, not yet reaped
    }
    return st;
}

bool ProcessDriver::owns(const Started& s, pid_t pid) {
    if (pid <= 0) {
        return false;
    }
    return pid == s.process.pid() || ::getpgid(pid) == s.process.pid() ||
           ::getsid(pid) == s.process.pid();
}

Usage cgroup_usage(const std::string& cgroup) {
    Usage u;
    auto number = [&](const char* file) -> std::optional<uint64_t> {
        auto text = read_file(cgroup + "/" + file);
        uint64_t v = 0;
        if (!text ||
            std::from_chars(text->data(), text->data() + text->size(), v).ec != std::errc()) {
            return std::nullopt;
        }
        return v;
    };
    u.memory_bytes = number("memory.current");
    if (auto ev = read_file(cgroup + "/memory.events")) {
        u.oom_kills = parse_oom_kills(*ev);
    }
    // Only with a pids limit: the controller is enabled for the cgroups that need it.
    u.pids = number("pids.current");
    if (auto ev = read_file(cgroup + "/pids.events")) {
        u.pids_limit_hits = parse_events_counter(*ev, "max");
    }
    return u;
}

Usage ProcessDriver::usage(const Started& s) {
    Usage u;
    if (!s.cgroup.empty()) {
        return cgroup_usage(s.cgroup);
    }
    if (auto status = read_file(fmt::format("/proc/{}/status", s.process.pid()))) {
        for (const auto& line : split(*status, '\n')) {
            if (line.starts_with("VmRSS:")) {
                std::string_view v = trim(std::string_view(line).substr(6));
                uint64_t kib = 0;
                std::from_chars(v.data(), v.data() + v.size(), kib);
                u.memory_bytes = kib * 1024;
            }
        }
    }
    return u;
}

void ProcessDriver::cleanup(const ServiceSpec& spec, const Started& s) {
    // Like a container's teardown: what the main process left behind in its session dies
    // with it. The main process is reaped already, so -pgid may name nobody (ESRCH).
    ::kill(-s.process.pid(), SIGKILL);
    if (!s.cgroup.empty()) {
        (void)write_all_file(s.cgroup + "/cgroup.kill", "1");
        if (::rmdir(s.cgroup.c_str()) < 0 && errno != ENOENT && errno != EBUSY) {
            log::debug("cgroup not removed", {{"service", spec.name}, {"errno", errno}});
        }
    }
}

}  // namespace gantry::supervisor
