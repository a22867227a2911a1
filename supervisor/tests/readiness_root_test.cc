// Root tests for issue 5: the notify start timeout and the sd_notify watchdog, with
// gantry-init --host-mode and notify_helper as the service.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "supervisor/tests/host_fixture.h"

namespace gantry::supervisor::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

json helper(std::initializer_list<const char*> steps) {
    json argv = json::array({NOTIFY_HELPER_BIN});
    for (const char* s : steps) {
        argv.push_back(s);
    }
    return argv;
}

// The first event of `service` moving to `to`, or null.
json first_event(HostInit& h, const std::string& service, const std::string& to) {
    json all = h.raw_call({{"cmd", "events"}});
    for (const auto& e : all["events"]) {
        if (e["service"] == service && e["to"] == to) {
            return e;
        }
    }
    return nullptr;
}

bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

class Readiness : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) {
            GTEST_SKIP() << "needs root (the other host-mode tests run as root too)";
        }
    }
};

// No READY=1 within start_timeout: stop signal (ignored here), SIGKILL after the grace
// period, then restarted by on-failure; the reason is in inspect and in the events.
TEST_F(Readiness, StartTimeoutStopsKillsAndRestarts) {
    auto h = HostInit::start({{"stuck",
                               {{"command", helper({"ignore-term", "send=STATUS=stuck"})},
                                {"notify", true},
                                {"start_timeout", "500ms"},
                                {"stop_grace_period", "300ms"},
                                {"restart", "on-failure"},
                                {"backoff", {{"initial", "200ms"}, {"max", "200ms"}}},
                                {"start_limit", {{"burst", 0}}}}}});
    ASSERT_TRUE(wait_for([&] { return h->service("stuck").value("restarts", 0) >= 1; }, 5s))
        << h->service("stuck").dump();
    json starting = first_event(*h, "stuck", "starting");
    json stopping = first_event(*h, "stuck", "stopping");
    json backoff = first_event(*h, "stuck", "backoff");
    ASSERT_FALSE(stopping.is_null());
    ASSERT_FALSE(backoff.is_null());
    EXPECT_EQ(stopping["detail"], "no READY=1 within 500ms");
    EXPECT_EQ(backoff["detail"],
              "no READY=1 within 500ms (killed by SIGKILL); restarting in 200ms");
    double to_stop_ms =
        (stopping["time_us"].get<int64_t>() - starting["time_us"].get<int64_t>()) / 1000.0;
    double to_kill_ms =
        (backoff["time_us"].get<int64_t>() - stopping["time_us"].get<int64_t>()) / 1000.0;
    EXPECT_GE(to_stop_ms, 495);
    EXPECT_LE(to_stop_ms, 800);
    EXPECT_GE(to_kill_ms, 295);
    EXPECT_LE(to_kill_ms, 600);
    json svc = h->service("stuck");
    EXPECT_EQ(svc["spec"]["start_timeout"], "500ms");
    ASSERT_FALSE(svc["history"].empty());
    EXPECT_EQ(svc["history"][0]["signal"], SIGKILL);
}

// A service that answers SIGTERM still failed: restart: no leaves it failed, with why.
TEST_F(Readiness, StartTimeoutWithoutRestartFails) {
    auto h = HostInit::start({{"slow",
                               {{"command", helper({"send=STATUS=never ready"})},
                                {"notify", true},
                                {"start_timeout", "300ms"}}}});
    ASSERT_TRUE(h->wait_state("slow", "failed", 3s)) << h->service("slow").dump();
    EXPECT_EQ(h->service("slow")["reason"], "no READY=1 within 300ms (killed by SIGTERM)");
}

// EXTEND_TIMEOUT_USEC while starting pushes the start timeout out (sd_notify(3)): READY=1
// at 900 ms is in time under a 500 ms start_timeout extended to 1.5 s from the message.
TEST_F(Readiness, ExtendTimeoutWhileStarting) {
    auto h = HostInit::start(
        {{"slow",
          {{"command", helper({"send=EXTEND_TIMEOUT_USEC=1500000", "sleep=900", "send=READY=1"})},
           {"notify", true},
           {"start_timeout", "500ms"},
           {"restart", "no"}}}});
    ASSERT_TRUE(h->wait_state("slow", "running", 4s)) << h->service("slow").dump();
    EXPECT_TRUE(first_event(*h, "slow", "stopping").is_null());
    EXPECT_EQ(h->service("slow").value("restarts", -1), 0);
}

