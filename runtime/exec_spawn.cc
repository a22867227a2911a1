#include "runtime/exec_spawn.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace gantry::runtime {

#if defined(__x86_64__)
// clone3 cannot be called through syscall(2) with CLONE_VM: the child would return into
// syscall()'s frame on the parent's stack, and the suspended parent would later return
// through whatever the child left there. So, like glibc's clone(), a few instructions: the
// child starts on its new stack (the kernel sets rsp to stack + stack_size, 16-byte
// aligned here), calls fn(arg) and exits; r8/r9 carry fn and arg across the syscall, which
// preserves every register but rax, rcx and r11.
extern "C" long gantry_spawn_clone3(struct clone_args* args, size_t size, int (*fn)(void*),
                                    void* arg);
asm(R"(
    .pushsection .text
    .p2align 4
    .globl gantry_spawn_clone3
    .hidden gantry_spawn_clone3
    .type gantry_spawn_clone3, @function
gantry_spawn_clone3:
    .cfi_startproc
    endbr64
    movq %rdx, %r8
    movq %rcx, %r9
    movl $435, %eax
    syscall
    testq %rax, %rax
    jz 1f
    ret
1:
    .cfi_undefined %rip
    xorl %ebp, %ebp
    movq %r9, %rdi
    callq *%r8
    movl %eax, %edi
    movl $60, %eax
    syscall
    hlt
    .cfi_endproc
    .size gantry_spawn_clone3, .-gantry_spawn_clone3
    .popsection
)");
static_assert(SYS_clone3 == 435 && SYS_exit == 60, "x86-64 syscall numbers");

bool spawn_supported() {
    return true;
}

long spawn_clone3(struct clone_args* args, size_t size, int (*fn)(void*), void* arg) noexcept {
    return gantry_spawn_clone3(args, size, fn, arg);
}
#else
bool spawn_supported() {
    return false;
}

long spawn_clone3(struct clone_args*, size_t, int (*)(void*), void*) noexcept {
    return -ENOSYS;
}
#endif

// ---- SpawnStacks ----

namespace {

constexpr size_t kGuard = 4096;
constexpr size_t kRegion = 2 * (kGuard + SpawnStacks::kStackSize);

}  // namespace

SpawnStacks::~SpawnStacks() {
    if (base_ != nullptr) {
        ::munmap(base_, kRegion);
    }
}

SpawnStacks::SpawnStacks(SpawnStacks&& o) noexcept : base_(std::exchange(o.base_, nullptr)) {}

SpawnStacks& SpawnStacks::operator=(SpawnStacks&& o) noexcept {
    if (this != &o) {
        if (base_ != nullptr) {
            ::munmap(base_, kRegion);
        }
        base_ = std::exchange(o.base_, nullptr);
    }
    return *this;
}

Result<SpawnStacks> SpawnStacks::create() {
    // [guard][stage 1 stack][guard][process stack]; stacks grow down onto their guard.
    void* p =
        ::mmap(nullptr, kRegion, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        return fail(Error::sys("mmap exec stacks"));
    }
    SpawnStacks s;
    s.base_ = p;
    for (void* stack : {s.stage1(), s.process()}) {
        if (::mprotect(stack, kStackSize, PROT_READ | PROT_WRITE) < 0) {
            return fail(Error::sys("mprotect exec stacks"));
        }
    }
    return s;
}

void* SpawnStacks::stage1() const {
    return static_cast<char*>(base_) + kGuard;
}

void* SpawnStacks::process() const {
    return static_cast<char*>(base_) + 2 * kGuard + kStackSize;
}

// ---- spawn_exec ----

Error exec_setup_timed_out() {
    return Error::msg(
        "the exec'd process did not reach execve within {}s (stopped by a container process, "
        "or the container's cgroup frozen); killed",
        kExecSetupTimeout.count() / 1000);
}

