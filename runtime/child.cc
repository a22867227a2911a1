#include "runtime/child.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "base/pidfd.h"
#include "runtime/exec_spawn.h"
#include "runtime/security_steps.h"

namespace gantry::runtime {

namespace {

// Where errors after Ready go: the sync socket, or `gantry-oci start`'s connection.
int g_report_fd = -1;

void send_msg(int fd, const ChildMsg& m) {
    if (fd >= 0) {
        while (::send(fd, &m, sizeof m, MSG_NOSIGNAL) < 0 && errno == EINTR) {
        }
    }
}

// The spawn path (exec_spawn.cc) shares memory with the caller: an error goes straight into
// the caller's SpawnShared, and no global of ours may be written (g_report_fd belongs to
// the caller's own thread).
[[noreturn]] void die(const ChildPlan& p, ChildStep step, int index, int err) {
    ChildMsg m;
    m.kind = ChildMsg::kError;
    m.step = static_cast<int32_t>(step);
    m.index = index;
    m.err = err < 0 ? -err : err;
    if (p.spawn != nullptr) {
        p.spawn->msg = m;
    } else {
        send_msg(g_report_fd, m);
    }
    ::_exit(127);
}

void check(const ChildPlan& p, int r, ChildStep step, int index = -1) {
    if (r < 0) {
        die(p, step, index, errno);
    }
}

void check_neg(const ChildPlan& p, int r, ChildStep step, int index = -1) {
    if (r < 0) {
        die(p, step, index, -r);
    }
}

bool read_msg(int fd, ChildMsg& m) {
    ssize_t n;
    do {
        n = ::recv(fd, &m, sizeof m, 0);
    } while (n < 0 && errno == EINTR);
    return n == static_cast<ssize_t>(sizeof m);
}

// Closes every fd >= 3 except the ones listed (sorted ascending, may hold -1s).
int close_all_but(int a, int b) {
    int keep[2] = {a < b ? a : b, a < b ? b : a};
    unsigned from = 3;
    for (int k : keep) {
        if (k < 3) {
            continue;
        }
        if (static_cast<unsigned>(k) > from &&
            ::close_range(from, static_cast<unsigned>(k) - 1, 0) < 0) {
            return -errno;
        }
        from = static_cast<unsigned>(k) + 1;
    }
    return ::close_range(from, ~0U, 0) < 0 ? -errno : 0;
}

int enter_cwd(const char* cwd) {
    // The cwd is resolved inside the (already pivoted) root and may not go through a magic
    // link: a leaked host fd seen as /proc/self/fd/N would otherwise put the process in a
    // host directory (runc CVE-2024-21626).
    struct open_how how;
    ::memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    int fd = static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, cwd, &how, sizeof how));
    if (fd < 0) {
        return -errno;
    }
    int r = ::fchdir(fd);
    int err = errno;
    ::close(fd);
    return r < 0 ? -err : 0;
}

// execvp with the container's PATH, on a stack buffer (glibc's execvpe reads the caller's
// environment, not the container's).
int exec_path(const ChildPlan& p) {
    const char* file = p.argv[0];
    if (::strchr(file, '/') != nullptr) {
        ::execve(file, p.argv.data(), p.envp.data());
        return -errno;
    }
    size_t flen = ::strlen(file);
    int last_err = ENOENT;
    const char* dir = p.path_env.c_str();
    for (;;) {
        const char* end = ::strchrnul(dir, ':');
        size_t dlen = static_cast<size_t>(end - dir);
        char buf[PATH_MAX];
        if (dlen + flen + 2 <= sizeof buf) {
            if (dlen == 0) {
                buf[0] = '.';
                dlen = 1;
            } else {
                ::memcpy(buf, dir, dlen);
            }
            buf[dlen] = '/';
            ::memcpy(buf + dlen + 1, file, flen + 1);
            ::execve(buf, p.argv.data(), p.envp.data());
            if (errno != ENOENT && errno != ENOTDIR) {
                last_err = errno;  // EACCES etc.: remember, but keep looking (execvp does)
            }
        }
        if (*end == '\0') {
            break;
        }
        dir = end + 1;
    }
    return -last_err;
}

