// gantryctl end to end against gantry-init --host-mode. Built only when a gantryctl
// target exists (the service subcommands are wired into the lead's dispatcher).
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>

#include <thread>

#include "supervisor/tests/host_fixture.h"

namespace gantry::supervisor::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

struct CtlRun {
    int code;
    std::string out;
};

CtlRun ctl(const HostInit& h, const std::string& args) {
    std::string cmd = std::string(GANTRYCTL_BIN) + " --socket " + h.socket() + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
        out.append(buf, n);
    }
    int st = pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

TEST(Gantryctl, PsLogsExecStopStart) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "needs root";
    }
    auto h = HostInit::start(
        {{"web",
          {{"command", json::array({"busybox", "sh", "-c", "echo hello web; exec sleep 1000"})}}}});
    ASSERT_TRUE(h->wait_state("web", "running", 2s));
    std::this_thread::sleep_for(100ms);

    CtlRun ps = ctl(*h, "ps");
    EXPECT_EQ(ps.code, 0);
    EXPECT_NE(ps.out.find("NAME"), std::string::npos);
    EXPECT_NE(ps.out.find("running"), std::string::npos) << ps.out;
    CtlRun psj = ctl(*h, "ps --output json");
    EXPECT_EQ(json::parse(psj.out)[0]["name"], "web");

    CtlRun logs = ctl(*h, "logs --tail 1 web");
    EXPECT_NE(logs.out.find("stdout hello web"), std::string::npos) << logs.out;

    CtlRun ex = ctl(*h, "exec web -- busybox sh -c 'echo inside; exit 5'");
    EXPECT_EQ(ex.code, 5);
    EXPECT_EQ(ex.out, "inside\n");

    CtlRun bad = ctl(*h, "stop ghost");
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.out.find("no service named \"ghost\""), std::string::npos);

    EXPECT_EQ(ctl(*h, "stop web").code, 0);
    ASSERT_TRUE(h->wait_state("web", "exited", 3s));
    EXPECT_EQ(ctl(*h, "start web").code, 0);
    ASSERT_TRUE(h->wait_state("web", "running", 3s));
    CtlRun ev = ctl(*h, "events");
    EXPECT_NE(ev.out.find("web              running -> stopping"), std::string::npos) << ev.out;
    CtlRun usage = ctl(*h, "logs");
    EXPECT_EQ(usage.code, 2);
}

}  // namespace
}  // namespace gantry::supervisor::testing