Result<SpawnOutcome> spawn_exec(ChildPlan& p, int cgroup_fd, const SpawnStacks& stacks) {
    SpawnShared sh;
    sh.process_stack = stacks.process();
    sh.process_stack_size = SpawnStacks::kStackSize;
    p.spawn = &sh;
    p.sync_fd = -1;
    p.start_listen_fd = -1;

    int stage1_pidfd = -1;
    struct clone_args args;
    ::memset(&args, 0, sizeof args);
    // CLONE_FILES: stage 1's CLONE_PIDFD for the process lands in our fd table. No CLONE_FS:
    // setns into a mount namespace wants an fs_struct of one's own. No CLONE_SIGHAND: the
    // process resets its dispositions without touching ours. CLONE_CLEAR_SIGHAND (Linux
    // 5.5): the kernel sets every handled signal back to SIG_DFL in the child, so no handler
    // of ours can run in our memory from a child even if a signal got through.
    // No CLONE_VFORK here: its wait cannot be bounded, and this one must be (below). (A
    // CLONE_VM child without it marks our mm as shared by processes, MMF_MULTIPROCESS; the
    // kernel then looks for other users of the mm when an OOM kill or an oom_score_adj
    // write concerns it. The process's own oom_score_adj write stays its own: it is a
    // vfork child of stage 1.)
    args.flags = CLONE_VM | CLONE_FILES | CLONE_PIDFD | CLONE_CLEAR_SIGHAND;
    args.pidfd = reinterpret_cast<uint64_t>(&stage1_pidfd);
    args.exit_signal = SIGCHLD;
    args.stack = reinterpret_cast<uint64_t>(stacks.stage1());
    args.stack_size = SpawnStacks::kStackSize;
    if (cgroup_fd >= 0) {
        // Born in the container's cgroup (Linux 5.7): no cgroup.procs write, no migration.
        // Done here, in our own cgroup namespace: from inside the container's cgroup
        // namespace (stage 1 after setns) our cgroup is not visible and the kernel says
        // ENOENT. Stage 1 is briefly in the container's cgroup (counted in its pids).
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = static_cast<uint64_t>(cgroup_fd);
    }

    // Every signal blocked, the internal ones of glibc too (so a raw syscall, and a mask
    // filled by hand: sigfillset leaves those out): a handler of ours must never run on a
    // child's stack in our memory. The process unblocks after resetting dispositions.
    sigset_t all, old;
    ::memset(&all, 0xff, sizeof all);
    constexpr size_t kKernelSigset = _NSIG / 8;
    ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, kKernelSigset);
    // Dumpability belongs to the mm, which the children share with us. Non-dumpable, the
    // process's /proc/PID/exe (our binary) cannot be opened by a container process while
    // it runs our code in the container's pid namespace (CVE-2019-5736); run_child does the
    // same in its own mm. Its uid switch may also clear the flag. Restored below. (2,
    // SUID_DUMP_ROOT, already needs CAP_SYS_PTRACE for that, and prctl could not set it back.)
    bool toggle_dumpable = ::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1;
    if (toggle_dumpable) {
        ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    long r = spawn_clone3(&args, sizeof args, spawn_stage1_main, &p);
    // Stage 1 runs in our memory on its own stack, and exits once the process has execve'd
    // (or died). Until then this thread only waits, as under CLONE_VFORK, but for at most
    // kExecSetupTimeout: the process is in the container's pid namespace, where a
    // container process can stop it before its execve, and a frozen cgroup stops stage 1
    // itself. Either would otherwise hang PID 1 for good.
    bool timed_out = false;
    if (r >= 0) {
        PidFd stage1(Fd(stage1_pidfd), static_cast<pid_t>(r));
        if (!stage1.exits_within(kExecSetupTimeout)) {
            timed_out = true;
            (void)stage1.send_signal(SIGKILL);  // its vfork wait is killable, a freeze too
        }
        (void)stage1.wait();
        // The process exists once the kernel wrote its pidfd; stopped, it would still run
        // our code in our memory when continued. Now that stage 1 is gone, nothing else
        // writes to `sh`.
        if (timed_out && sh.pidfd >= 0) {
            PidFd process(Fd(sh.pidfd), sh.pid);
            sh.pidfd = -1;
            (void)process.send_signal(SIGKILL);
            (void)process.wait();  // our child (CLONE_PARENT): reaped, and out of our mm
        }
    }
    if (toggle_dumpable) {
        ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    }
    ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, nullptr, kKernelSigset);
    p.spawn = nullptr;

    SpawnOutcome out;
    if (r < 0) {
        if (cgroup_fd >= 0) {
            out.into_cgroup_errno = static_cast<int>(-r);
            return out;
        }
        return fail(Error::with_errno(static_cast<int>(-r), "clone the exec helper"));
    }
    if (timed_out) {
        return fail(exec_setup_timed_out());
    }
    if (sh.pidfd >= 0) {
        out.process.emplace(Fd(sh.pidfd), sh.pid);
    }
    auto failed = [&](Error e) -> Result<SpawnOutcome> {
        if (out.process) {
            // Our child (CLONE_PARENT): reaped here, so no zombie is left behind.
            (void)out.process->send_signal(SIGKILL);
            (void)out.process->wait();
        }
        return fail(std::move(e));
    };
    if (sh.msg.kind == ChildMsg::kError) {
        return failed(child_error(sh.msg, nullptr));
    }
    if (sh.stage1_done == 0 || !out.process) {
        return failed(Error::msg("the exec helper was killed"));
    }
    if (sh.exec_reached == 0) {
        return failed(Error::msg("the exec'd process exited during setup"));
    }
    return out;
}

}  // namespace gantry::runtime