[[noreturn]] void finish(const ChildPlan& p) {
    for (const auto& [res, lim] : p.rlimits) {
        check(p, ::setrlimit(static_cast<__rlimit_resource>(res), &lim), ChildStep::Rlimit, res);
    }
    // 9a. Without no_new_privs, seccomp(SECCOMP_SET_MODE_FILTER) needs CAP_SYS_ADMIN in the
    // effective set, which the uid switch (non-root) or the capability drop below take
    // away: install the filter now, while we still hold it (runc and crun do the same).
    // The filter must then allow the rest of the setup: setgroups/setres[ug]id, capset,
    // prctl, umask, openat2/fchdir, close_range, send/recv/accept4, execve (the default
    // profile does). With no_new_privs it goes in at step 14, as late as possible.
    bool early_seccomp = !p.no_new_privs && p.security != nullptr;
    if (early_seccomp) {
        check_neg(p, p.security->install_seccomp(), ChildStep::Seccomp);
    }
    // 9b. user and groups. KEEPCAPS keeps the permitted set across the uid change so step 10
    // can still set the spec's capabilities for a non-root user (a no-op for uid 0).
    // Raw syscalls, not glibc's wrappers: those broadcast the change to every thread glibc
    // believes this process has (SIGSETXID), which after a raw clone are the caller's threads,
    // and in the spawn path they would touch glibc's locks in the caller's memory.
    check(p, ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), ChildStep::Uid);
    if (p.set_groups) {
        check(p, static_cast<int>(::syscall(SYS_setgroups, p.groups.size(), p.groups.data())),
              ChildStep::Groups);
    }
    check(p, static_cast<int>(::syscall(SYS_setresgid, p.gid, p.gid, p.gid)), ChildStep::Gid);
    check(p, static_cast<int>(::syscall(SYS_setresuid, p.uid, p.uid, p.uid)), ChildStep::Uid);
    check(p, ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), ChildStep::Uid);

    // 10. capabilities (all five sets), umask, no_new_privs.
    if (p.security != nullptr) {
        check_neg(p, p.security->apply_capabilities(), ChildStep::Capabilities);
    }
    ::umask(p.umask);
    if (p.no_new_privs) {
        check(p, ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), ChildStep::NoNewPrivs);
    }

    // 11. cwd, inside the root.
    check_neg(p, enter_cwd(p.cwd.c_str()), ChildStep::Cwd);

    // 12. Close every fd not meant to pass (runc CVE-2024-21626). Only the sync socket and
    // the start socket stay, both O_CLOEXEC, so execve closes them too.
    check_neg(p, close_all_but(p.sync_fd, p.start_listen_fd), ChildStep::CloseFds);

    // 13. Ready; wait for start. (Not in the spawn path: its caller only waits for the
    // execve below, and nothing is left for it to do in between.)
    ChildMsg ready;
    ready.kind = ChildMsg::kReady;
    send_msg(p.sync_fd, ready);
    if (p.spawn != nullptr) {
        // nothing to wait for
    } else if (p.start_listen_fd >= 0) {
        // gantry-oci create has exited; `gantry-oci start` connects and sends one byte.
        // Errors from here on go back on that connection.
        ::close(p.sync_fd);
        g_report_fd = -1;
        int conn;
        do {
            conn = ::accept4(p.start_listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        } while (conn < 0 && errno == EINTR);
        if (conn < 0) {
            die(p, ChildStep::WaitStart, -1, errno);
        }
        ::close(p.start_listen_fd);
        g_report_fd = conn;
        char c;
        if (::read(conn, &c, 1) != 1) {
            die(p, ChildStep::WaitStart, -1, EPIPE);
        }
    } else {
        ChildMsg go;
        if (!read_msg(p.sync_fd, go)) {
            ::_exit(127);  // the parent went away or cancelled: never run the process
        }
    }

    // 14. seccomp, the last step before execve, so the filter need not allow our setup
    // (unless 9a installed it already).
    if (p.security != nullptr && !early_seccomp) {
        check_neg(p, p.security->install_seccomp(), ChildStep::Seccomp);
    }

    // 15. execve. On success the O_CLOEXEC sync socket closes, which tells the parent (in the
    // spawn path: the kernel resumes the vfork parent).
    if (p.stop_before_execve) {
        // Raw calls: in the spawn path glibc's thread data is the caller's.
        ::syscall(SYS_kill, ::syscall(SYS_getpid), SIGSTOP);
    }
    if (p.spawn != nullptr) {
        p.spawn->exec_reached = 1;
    }
    int r = exec_path(p);
    die(p, ChildStep::Exec, -1, -r);
}

// oom_score_adj through /proc/self. In a CLONE_VFORK child the kernel changes only ours,
// not the caller's (__set_oom_adj skips tasks that share the mm through vfork).
void set_oom_score_adj(const ChildPlan& p) {
    if (p.oom_score_adj == nullptr) {
        return;
    }
    int fd = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    check(p, fd, ChildStep::OomScoreAdj);
    ssize_t n = ::write(fd, p.oom_score_adj, ::strlen(p.oom_score_adj));
    check(p, static_cast<int>(n), ChildStep::OomScoreAdj);
    ::close(fd);
}

}  // namespace

