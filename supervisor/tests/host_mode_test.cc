// Root tests: gantry-init --host-mode with real processes (busybox), through the API.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "supervisor/tests/host_fixture.h"

namespace gantry::supervisor::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

json sh(const std::string& script) {
    return json::array({"busybox", "sh", "-c", script});
}

std::vector<json> events_of(HostInit& h, const std::string& service) {
    std::vector<json> out;
    json all = h.raw_call({{"cmd", "events"}});  // a named value: the loop must not outlive it
    for (const auto& e : all["events"]) {
        if (e["service"] == service) {
            out.push_back(e);
        }
    }
    return out;
}

class HostMode : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) {
            GTEST_SKIP() << "needs root (PR_SET_CHILD_SUBREAPER is fine, but setsid/chroot paths "
                            "are root-tested)";
        }
        if (access("/bin/busybox", X_OK) != 0 && access("/usr/bin/busybox", X_OK) != 0) {
            GTEST_SKIP() << "needs busybox (Debian busybox-static; scripts/install-deps)";
        }
    }
};

TEST_F(HostMode, RestartsWithBackoffWithinTolerance) {
    auto h = HostInit::start({{"crash",
                               {{"command", sh("exit 1")},
                                {"restart", "always"},
                                {"backoff", {{"initial", "200ms"}, {"max", "800ms"}}},
                                {"start_limit", {{"burst", 0}}}}}});
    auto end = std::chrono::steady_clock::now() + 10s;
    while (h->service("crash").value("restarts", 0) < 5 && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(50ms);
    }
    std::vector<double> gaps;
    int64_t backoff_at = 0;
    for (const auto& e : events_of(*h, "crash")) {
        if (e["to"] == "backoff") {
            backoff_at = e["time_us"];
        } else if (e["to"] == "starting" && backoff_at != 0) {
            gaps.push_back((e["time_us"].get<int64_t>() - backoff_at) / 1000.0);
        }
    }
    ASSERT_GE(gaps.size(), 4u);
    double want[] = {200, 400, 800, 800};
    for (int i = 0; i < 4; ++i) {
        EXPECT_GE(gaps[i], want[i] - 5) << "restart " << i;
        EXPECT_LE(gaps[i], want[i] + 250) << "restart " << i;
    }
}

TEST_F(HostMode, DependencyOrderAndHealthGating) {
    std::string flag = "/tmp/gantry_health_flag_" + std::to_string(getpid());
    unlink(flag.c_str());
    auto h = HostInit::start(
        {{"db",
          {{"command", sh("exec sleep 1000")},
           {"healthcheck",
            {{"test", json::array({"CMD", "busybox", "test", "-f", flag})},
             {"interval", "100ms"},
             {"retries", 1}}}}},
         {"web",
          {{"command", sh("exec sleep 1000")},
           {"depends_on", {{"db", {{"condition", "service_healthy"}}}}}}},
         {"setup", {{"command", sh("exit 0")}, {"type", "oneshot"}}},
         {"app",
          {{"command", sh("exec sleep 1000")},
           {"depends_on", {{"setup", {{"condition", "service_completed_successfully"}}}}}}}});
    ASSERT_TRUE(h->wait_state("db", "unhealthy", 3s));
    ASSERT_TRUE(h->wait_state("app", "running", 3s));
    EXPECT_EQ(h->service("web")["state"], "waiting");
    EXPECT_NE(h->service("web")["reason"].get<std::string>().find("waiting for db"),
              std::string::npos);
    std::ofstream(flag) << "ok";
    ASSERT_TRUE(h->wait_state("web", "running", 3s));
    EXPECT_EQ(h->service("db")["state"], "healthy");
    // db became healthy before web was started.
    int64_t healthy_at = 0, web_at = 0;
    json all = h->raw_call({{"cmd", "events"}});
    for (const auto& e : all["events"]) {
        if (e["service"] == "db" && e["to"] == "healthy" && healthy_at == 0) {
            healthy_at = e["time_us"];
        }
        if (e["service"] == "web" && e["to"] == "starting") {
            web_at = e["time_us"];
        }
    }
    EXPECT_GT(healthy_at, 0);
    EXPECT_GE(web_at, healthy_at);
    unlink(flag.c_str());
}

