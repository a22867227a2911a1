#include "base/pidfd.h"

#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace gantry {

std::string ExitStatus::str() const {
    switch (kind) {
        case Kind::Exited:
            return fmt::format("exited with code {}", code);
        case Kind::Killed:
            return fmt::format("killed by SIG{}",
                               sigabbrev_np(signal) ? sigabbrev_np(signal) : "?");
        case Kind::Dumped:
            return fmt::format("dumped core on SIG{}",
                               sigabbrev_np(signal) ? sigabbrev_np(signal) : "?");
    }
    return "unknown";
}

ExitStatus ExitStatus::from_siginfo(int code, int status) {
    ExitStatus st;
    if (code == CLD_EXITED) {
        st.kind = Kind::Exited;
        st.code = status;
    } else {
        st.kind = code == CLD_DUMPED ? Kind::Dumped : Kind::Killed;
        st.signal = status;
    }
    return st;
}

Result<PidFd> PidFd::open(pid_t pid) {
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) {
        return fail(Error::sys("pidfd_open {}", pid));
    }
    // pidfd_open sets O_CLOEXEC on the new fd itself.
    return PidFd(Fd(fd), pid);
}

Result<std::optional<PidFd>> PidFd::fork(uint64_t extra_flags) {
    int pidfd = -1;
    struct clone_args args;
    ::memset(&args, 0, sizeof args);
    args.flags = CLONE_PIDFD | extra_flags;
    args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
    args.exit_signal = SIGCHLD;
    long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) {
        return fail(Error::sys("clone3"));
    }
    if (pid == 0) {
        return std::optional<PidFd>();
    }
    return std::optional<PidFd>(PidFd(Fd(pidfd), static_cast<pid_t>(pid)));
}

Result<PidFd> PidFd::vfork_exec(int (*fn)(void*), void* arg) {
    // The child's stack: it runs while the caller is suspended, then execs, so one small
    // mapping per call is enough and is freed as soon as clone returns.
    constexpr size_t kStack = 256 * 1024;
    void* stack = ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        return fail(Error::sys("stack for the child"));
    }
    int pidfd = -1;
    pid_t pid = ::clone(fn, static_cast<char*>(stack) + kStack,
                        CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, arg, &pidfd);
    int saved = errno;
    ::munmap(stack, kStack);
    if (pid < 0) {
        errno = saved;
        return fail(Error::sys("clone"));
    }
    return PidFd(Fd(pidfd), pid);
}

Status PidFd::send_signal(int sig) const {
    if (::syscall(SYS_pidfd_send_signal, fd_.get(), sig, nullptr, 0) < 0) {
        return fail(Error::sys("signal {} to pid {}", sig, pid_));
    }
    return ok();
}

namespace {

Result<std::optional<ExitStatus>> wait_pidfd(int fd, pid_t pid, int flags) {
    siginfo_t info;
    for (;;) {
        ::memset(&info, 0, sizeof info);
        if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd), &info,
                     WEXITED | flags) == 0) {
            break;
        }
        if (errno != EINTR) {
            return fail(Error::sys("wait for pid {}", pid));
        }
    }
    if (info.si_pid == 0) {  // WNOHANG and still running
        return std::optional<ExitStatus>();
    }
    return std::optional<ExitStatus>(ExitStatus::from_siginfo(info.si_code, info.si_status));
}

}  // namespace

Result<ExitStatus> PidFd::wait() const {
    auto st = GANTRY_TRY(wait_pidfd(fd_.get(), pid_, 0));
    return *st;
}

Result<std::optional<ExitStatus>> PidFd::try_wait() const {
    return wait_pidfd(fd_.get(), pid_, WNOHANG);
}

bool PidFd::exits_within(std::chrono::milliseconds limit) const {
    // A pidfd polls readable once its process has exited.
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd pfd{fd_.get(), POLLIN, 0};
        int n = ::poll(&pfd, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
        if (n > 0) {
            return true;
        }
        if (n == 0 || errno != EINTR) {
            return false;
        }
    }
}

bool reset_signals_for_exec() {
    struct sigaction sa;
    ::memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) {
            ::sigaction(sig, &sa, nullptr);
        }
    }
    sigset_t none;
    ::sigemptyset(&none);
    return ::sigprocmask(SIG_SETMASK, &none, nullptr) == 0;
}

}  // namespace gantry