void run_child(const ChildPlan& p) noexcept {
    g_report_fd = p.sync_fd;
    // Until execve this process runs the host's gantry-oci image inside the container's
    // namespaces. Non-dumpable, its /proc/PID/exe cannot be opened by a container process
    // (that needs CAP_SYS_PTRACE over the host user namespace), which closes the
    // CVE-2019-5736 overwrite without copying ourselves into a sealed memfd. execve resets
    // the flag for the container's program.
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    // A supervisor blocks signals and reads them from a signalfd: start the container clean.
    reset_signals_for_exec();

    // 1. stdio. dup2 clears O_CLOEXEC on the new fd, which is what we want for 0-2.
    for (int i = 0; i < 3; i++) {
        if (p.stdio[i] >= 0 && p.stdio[i] != i) {
            check(p, ::dup2(p.stdio[i], i), ChildStep::Stdio, i);
        }
    }

    // 2. Wait for the parent: it writes uid_map/gid_map and puts us into the cgroup.
    ChildMsg go;
    if (!read_msg(p.sync_fd, go)) {
        ::_exit(127);
    }

    // 3. Join namespaces by path (user first: it grants the caps to join the rest).
    for (size_t i = 0; i < p.joins.size(); i++) {
        check(p, ::setns(p.joins[i].fd, p.joins[i].nstype), ChildStep::Setns, static_cast<int>(i));
    }
    if (p.become_userns_root) {
        check(p, ::setresgid(0, 0, 0), ChildStep::UserNsRoot);
        check(p, ::setresuid(0, 0, 0), ChildStep::UserNsRoot);
        // The uid change made us non-dumpable, which hands /proc/self/* to the host's root
        // and breaks the /proc/self/fd/N mounts below with EACCES. execve resets it anyway.
        check(p, ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), ChildStep::UserNsRoot);
    }
    // 4. The cgroup namespace is made now, after step 2 moved us: its root is our cgroup.
    if (p.unshare_cgroup) {
        check(p, ::unshare(CLONE_NEWCGROUP), ChildStep::UnshareCgroup);
    }
    // 5. hostname, 6. oom_score_adj (via the host's /proc, before the mounts).
    if (p.hostname != nullptr) {
        check(p, ::sethostname(p.hostname, ::strlen(p.hostname)), ChildStep::Hostname);
    }
    set_oom_score_adj(p);

    // 7-8. The MountPlan (rootfs, mounts, /dev, pivot_root, sysctls, masked, read-only).
    if (p.mounts != nullptr) {
        ::umask(0);  // device nodes and mount points get exactly the modes asked for
        int rootfd = -1;
        for (size_t i = 0; i < p.mounts->steps.size(); i++) {
            check_neg(p, apply_mount_step(p.mounts->steps[i], p, rootfd), ChildStep::Mount,
                      static_cast<int>(i));
        }
    }
    finish(p);
}

// ---- the spawn path (exec_spawn.h) ----
//
// Both functions run in CLONE_VM children, on stacks of their own, while the calling thread
// waits for stage 1's exit (and stage 1, suspended by CLONE_VFORK, for the process's
// execve; exec_spawn.h): async-signal-safe code only, no
// allocation, no writes to memory other than our stack and p.spawn, no glibc call that keeps
// per-process state (the set*id wrappers, see finish()). Signals stay blocked (the caller
// blocked them all before the clone) until reset_signals_for_exec() has put every
// disposition back to SIG_DFL, so no handler of the caller ever runs here.

namespace {

int spawn_process_main(void* arg) {
    const ChildPlan& p = *static_cast<const ChildPlan*>(arg);
    // No PR_SET_DUMPABLE here: dumpability belongs to the mm, which is the caller's; the
    // caller made it non-dumpable around the spawn (exec_spawn.cc).
    reset_signals_for_exec();
    // 1. stdio
    for (int i = 0; i < 3; i++) {
        if (p.stdio[i] >= 0 && p.stdio[i] != i) {
            check(p, ::dup2(p.stdio[i], i), ChildStep::Stdio, i);
        }
    }
    // 2. oom_score_adj (only ours, see set_oom_score_adj).
    set_oom_score_adj(p);
    // 3. The rest is the container child's: rlimits, user, caps, no_new_privs, cwd, close
    // every other fd, seccomp, execve.
    finish(p);
}

}  // namespace