// An extension runs out like the timeout it replaced: EXTEND 800 ms, then silence, so
// the stop comes ~800 ms after the message, not at the configured 300 ms.
TEST_F(Readiness, ExtendTimeoutThatRunsOutStillStops) {
    auto h = HostInit::start({{"stalls",
                               {{"command", helper({"send=EXTEND_TIMEOUT_USEC=800000"})},
                                {"notify", true},
                                {"start_timeout", "300ms"}}}});
    ASSERT_TRUE(h->wait_state("stalls", "failed", 4s)) << h->service("stalls").dump();
    json starting = first_event(*h, "stalls", "starting");
    json stopping = first_event(*h, "stalls", "stopping");
    ASSERT_FALSE(stopping.is_null());
    double ms = (stopping["time_us"].get<int64_t>() - starting["time_us"].get<int64_t>()) / 1000.0;
    EXPECT_GE(ms, 780);
    EXPECT_LE(ms, 1300);
}

// While stopping, EXTEND_TIMEOUT_USEC pushes SIGKILL out: the service gets 1 s instead of
// its 300 ms grace, finishes in 700 ms and exits 0.
TEST_F(Readiness, ExtendTimeoutWhileStopping) {
    auto h = HostInit::start({{"drain",
                               {{"command", helper({"send=READY=1", "term-extend=1000000,700"})},
                                {"notify", true},
                                {"stop_grace_period", "300ms"},
                                {"restart", "no"}}}});
    ASSERT_TRUE(h->wait_state("drain", "running", 3s));
    ASSERT_EQ(h->raw_call({{"cmd", "stop"}, {"service", "drain"}})["ok"], true);
    ASSERT_TRUE(h->wait_state("drain", "exited", 4s)) << h->service("drain").dump();
    json svc = h->service("drain");
    ASSERT_FALSE(svc["history"].empty());
    EXPECT_EQ(svc["history"][0].value("signal", 0), 0) << svc.dump();
    EXPECT_EQ(svc["history"][0].value("exit_code", -1), 0) << svc.dump();
}

// WATCHDOG_USEC is passed; pings keep it alive past the timeout; when they stop, SIGABRT
// and the restart policy (no: failed).
TEST_F(Readiness, WatchdogMissAbortsTheService) {
    auto h = HostInit::start(
        {{"dog",
          {{"command", helper({"env=WATCHDOG_USEC", "send=READY=1", "ping=100,10"})},
           {"notify", true},
           {"watchdog", "400ms"}}}});
    ASSERT_TRUE(h->wait_state("dog", "running", 3s));
    ASSERT_TRUE(h->wait_state("dog", "failed", 5s)) << h->service("dog").dump();
    json svc = h->service("dog");
    EXPECT_EQ(svc["reason"], "watchdog timeout: no WATCHDOG=1 within 400ms (killed by SIGABRT)");
    EXPECT_EQ(svc["status"], "WATCHDOG_USEC=400000");
    ASSERT_FALSE(svc["history"].empty());
    // Ten pings 100 ms apart, then 400 ms of silence: up for about 1.4 s, not 0.4 s.
    EXPECT_GE(svc["history"][0]["ran_for_s"].get<double>(), 1.2);
    json stopping = first_event(*h, "dog", "stopping");
    ASSERT_FALSE(stopping.is_null());
    EXPECT_EQ(stopping["detail"], "watchdog timeout: no WATCHDOG=1 within 400ms");
}

TEST_F(Readiness, WatchdogTriggerActsAtOnce) {
    auto h = HostInit::start(
        {{"trig",
          {{"command", helper({"send=READY=1", "sleep=200", "send=WATCHDOG=trigger"})},
           {"notify", true},
           {"watchdog", "30s"},
           {"restart", "on-failure:1"},
           {"backoff", {{"initial", "100ms"}}}}}});
    // Run 1 triggers, is restarted once, run 2 triggers, on-failure:1 gives up.
    ASSERT_TRUE(h->wait_state("trig", "failed", 5s)) << h->service("trig").dump();
    EXPECT_EQ(h->service("trig")["reason"],
              "watchdog triggered by the service (WATCHDOG=trigger) (killed by SIGABRT); gave up "
              "after 1 restarts (on-failure:1)");
}

TEST_F(Readiness, WatchdogWithoutNotifyIsRefused) {
    auto h = HostInit::start(
        {{"bad", {{"command", json::array({"busybox", "sleep", "100"})}, {"watchdog", "1s"}}}});
    json cfg = h->raw_call({{"cmd", "config"}});
    EXPECT_NE(cfg.dump().find("watchdog needs notify: true"), std::string::npos) << cfg.dump();
}

}  // namespace
}  // namespace gantry::supervisor::testing
