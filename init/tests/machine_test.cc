#include "init/machine.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init/net_static.h"

namespace gantry::init {
namespace {

TEST(MountPlan, OrderAndRoot) {
    auto plan = plan_mounts("/tmp/root");
    std::vector<std::string> targets;
    for (const auto& m : plan) {
        targets.push_back(m.target);
    }
    EXPECT_EQ(targets,
              (std::vector<std::string>{"/tmp/root/proc", "/tmp/root/sys", "/tmp/root/dev",
                                        "/tmp/root/dev/pts", "/tmp/root/dev/shm", "/tmp/root/run",
                                        "/tmp/root/tmp", "/tmp/root/sys/fs/cgroup"}));
    // cgroup2 comes after /sys, devpts after /dev: each target exists once its parent does.
    EXPECT_EQ(plan.back().fstype, "cgroup2");
    EXPECT_TRUE(plan.front().flags & MS_NOSUID);
}

TEST(SubtreeControl, EnablesEveryController) {
    EXPECT_EQ(plan_subtree_control("cpuset cpu io memory pids\n"),
              "+cpuset +cpu +io +memory +pids");
    EXPECT_EQ(plan_subtree_control("\n"), "");
}

TEST(Reaper, ReapsOnlyUntracked) {
    pid_t tracked = fork();
    if (tracked == 0) {
        _exit(0);
    }
    pid_t orphan = fork();
    if (orphan == 0) {
        _exit(0);
    }
    usleep(100 * 1000);
    std::string children = "/proc/self/task/" + std::to_string(getpid()) + "/children";
    int n = reap_orphans([&](pid_t p) { return p == tracked; }, children);
    EXPECT_EQ(n, 1);
    siginfo_t si{};
    EXPECT_EQ(waitid(P_PID, tracked, &si, WEXITED | WNOHANG), 0);  // still there for its owner
    EXPECT_EQ(si.si_pid, tracked);
    EXPECT_LT(waitid(P_PID, orphan, &si, WEXITED | WNOHANG), 0);  // gone
}

TEST(NetStatic, ParsesIpv4Cidr) {
    auto a = parse_ipv4_cidr("10.0.2.15/24");
    ASSERT_TRUE(a) << a.error().str();
    EXPECT_EQ(a->first, "10.0.2.15");
    EXPECT_EQ(a->second, 24);
    EXPECT_EQ(parse_ipv4_cidr("192.168.1.1")->second, 32);
    EXPECT_FALSE(parse_ipv4_cidr("fd00::5/64"));
    EXPECT_FALSE(parse_ipv4_cidr("10.0.0.1/33"));
    EXPECT_FALSE(parse_ipv4_cidr("10.0.0.1/x"));
}

}  // namespace
}  // namespace gantry::init