int spawn_stage1_main(void* arg) {
    const ChildPlan& p = *static_cast<const ChildPlan*>(arg);
    SpawnShared& sh = *p.spawn;
    // Every namespace of the container in one call (setns on a pidfd, Linux 5.8). Allowed to
    // a CLONE_VM process: mount needs an fs_struct of our own (no CLONE_FS). The user
    // namespace is never in the flags (exec_spawn.h says why; the caller falls back).
    // The pid namespace applies to our children only, hence the clone below.
    if (p.exec_ns_flags != 0 && ::setns(p.exec_pidfd, p.exec_ns_flags) < 0) {
        sh.msg.kind = ChildMsg::kError;
        sh.msg.step = static_cast<int32_t>(ChildStep::Setns);
        sh.msg.err = errno;
        return 127;
    }
    // The process: the caller's child (CLONE_PARENT, so exit_signal must be 0 and the kernel
    // takes ours, SIGCHLD), its pidfd and pid written into sh by the kernel before it runs.
    // CLONE_VFORK: we wait here until it has execve'd or died.
    struct clone_args args;
    ::memset(&args, 0, sizeof args);
    args.flags = CLONE_VM | CLONE_VFORK | CLONE_PARENT | CLONE_PIDFD | CLONE_PARENT_SETTID |
                 CLONE_CLEAR_SIGHAND;
    args.pidfd = reinterpret_cast<uint64_t>(&sh.pidfd);
    args.parent_tid = reinterpret_cast<uint64_t>(&sh.pid);
    args.stack = reinterpret_cast<uint64_t>(sh.process_stack);
    args.stack_size = sh.process_stack_size;
    long r = spawn_clone3(&args, sizeof args, spawn_process_main, arg);
    if (r < 0) {
        sh.msg.kind = ChildMsg::kError;
        sh.msg.step = static_cast<int32_t>(ChildStep::Clone);
        sh.msg.err = static_cast<int32_t>(-r);
        return 127;
    }
    sh.stage1_done = 1;
    return 0;
}

void run_exec_stage1(const ChildPlan& p) noexcept {
    g_report_fd = p.sync_fd;
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);  // see run_child; inherited by the clone below
    // Join every namespace of the running container in one call (setns on a pidfd,
    // Linux 5.8). The pid namespace only applies to our children, hence the clone below.
    if (p.exec_ns_flags != 0) {
        check(p, ::setns(p.exec_pidfd, p.exec_ns_flags), ChildStep::Setns);
    }
    // CLONE_PARENT: the process is the caller's child, so the caller can wait for it.
    struct clone_args args;
    ::memset(&args, 0, sizeof args);
    args.flags = CLONE_PARENT;
    args.exit_signal = 0;  // with CLONE_PARENT the kernel uses the parent's exit_signal
    long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) {
        die(p, ChildStep::Clone, -1, errno);
    }
    if (pid == 0) {
        run_child(p);
    }
    ChildMsg m;
    m.kind = ChildMsg::kPid;
    m.pid = static_cast<int32_t>(pid);
    send_msg(p.sync_fd, m);
    ::_exit(0);
}

std::string_view child_step_name(ChildStep s) {
    switch (s) {
        case ChildStep::Stdio:
            return "set up stdio";
        case ChildStep::WaitParent:
            return "wait for the parent";
        case ChildStep::Setns:
            return "join namespace";
        case ChildStep::UserNsRoot:
            return "become root in the user namespace";
        case ChildStep::UnshareCgroup:
            return "create cgroup namespace";
        case ChildStep::Hostname:
            return "sethostname";
        case ChildStep::OomScoreAdj:
            return "write oom_score_adj";
        case ChildStep::Mount:
            return "mount";
        case ChildStep::Rlimit:
            return "setrlimit";
        case ChildStep::Groups:
            return "setgroups";
        case ChildStep::Gid:
            return "setresgid";
        case ChildStep::Uid:
            return "setresuid";
        case ChildStep::Capabilities:
            return "apply capabilities";
        case ChildStep::Umask:
            return "umask";
        case ChildStep::NoNewPrivs:
            return "set no_new_privs";
        case ChildStep::Cwd:
            return "enter process.cwd";
        case ChildStep::CloseFds:
            return "close inherited fds";
        case ChildStep::Ready:
            return "report ready";
        case ChildStep::WaitStart:
            return "wait for start";
        case ChildStep::Seccomp:
            return "install seccomp filter";
        case ChildStep::Exec:
            return "execve process.args[0]";
        case ChildStep::Clone:
            return "clone into the container";
    }
    return "unknown step";
}

Error child_error(const ChildMsg& m, const MountPlan* mounts) {
    auto step = static_cast<ChildStep>(m.step);
    std::string what(child_step_name(step));
    if (step == ChildStep::Mount && mounts != nullptr && m.index >= 0 &&
        static_cast<size_t>(m.index) < mounts->steps.size()) {
        what = fmt::format("{}: {}", what, mounts->steps[static_cast<size_t>(m.index)].describe());
        if (m.err == EXDEV) {
            what += " (the path leads outside the rootfs, through a symlink or \"..\")";
        }
    } else if (step == ChildStep::Cwd && (m.err == EXDEV || m.err == ELOOP)) {
        what += " (it leads outside the rootfs)";
    } else if (m.index >= 0 && step != ChildStep::Mount) {
        what = fmt::format("{} [{}]", what, m.index);
    }
    return Error::with_errno(m.err, what);
}

}  // namespace gantry::runtime
