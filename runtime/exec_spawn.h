// exec's spawn path: a process into a running container without copying the caller.
//
// The caller is the supervisor, PID 1, with a large address space: a fork copies its page
// tables and leaves it copy-on-write faults afterwards, which under QEMU TCG is most of an
// exec's cost. Here nothing is copied; the calling thread waits while two CLONE_VM children
// run on stacks of their own, posix_spawn-style:
//
//   caller   clone3(CLONE_VM | CLONE_FILES | CLONE_PIDFD | CLONE_INTO_CGROUP)
//   stage 1    in the container's cgroup from birth; setns(pidfd, every namespace at once);
//              clone3(CLONE_VM | CLONE_VFORK | CLONE_PARENT | CLONE_PIDFD) -> the process,
//              born into the container's pid namespace, the caller's child
//   process      signals reset, stdio, oom_score_adj, rlimits, user, capabilities,
//                no_new_privs, cwd, close fds, seccomp, execve
//   stage 1    resumes when the process has execve'd (or died), exits
//   caller   waits for stage 1's exit on its pidfd, at most kExecSetupTimeout (not
//            CLONE_VFORK, whose wait has no bound: a stopped process or a frozen cgroup
//            would hang PID 1; on timeout both children are killed); reaps stage 1; has
//            the process's pidfd (in its fd table through CLONE_FILES) and any error (in
//            shared memory): no socket, no round trip.
//
// Not for: a container with its own user namespace, architectures without the clone3
// trampoline below, and a cgroup that CLONE_INTO_CGROUP refuses. The caller takes the forking
// path then. (The kernel would let stage 1 join a user namespace: userns_install checks the
// thread group and the fs_struct, not the mm. But the process then becomes root there and
// run_child makes itself dumpable for its /proc/self/fd work, and dumpability is per mm,
// here the caller's; health checks of user-namespace containers are not worth that.)
#pragma once

#include <linux/sched.h>

#include <chrono>
#include <cstddef>
#include <optional>

#include "base/error.h"
#include "base/pidfd.h"
#include "runtime/child.h"

namespace gantry::runtime {

// How long an exec may take from clone to execve, on either exec path, before the caller
// kills what it started and reports an error. Setup takes milliseconds (tens under QEMU's
// TCG); this much means the process was stopped or its cgroup frozen.
inline constexpr std::chrono::milliseconds kExecSetupTimeout{5000};
// What either path reports when the timeout passed (and it killed what it started).
Error exec_setup_timed_out();

// True when this build has the clone3 trampoline (x86-64).
bool spawn_supported();

// clone3(2) with a new stack: the child calls fn(arg) there and exits with its return value;
// the parent gets the child's pid or -errno. `args` must carry stack and stack_size.
long spawn_clone3(struct clone_args* args, size_t size, int (*fn)(void*), void* arg) noexcept;

// The two children's stacks, each with a PROT_NONE guard page below it. A Container keeps
// one for all its execs.
class SpawnStacks {
  public:
    SpawnStacks() = default;
    ~SpawnStacks();
    SpawnStacks(SpawnStacks&& o) noexcept;
    SpawnStacks& operator=(SpawnStacks&& o) noexcept;

    static Result<SpawnStacks> create();
    bool valid() const { return base_ != nullptr; }
    void* stage1() const;
    void* process() const;
    static constexpr size_t kStackSize = 64 * 1024;

  private:
    void* base_ = nullptr;
};

// What came of a spawn. `into_cgroup_errno` != 0: clone3 refused CLONE_INTO_CGROUP (nothing
// was started; take the forking path).
struct SpawnOutcome {
    std::optional<PidFd> process;
    int into_cgroup_errno = 0;
};

// Runs `plan` (exec_pidfd, exec_ns_flags without CLONE_NEWUSER, process fields, security)
// through the spawn path. `cgroup_fd`: the container's cgroup directory, -1 for none.
Result<SpawnOutcome> spawn_exec(ChildPlan& plan, int cgroup_fd, const SpawnStacks& stacks);

}  // namespace gantry::runtime
