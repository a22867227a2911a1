#include "base/pidfd.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

namespace gantry {
namespace {

PidFd spawn_exit(int code) {
    auto r = PidFd::fork();
    if (!r) {
        ADD_FAILURE() << r.error().str();
        return {};
    }
    if (!r->has_value()) {
        _exit(code);
    }
    return std::move(**r);
}

PidFd spawn_sleeper() {
    auto r = PidFd::fork();
    if (!r) {
        ADD_FAILURE() << r.error().str();
        return {};
    }
    if (!r->has_value()) {
        for (;;) {
            pause();
        }
    }
    return std::move(**r);
}

TEST(PidFd, ForkAndWaitExitCode) {
    PidFd p = spawn_exit(7);
    ASSERT_TRUE(p.valid());
    EXPECT_GT(p.pid(), 0);
    auto st = p.wait();
    ASSERT_TRUE(st);
    EXPECT_EQ(st->kind, ExitStatus::Kind::Exited);
    EXPECT_EQ(st->code, 7);
    EXPECT_FALSE(st->success());
    EXPECT_EQ(st->str(), "exited with code 7");
}

// vfork_exec: the child shares our memory and we are suspended until it exits or execs.
struct VforkProbe {
    int seen_by_child = 0;
    pid_t child_pid = 0;
};

int vfork_probe_child(void* arg) {
    auto* p = static_cast<VforkProbe*>(arg);
    p->seen_by_child = 42;  // visible to the parent: same memory
    p->child_pid = static_cast<pid_t>(::syscall(SYS_getpid));
    ::_exit(5);
}

int vfork_exec_child(void* arg) {
    char* const* argv = static_cast<char* const*>(arg);
    ::execve(argv[0], argv, nullptr);
    ::_exit(127);
}

TEST(PidFd, VforkExecSharesMemoryAndReturnsAfterTheChildIsDone) {
    VforkProbe probe;
    auto p = PidFd::vfork_exec(vfork_probe_child, &probe);
    ASSERT_TRUE(p) << p.error().str();
    // Suspended until the child's _exit: its writes are already here.
    EXPECT_EQ(probe.seen_by_child, 42);
    EXPECT_EQ(probe.child_pid, p->pid());
    EXPECT_NE(p->pid(), ::getpid());
    auto st = p->wait();
    ASSERT_TRUE(st);
    EXPECT_EQ(st->code, 5);

    std::string sh = "/bin/sh", c = "-c", cmd = "exit 3";
    char* argv[] = {sh.data(), c.data(), cmd.data(), nullptr};
    auto e = PidFd::vfork_exec(vfork_exec_child, argv);
    ASSERT_TRUE(e) << e.error().str();
    auto est = e->wait();
    ASSERT_TRUE(est);
    EXPECT_EQ(est->code, 3);
}

TEST(PidFd, ChildKilledBySignalIsSeenThroughPidfd) {
    PidFd p = spawn_sleeper();
    auto running = p.try_wait();
    ASSERT_TRUE(running);
    EXPECT_FALSE(running->has_value());
    ASSERT_TRUE(p.send_signal(SIGKILL));
    auto st = p.wait();
    ASSERT_TRUE(st);
    EXPECT_EQ(st->kind, ExitStatus::Kind::Killed);
    EXPECT_EQ(st->signal, SIGKILL);
    EXPECT_EQ(st->str(), "killed by SIGKILL");
}

TEST(PidFd, SignalAfterExitIsEsrch) {
    PidFd p = spawn_exit(0);
    auto st = p.wait();
    ASSERT_TRUE(st);
    EXPECT_TRUE(st->success());
    auto r = p.send_signal(SIGTERM);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ESRCH);
    // Waiting twice: the child is already reaped.
    auto again = p.wait();
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code(), ECHILD);
}

TEST(PidFd, OpenExistingProcess) {
    pid_t pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    auto p = PidFd::open(pid);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->pid(), pid);
    ASSERT_TRUE(p->send_signal(SIGTERM));
    auto st = p->wait();
    ASSERT_TRUE(st);
    EXPECT_EQ(st->signal, SIGTERM);
}

TEST(PidFd, OpenMissingProcessFails) {
    auto p = PidFd::open(0x3fffffff);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code(), ESRCH);
}

TEST(PidFd, WaitRetriesOnEintr) {
    // A handler without SA_RESTART makes waitid return EINTR; wait() must go on waiting.
    struct sigaction sa = {};
    sa.sa_handler = [](int) {};
    struct sigaction old;
    ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
    pid_t self = getpid();
    PidFd sender = spawn_exit(0);  // placeholder to keep helpers uniform
    ASSERT_TRUE(sender.wait());
    auto r = PidFd::fork();
    ASSERT_TRUE(r);
    if (!r->has_value()) {
        usleep(50 * 1000);
        kill(self, SIGUSR1);  // interrupts the parent's waitid
        usleep(50 * 1000);
        _exit(3);
    }
    auto st = (*r)->wait();
    ASSERT_TRUE(st) << st.error().str();
    EXPECT_EQ(st->code, 3);
    sigaction(SIGUSR1, &old, nullptr);
}

TEST(ExitStatus, DumpedCore) {
    ExitStatus st = ExitStatus::from_siginfo(CLD_DUMPED, SIGSEGV);
    EXPECT_EQ(st.kind, ExitStatus::Kind::Dumped);
    EXPECT_EQ(st.str(), "dumped core on SIGSEGV");
}

}  // namespace
}  // namespace gantry