// A host process with `user`: the child (started vfork-style, sharing gantry-init's memory
// until exec) changes its own credentials only; gantry-init stays root and keeps working.
TEST_F(HostMode, UserAppliesToTheServiceOnly) {
    auto h =
        HostInit::start({{"nobody",
                          {{"command", json::array({"/bin/sh", "-c", "id -u; id -g; sleep 100"})},
                           {"user", "65534:65534"}}}});
    ASSERT_TRUE(h->wait_state("nobody", "running", 3s));
    json lines;
    for (int i = 0; i < 100; ++i) {
        lines = h->raw_call({{"cmd", "logs"}, {"service", "nobody"}})["lines"];
        if (lines.size() >= 2) {
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(lines.size(), 2u) << lines.dump();
    EXPECT_NE(lines[0].get<std::string>().find("65534"), std::string::npos) << lines.dump();
    EXPECT_NE(lines[1].get<std::string>().find("65534"), std::string::npos) << lines.dump();
    std::ifstream status("/proc/" + std::to_string(h->pid()) + "/status");
    std::string line, uid;
    while (std::getline(status, line)) {
        if (line.starts_with("Uid:")) {
            uid = line;
        }
    }
    EXPECT_EQ(uid, "Uid:\t0\t0\t0\t0") << "gantry-init's own credentials changed";
    EXPECT_EQ(h->raw_call({{"cmd", "ps"}})["ok"], true);
}

TEST_F(HostMode, NotifyReadinessAndStatus) {
    auto h = HostInit::start(
        {{"daemon", {{"command", json::array({NOTIFY_HELPER_BIN, "400"})}, {"notify", true}}}});
    ASSERT_TRUE(h->wait_state("daemon", "starting", 2s));
    // A datagram from outside the service is not believed.
    std::string path = h->dir() + "/state/run/notify/daemon";
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(sendto(fd, "READY=1", 7, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 7);
    close(fd);
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(h->service("daemon")["state"], "starting");
    ASSERT_TRUE(h->wait_state("daemon", "running", 3s));
    EXPECT_EQ(h->service("daemon")["status"], "serving");
}

TEST_F(HostMode, StopsInReverseDependencyOrderOnShutdown) {
    auto h = HostInit::start({{"a", {{"command", sh("exec sleep 1000")}}},
                              {"b", {{"command", sh("exec sleep 1000")}, {"depends_on", {"a"}}}},
                              {"c", {{"command", sh("exec sleep 1000")}, {"depends_on", {"b"}}}}});
    ASSERT_TRUE(h->wait_state("c", "running", 3s));
    auto c = h->client();
    ASSERT_TRUE(c.call({{"cmd", "events"}, {"follow", true}}));
    // The events connection now streams; poweroff goes over another one.
    EXPECT_EQ(h->raw_call({{"cmd", "poweroff"}})["ok"], true);
    std::vector<std::string> stopped;
    while (stopped.size() < 3) {
        auto ev = c.next(5s);
        if (!ev) {
            break;
        }
        if (ev->contains("event") && (*ev)["event"]["to"] == "exited") {
            stopped.push_back((*ev)["event"]["service"]);
        }
    }
    EXPECT_EQ(stopped, (std::vector<std::string>{"c", "b", "a"}));
}

TEST_F(HostMode, IgnoringSigtermIsKilledAfterGrace) {
    auto h = HostInit::start({{"stubborn",
                               {{"command", sh("trap '' TERM; while true; do sleep 0.05; done")},
                                {"stop_grace_period", "500ms"}}}});
    ASSERT_TRUE(h->wait_state("stubborn", "running", 2s));
    std::this_thread::sleep_for(100ms);  // let the shell install its trap
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(h->raw_call({{"cmd", "stop"}, {"service", "stubborn"}})["ok"], true);
    ASSERT_TRUE(h->wait_state("stubborn", "exited", 3s));
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(took, 480ms);
    EXPECT_LT(took, 1500ms);
    EXPECT_EQ(h->service("stubborn")["reason"], "stopped (killed by SIGKILL)");
}

TEST_F(HostMode, ReapsHundredOrphanedGrandchildren) {
    auto h = HostInit::start({{"forker",
                               {{"command", sh("i=0; while [ $i -lt 100 ]; do (sleep 0.3 &); "
                                               "i=$((i+1)); done; exec sleep 1000")}}}});
    ASSERT_TRUE(h->wait_state("forker", "running", 2s));
    // The grandchildren outlive their parents, get re-parented to the subreaper, exit.
    // The forking loop itself may still run when the service reads as running (on a loaded
    // machine it takes seconds), so wait for the service's own process to be `sleep`, then
    // for the last grandchild (0.3 s) to be gone and reaped.
    const int pid = h->service("forker").value("pid", 0);
    ASSERT_GT(pid, 0);
    auto deadline = std::chrono::steady_clock::now() + 20s;
    auto comm = [&] {
        std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
        std::string s;
        std::getline(f, s);
        return s;
    };
    while (comm() != "sleep" && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(50ms);
    ASSERT_EQ(comm(), "sleep") << "the forking loop did not finish";
    std::this_thread::sleep_for(600ms);
    while ((count_zombie_children(h->pid()) != 0 ||
            h->init_log().find("reaped orphans") == std::string::npos) &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(50ms);
    EXPECT_EQ(count_zombie_children(h->pid()), 0);
    EXPECT_EQ(h->service("forker")["state"], "running");
    EXPECT_NE(h->init_log().find("reaped orphans"), std::string::npos);
}

TEST_F(HostMode, LogFloodDoesNotStallApi) {
    auto h = HostInit::start(
        {{"flood",
          {{"command", sh("while true; do echo flood-flood-flood-flood-flood-flood; done")},
           {"logging", {{"max_size", "1M"}, {"max_files", 2}}}}},
         {"quiet", {{"command", sh("echo hello; exec sleep 1000")}}}});
    ASSERT_TRUE(h->wait_state("flood", "running", 2s));
    std::this_thread::sleep_for(300ms);
    double worst_ms = 0;
    for (int i = 0; i < 20; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        auto r = h->raw_call({{"cmd", "ps"}});
        worst_ms = std::max(worst_ms, std::chrono::duration<double, std::milli>(
                                          std::chrono::steady_clock::now() - t0)
                                          .count());
        EXPECT_EQ(r["ok"], true);
        std::this_thread::sleep_for(20ms);
    }
    fprintf(stderr, "worst ps latency during flood: %.1f ms\n", worst_ms);
    EXPECT_LT(worst_ms, 400.0) << "API stalled during a log flood";
    auto logs = h->raw_call({{"cmd", "logs"}, {"service", "flood"}, {"tail", 5}});
    EXPECT_EQ(logs["lines"].size(), 5u);
    EXPECT_NE(logs["lines"][0].get<std::string>().find("stdout flood-flood"), std::string::npos);
    auto q = h->raw_call({{"cmd", "logs"}, {"service", "quiet"}});
    ASSERT_EQ(q["lines"].size(), 1u);
    EXPECT_TRUE(q["lines"][0].get<std::string>().ends_with("stdout hello"));
    // Rotation kept the files bounded.
    EXPECT_LE(std::filesystem::file_size(h->dir() + "/state/logs/flood.log"), 1u << 20);
}

TEST_F(HostMode, BadRequestsGetClearErrors) {
    auto h = HostInit::start({{"s", {{"command", sh("exec sleep 1000")}}}});
    auto c = h->client();
    ASSERT_TRUE(c.send_raw(
        "this is not json\n{\"cmd\":\"nope\"}\n{\"cmd\":\"stop\",\"service\":\"ghost\"}\n"));
    auto r1 = c.next(2s), r2 = c.next(2s), r3 = c.next(2s);
    ASSERT_TRUE(r1 && r2 && r3);
    EXPECT_EQ((*r1)["error"], "request is not valid JSON (send one JSON object per line)");
    EXPECT_NE((*r2)["error"].get<std::string>().find("unknown cmd \"nope\""), std::string::npos);
    EXPECT_EQ((*r3)["error"], "no service named \"ghost\"");
    // A line longer than the limit gets an error and the connection is closed...
    auto big = h->client();
    ASSERT_TRUE(big.send_raw(std::string(100000, 'x')));
    auto rb = big.next(2s);
    ASSERT_TRUE(rb);
    EXPECT_NE((*rb)["error"].get<std::string>().find("request too long"), std::string::npos);
    // ...and the server is fine.
    EXPECT_EQ(h->raw_call({{"cmd", "ps"}})["services"].size(), 1u);
    EXPECT_EQ(h->service("s")["state"], "running");
}

TEST_F(HostMode, ExecRestartAndTimeout) {
    auto h = HostInit::start(
        {{"s", {{"command", sh("exec sleep 1000")}, {"environment", {{"GREETING", "hi"}}}}}});
    ASSERT_TRUE(h->wait_state("s", "running", 2s));
    auto r =
        h->raw_call({{"cmd", "exec"}, {"service", "s"}, {"argv", sh("echo $GREETING; exit 3")}});
    EXPECT_EQ(r["output"], "hi\n");
    EXPECT_EQ(r["exit_code"], 3);
    auto t = h->raw_call(
        {{"cmd", "exec"}, {"service", "s"}, {"argv", sh("sleep 5")}, {"timeout", "300ms"}});
    EXPECT_EQ(t["timed_out"], true);
    // Requests sent behind an exec are answered, in order, once it ends.
    auto c = h->client();
    ASSERT_TRUE(c.send_raw(
        json{{"cmd", "exec"}, {"service", "s"}, {"argv", sh("sleep 0.2; echo done")}}.dump() +
        "\n{\"cmd\":\"ps\"}\n"));
    auto first = c.next(3s), second = c.next(3s);
    ASSERT_TRUE(first && second);
    EXPECT_EQ((*first)["output"], "done\n");
    EXPECT_TRUE(second->contains("services"));
    int pid = h->service("s")["pid"];
    ASSERT_EQ(h->raw_call({{"cmd", "restart"}, {"service", "s"}})["ok"], true);
    auto end = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < end &&
           (h->service("s")["pid"] == pid || h->service("s")["state"] != "running")) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_NE(h->service("s")["pid"], pid);
    EXPECT_EQ(h->service("s")["state"], "running");
    EXPECT_EQ(h->service("s")["history"].size(), 1u);
}

TEST_F(HostMode, SpawnFailureSaysWhereItBroke) {
    auto h = HostInit::start({{"lost", {{"command", sh("true")}, {"working_dir", "/no/such/dir"}}},
                              {"typo", {{"command", json::array({"no-such-binary-x"})}}}});
    ASSERT_TRUE(h->wait_state("lost", "failed", 2s));
    EXPECT_NE(h->service("lost")["reason"].get<std::string>().find(
                  "chdir to working_dir (/usr/bin/busybox): No such file or directory"),
              std::string::npos)
        << h->service("lost")["reason"];
    ASSERT_TRUE(h->wait_state("typo", "failed", 2s));
    EXPECT_NE(h->service("typo")["reason"].get<std::string>().find(
                  "\"no-such-binary-x\" not found in PATH"),
              std::string::npos);
    auto logs = h->raw_call({{"cmd", "logs"}, {"service", "typo"}});
    ASSERT_EQ(logs["lines"].size(), 1u);
    EXPECT_NE(logs["lines"][0].get<std::string>().find("stderr gantry: service typo"),
              std::string::npos);
}

TEST_F(HostMode, FirstHealthchecksComeBeforeTheInterval) {
    // interval 30s: healthy at once when the check passes at start; a check that passes
    // only after ~0.5 s is seen well before 30 s, and its early failures do not count.
    std::string flag = "/tmp/gantry_health_quick_" + std::to_string(getpid());
    unlink(flag.c_str());
    auto h = HostInit::start({{"now",
                               {{"command", sh("exec sleep 1000")},
                                {"healthcheck",
                                 {{"test", json::array({"CMD", "busybox", "true"})},
                                  {"interval", "30s"},
                                  {"retries", 1}}}}},
                              {"later",
                               {{"command", sh("sleep 0.5; touch " + flag + "; exec sleep 1000")},
                                {"healthcheck",
                                 {{"test", json::array({"CMD", "busybox", "test", "-f", flag})},
                                  {"interval", "30s"},
                                  {"retries", 1}}}}}});
    ASSERT_TRUE(h->wait_state("now", "healthy", 2s));
    ASSERT_TRUE(h->wait_state("later", "healthy", 5s));
    for (const auto& e : events_of(*h, "later")) {
        EXPECT_NE(e["to"], "unhealthy") << e.dump();
    }
    unlink(flag.c_str());
}

}  // namespace
}  // namespace gantry::supervisor::testing
