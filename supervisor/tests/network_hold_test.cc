// hold_host_network(): services on the host's network wait until PID 1 has set up the
// links; services in their own network namespace and built-in system services do not.
#include <gtest/gtest.h>

#include <functional>

#include "base/event_loop.h"
#include "supervisor/supervisor.h"
#include "supervisor/unit.h"

namespace gantry::supervisor {
namespace {

TEST(NetworkHold, HostNetworkServicesWaitForTheRelease) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop) << loop.error().str();
    ProcessDriver driver;
    Supervisor sup(*loop, driver, {"", ""});
    ServiceSpec kv;  // the embedded store: loopback only, never held
    kv.name = "gantry-kv";
    kv.argv = {"/bin/sh", "-c", "exec sleep 100"};
    kv.system = true;
    ServiceSpec app;  // a host process: on the host's network
    app.name = "app";
    app.argv = {"/bin/sh", "-c", "exec sleep 100"};
    ASSERT_TRUE(sup.load({kv, app}));
    sup.hold_host_network("setting up eth0");
    sup.start_all();
    auto until = [&](const std::function<bool()>& pred) {
        for (int i = 0; i < 300 && !pred(); ++i) {
            ASSERT_TRUE(loop->run_once(std::chrono::milliseconds(20)));
        }
    };
    until([&] { return sup.status("gantry-kv")->state == State::Running; });
    ASSERT_EQ(sup.status("gantry-kv")->state, State::Running);
    // A few more turns of the loop: app must still be waiting, with the hold's reason.
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(loop->run_once(std::chrono::milliseconds(20)));
    }
    EXPECT_EQ(sup.status("app")->state, State::Waiting);
    EXPECT_EQ(sup.status("app")->reason, "setting up eth0");
    // An explicit start does not jump the hold either.
    ASSERT_TRUE(sup.start("app"));
    EXPECT_EQ(sup.status("app")->state, State::Waiting);

    sup.release_host_network();
    until([&] { return sup.status("app")->state == State::Running; });
    EXPECT_EQ(sup.status("app")->state, State::Running);
    bool done = false;
    sup.shutdown([&] { done = true; });
    until([&] { return done; });
    EXPECT_TRUE(done);
}

TEST(NetworkHold, ContainersInTheirOwnNetworkAreNotHeld) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop) << loop.error().str();
    ProcessDriver driver;
    Supervisor sup(*loop, driver, {"", ""});
    // The ProcessDriver runs argv and ignores the container fields; what matters here is
    // whether the supervisor lets the service leave `waiting`.
    ServiceSpec own;  // an image and the default network mode: its own namespace
    own.name = "own";
    own.image = "example:1";
    own.argv = {"/bin/true"};
    ServiceSpec host = own;
    host.name = "host";
    host.network_mode = NetworkMode::Host;
    ASSERT_TRUE(sup.load({own, host}));
    sup.hold_host_network("");
    sup.start_all();
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(loop->run_once(std::chrono::milliseconds(20)));
    }
    EXPECT_NE(sup.status("own")->state, State::Waiting);
    EXPECT_EQ(sup.status("host")->state, State::Waiting);
    EXPECT_EQ(sup.status("host")->reason, "waiting for the network");
}

// The first healthcheck waits for the service to go idle: its cgroup's CPU time must have
// moved (it ran) and then stood still between two looks; at most `max_wait`.
TEST(HealthSettle, WaitsForTheServiceToRunThenIdle) {
    using std::chrono::milliseconds;
    const Duration max = milliseconds(50);
    uint64_t last = 0;
    EXPECT_FALSE(health_settled(0, last, milliseconds(0), max));     // not run yet
    EXPECT_FALSE(health_settled(0, last, milliseconds(5), max));     // still not
    EXPECT_FALSE(health_settled(800, last, milliseconds(10), max));  // running
    EXPECT_FALSE(health_settled(1900, last, milliseconds(15), max));
    EXPECT_TRUE(health_settled(1900, last, milliseconds(20), max));  // stood still
    uint64_t busy = 0;
    EXPECT_FALSE(health_settled(100, busy, milliseconds(45), max));
    EXPECT_TRUE(health_settled(200, busy, milliseconds(50), max));  // busy, but time is up
    uint64_t none = 0;
    EXPECT_TRUE(health_settled(std::nullopt, none, milliseconds(0), max));  // no cgroup
}

}  // namespace
}  // namespace gantry::supervisor
