// PidFd: a process held by a pidfd (systemd's PidRef). Signals and waits go through the
// pidfd, never a bare pid, so a recycled pid can never be hit by mistake.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "base/error.h"
#include "base/fd.h"

namespace gantry {

// How a process ended.
struct ExitStatus {
    enum class Kind { Exited, Killed, Dumped };
    Kind kind = Kind::Exited;
    int code = 0;    // exit code when Exited
    int signal = 0;  // signal number when Killed or Dumped

    bool success() const { return kind == Kind::Exited && code == 0; }
    // "exited with code 3", "killed by SIGKILL", "dumped core on SIGSEGV".
    std::string str() const;
    // From waitid's siginfo (si_code / si_status).
    static ExitStatus from_siginfo(int code, int status);
};

class PidFd {
  public:
    PidFd() = default;
    PidFd(Fd fd, pid_t pid) : fd_(std::move(fd)), pid_(pid) {}

    // pidfd_open(2) for an existing process.
    static Result<PidFd> open(pid_t pid);

    // Forks through clone3(CLONE_PIDFD). In the parent returns the child's PidFd; in the
    // child returns std::nullopt. `extra_flags` may add namespace flags (CLONE_NEWPID ...).
    // The child of a multi-threaded parent may only call async-signal-safe functions.
    static Result<std::optional<PidFd>> fork(uint64_t extra_flags = 0);
    // Runs fn(arg) in a child that shares this process's memory until it execs or exits
    // (clone CLONE_VM|CLONE_VFORK, as posix_spawn does): no page tables are copied and
    // nothing is left copy-on-write in the caller, which is suspended meanwhile, so on
    // return the child has exec'd or exited. fn runs on a stack of its own and may only
    // make async-signal-safe calls on memory prepared before; it must execve or _exit.
    static Result<PidFd> vfork_exec(int (*fn)(void*), void* arg);

    pid_t pid() const { return pid_; }
    int fd() const { return fd_.get(); }
    bool valid() const { return fd_.valid(); }

    // pidfd_send_signal(2). ESRCH once the process has exited (even before it is reaped).
    Status send_signal(int sig) const;
    // Blocks until the process exits and reaps it; retries on EINTR.
    Result<ExitStatus> wait() const;
    // Reaps the process if it has exited, else returns std::nullopt at once.
    Result<std::optional<ExitStatus>> try_wait() const;
    // True once the process has exited (not reaped), false if it has not within `limit`.
    bool exits_within(std::chrono::milliseconds limit) const;

  private:
    Fd fd_;
    pid_t pid_ = -1;
};

// In a forked child before execve (async-signal-safe): every disposition back to SIG_DFL
// and an empty signal mask. A parent that reads signals through sd-event blocks them, and
// the mask and SIG_IGN dispositions would survive exec. False if the mask could not be set.
bool reset_signals_for_exec();

}  // namespace gantry
