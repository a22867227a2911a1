#include "init/machine.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>

#include "base/fd.h"
#include "base/log.h"
#include "base/strings.h"

namespace gantry::init {

std::vector<MountStep> plan_mounts(const std::string& root) {
    const unsigned long kSafe = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    return {
        {"proc", root + "/proc", "proc", kSafe, "", 0555},
        {"sysfs", root + "/sys", "sysfs", kSafe, "", 0555},
        {"devtmpfs", root + "/dev", "devtmpfs", MS_NOSUID, "mode=0755", 0755},
        {"devpts", root + "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
         "mode=0620,gid=5,ptmxmode=0666", 0755},
        {"shm", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 01777},
        {"run", root + "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", 0755},
        {"tmp", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 01777},
        // nsdelegate: container runtimes may delegate sub-trees to user namespaces.
        {"cgroup2", root + "/sys/fs/cgroup", "cgroup2", kSafe, "nsdelegate", 0755},
    };
}

namespace {

bool is_mount_point(const std::string& path) {
    struct stat st, parent;
    if (::stat(path.c_str(), &st) < 0 || ::stat((path + "/..").c_str(), &parent) < 0) {
        return false;
    }
    return st.st_dev != parent.st_dev || st.st_ino == parent.st_ino;
}

void mkdir_p(const std::string& path, mode_t mode) {
    for (size_t i = 1; i <= path.size(); ++i) {
        if (i == path.size() || path[i] == '/') {
            ::mkdir(path.substr(0, i).c_str(), mode);
        }
    }
}

}  // namespace

std::vector<Error> apply_mounts(const std::vector<MountStep>& plan) {
    std::vector<Error> errors;
    for (const auto& m : plan) {
        mkdir_p(m.target, m.mode);
        if (is_mount_point(m.target)) {
            continue;
        }
        if (::mount(m.source.c_str(), m.target.c_str(), m.fstype.c_str(), m.flags,
                    m.data.empty() ? nullptr : m.data.c_str()) < 0 &&
            errno != EBUSY) {
            errors.push_back(Error::sys("mount {} on {}", m.fstype, m.target));
        }
    }
    return errors;
}

std::string plan_subtree_control(std::string_view controllers_file) {
    std::vector<std::string> out;
    for (const auto& c : split(trim(controllers_file), ' ')) {
        if (!c.empty()) {
            out.push_back("+" + c);
        }
    }
    return join(out, " ");
}

Status enable_controllers(const std::string& cgroup_root) {
    std::string controllers = GANTRY_TRY(read_file(cgroup_root + "/cgroup.controllers"));
    std::string plan = plan_subtree_control(controllers);
    if (plan.empty()) {
        return ok();
    }
    auto write = [](const std::string& path, const std::string& value) -> Status {
        Fd fd = GANTRY_TRY(Fd::open(path, O_WRONLY));
        return write_all(fd.get(), value);
    };
    GANTRY_TRY_CTX(write(cgroup_root + "/cgroup.subtree_control", plan), "enable controllers");
    ::mkdir((cgroup_root + "/gantry").c_str(), 0755);
    GANTRY_TRY_CTX(write(cgroup_root + "/gantry/cgroup.subtree_control", plan),
                   "enable controllers");
    return ok();
}

int reap_orphans(const std::function<bool(pid_t)>& tracked, const std::string& children_path) {
    int reaped = 0;
    if (auto text = read_file(children_path)) {
        for (const auto& word : split(trim(*text), ' ')) {
            pid_t pid = 0;
            auto [p, ec] = std::from_chars(word.data(), word.data() + word.size(), pid);
            if (ec != std::errc() || pid <= 0 || tracked(pid)) {
                continue;
            }
            siginfo_t si{};
            if (::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG) == 0 &&
                si.si_pid == pid) {
                reaped++;
            }
        }
        return reaped;
    }
    // Fallback: peek, and reap only what is not ours; a tracked zombie ends the scan (its
    // pidfd watch reaps it, and the next SIGCHLD brings us back for the rest).
    while (true) {
        siginfo_t si{};
        if (::waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0 ||
            tracked(si.si_pid)) {
            return reaped;
        }
        siginfo_t done{};
        ::waitid(P_PID, static_cast<id_t>(si.si_pid), &done, WEXITED | WNOHANG);
        reaped++;
    }
}

namespace {
FinishReporter g_reporter;
}  // namespace

void set_finish_reporter(FinishReporter fn) {
    g_reporter = std::move(fn);
}

void finish(FinalAction action, const std::vector<MountStep>& plan) {
    auto report = [](std::string_view event, const std::string& fields) {
        if (g_reporter) {
            g_reporter(event, fields);
        }
    };
    // 1. Whatever the supervisor did not stop (stragglers, orphans): TERM, a moment, KILL.
    ::kill(-1, SIGTERM);
    for (int i = 0; i < 20; ++i) {
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
        ::usleep(100 * 1000);
        if (::kill(-1, 0) < 0 && errno == ESRCH) {
            break;
        }
    }
    ::kill(-1, SIGKILL);
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    report(action == FinalAction::Poweroff ? "poweroff" : "reboot", "");
    // 2. Data to disk before anything is unmounted.
    ::sync();
    // 3. Unmount in reverse; lazily, because a busy mount must not stop the power-off.
    // Mounts made later (service roots, data disks) are in /proc/self/mounts, not the plan:
    // those go first, deepest first.
    int unmounted = 0, failed = 0;
    if (auto text = read_file("/proc/self/mounts")) {
        std::vector<std::string> extra;
        for (const auto& line : split(*text, '\n')) {
            auto f = split(line, ' ');
            if (f.size() < 2 || f[1] == "/") {
                continue;
            }
            bool planned = false;
            for (const auto& m : plan) {
                planned = planned || m.target == f[1] || f[1].starts_with(m.target + "/");
            }
            if (!planned) {
                extra.push_back(f[1]);
            }
        }
        for (auto it = extra.rbegin(); it != extra.rend(); ++it) {
            (::umount2(it->c_str(), MNT_DETACH) == 0 ? unmounted : failed)++;
        }
    }
    for (auto it = plan.rbegin(); it != plan.rend(); ++it) {
        (::umount2(it->target.c_str(), MNT_DETACH) == 0 ? unmounted : failed)++;
    }
    ::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_RDONLY, nullptr);
    ::sync();
    report("unmounted", fmt::format("\"unmounted\":{},\"failed\":{}", unmounted, failed));
    log::info(action == FinalAction::Poweroff ? "powering off" : "rebooting");
    ::reboot(action == FinalAction::Poweroff ? RB_POWER_OFF : RB_AUTOBOOT);
    // reboot(2) only returns on error; PID 1 must not exit (the kernel would panic).
    while (true) {
        ::pause();
    }
}

}  // namespace gantry::init
