#include "supervisor/discovery.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "base/event_loop.h"
#include "base/fd.h"
#include "base/strings.h"
#include "supervisor/discovery_config.h"
#include "supervisor/driver.h"
#include "supervisor/supervisor.h"

namespace gantry::supervisor {
namespace {

using nlohmann::json;

TEST(Discovery, RegistrationValue) {
    Registration r;
    r.name = "web";
    r.state = "healthy";
    r.health = "healthy";
    r.pid = 42;
    r.started_at_us = 1'700'000'000'123'456;
    r.ports = {"8080:80"};
    r.network_mode = "host";
    json j = json::parse(registration_json(r, {"10.0.0.5"}, "edge-1"));
    EXPECT_EQ(j["name"], "web");
    EXPECT_EQ(j["host"], "edge-1");
    EXPECT_EQ(j["state"], "healthy");
    EXPECT_EQ(j["health"], "healthy");
    EXPECT_EQ(j["addresses"], json({"10.0.0.5"}));
    EXPECT_EQ(j["ports"], json({"8080:80"}));
    EXPECT_EQ(j["pid"], 42);
    EXPECT_EQ(j["started_at"], "2023-11-14T22:13:20.123456Z");
    r.pid = 0;
    r.started_at_us = 0;
    json k = json::parse(registration_json(r, {}, "h"));
    EXPECT_FALSE(k.contains("pid"));
    EXPECT_FALSE(k.contains("started_at"));
}

TEST(Discovery, PlanFromTheKvSection) {
    config::Kv kv;  // embedded
    auto p = plan_discovery(kv, true, "");
    EXPECT_TRUE(p.enabled);
    EXPECT_EQ(p.options.endpoints, std::vector<std::string>{"unix:///run/gantry/kv.sock"});
    EXPECT_FALSE(plan_discovery(kv, false, "").enabled) << "host mode runs no gantry-kv";
    p = plan_discovery(kv, false, "http://127.0.0.1:1234");
    EXPECT_TRUE(p.enabled);
    EXPECT_EQ(p.options.endpoints, std::vector<std::string>{"http://127.0.0.1:1234"});
    kv.backend = config::KvBackend::etcd;
    kv.endpoints = {"http://10.0.0.1:2379", "http://10.0.0.2:2379"};
    p = plan_discovery(kv, true, "");
    EXPECT_TRUE(p.enabled);
    EXPECT_EQ(p.options.endpoints, kv.endpoints);
    EXPECT_EQ(p.options.ttl, std::chrono::seconds(10));
}

TEST(Discovery, EmbeddedStoreDataDir) {
    // /dev/shm is tmpfs: not persistent. The build dir's file system is.
    EXPECT_EQ(embedded_kv_data_dir("/dev/shm", "/run/gantry"), "/run/gantry/kv");
    char dir[] = "/tmp/kvdirXXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    std::string d = dir;
    std::string got = embedded_kv_data_dir(d, "/run/gantry");
    // /tmp may itself be a tmpfs on some hosts; either answer follows the rule.
    EXPECT_TRUE(got == d + "/gantry/kv" || got == "/run/gantry/kv") << got;
    rmdir(dir);
}

TEST(Discovery, EmbeddedStoreService) {
    EXPECT_FALSE(embedded_kv_service("/nonexistent/gantry-kv", "/run/gantry/kv"));
    char dir[] = "/tmp/kvsvcXXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    std::string data = std::string(dir) + "/a/b/kv";
    auto s = embedded_kv_service("/bin/true", data);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->name, "gantry-kv");
    EXPECT_EQ(s->restart, RestartPolicy::Always);
    EXPECT_EQ(s->start_limit.burst, 0);
    EXPECT_EQ(s->argv,
              (std::vector<std::string>{"/bin/true", "--unix", "/run/gantry/kv.sock", "--listen",
                                        "127.0.0.1:2379", "--data-dir", data}));
    EXPECT_EQ(access((std::string(dir) + "/a/b").c_str(), F_OK), 0) << "parents made";
    EXPECT_TRUE(validate(*s));
    std::filesystem::remove_all(dir);
}

// update/remove never wait for the store: with nothing listening they return at once.
TEST(Discovery, UpdatesDoNotBlockWhenTheStoreIsDown) {
    DiscoveryOptions o;
    o.endpoints = {"unix:///nonexistent/kv.sock"};
    auto t0 = std::chrono::steady_clock::now();
    {
        Discovery d(o);
        for (int i = 0; i < 1000; ++i) {
            Registration r;
            r.name = "svc" + std::to_string(i % 10);
            r.state = "running";
            d.update(r);
            if (i % 3 == 0) {
                d.remove(r.name);
            }
        }
        EXPECT_FALSE(d.connected());
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

// The nice value of each of this process's threads (stat field 19, after the comm).
std::vector<long> thread_nice_values() {
    std::vector<long> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
        auto stat = read_file(e.path().string() + "/stat");
        size_t close = stat ? stat->rfind(')') : std::string::npos;
        if (close == std::string::npos) {
            continue;
        }
        auto fields = split(stat->substr(close + 2), ' ');  // fields 3, 4, ...
        if (fields.size() > 16) {
            out.push_back(std::stol(fields[16]));
        }
    }
    return out;
}

// Registering is background work: the worker thread runs at the configured nice value,
// and the rest of the process (PID 1's loop) keeps its own.
TEST(Discovery, WorkerRunsAtItsNiceValue) {
    DiscoveryOptions o;
    o.endpoints = {"unix:///nonexistent/kv.sock"};
    o.nice = 13;
    Discovery d(o);
    bool found = false;
    for (int i = 0; i < 200 && !found; ++i) {
        auto nices = thread_nice_values();
        found = std::count(nices.begin(), nices.end(), 13) == 1;
        if (!found) {
            ::usleep(10 * 1000);
        }
    }
    EXPECT_TRUE(found);
    EXPECT_EQ(::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())), 0);
}

// The embedded store is a system service: at shutdown it stops only after the others, so
// their last registrations (lease revocations) still reach it.
TEST(Discovery, SystemServiceStopsLast) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop) << loop.error().str();
    ProcessDriver driver;
    Supervisor sup(*loop, driver, {"", ""});
    ServiceSpec kv;
    kv.name = "gantry-kv";
    kv.argv = {"/bin/sh", "-c", "exec sleep 100"};
    kv.system = true;
    ServiceSpec app;
    app.name = "app";
    app.argv = {"/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"};
    app.stop_grace_period = std::chrono::milliseconds(300);
    ASSERT_TRUE(sup.load({kv, app}));
    std::vector<std::string> seen;
    sup.subscribe_events([&](const ServiceEvent& e) { seen.push_back(e.service + ":" + e.to); });
    sup.start_all();
    auto until = [&](const std::function<bool()>& pred) {
        for (int i = 0; i < 300 && !pred(); ++i) {
            ASSERT_TRUE(loop->run_once(std::chrono::milliseconds(20)));
        }
    };
    until([&] { return sup.status("app")->state == State::Running; });
    ASSERT_EQ(sup.status("gantry-kv")->state, State::Running);
    // Let the shell install its trap: app then lasts its whole grace period.
    auto settle = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    until([&] { return std::chrono::steady_clock::now() >= settle; });
    bool done = false;
    sup.shutdown([&] { done = true; });
    until([&] { return done; });
    ASSERT_TRUE(done);
    auto at = [&](const std::string& what) {
        return std::find(seen.begin(), seen.end(), what) - seen.begin();
    };
    std::string all;
    for (const auto& e : seen) {
        all += e + " ";
    }
    EXPECT_LT(at("app:exited"), at("gantry-kv:stopping")) << all;
    EXPECT_LT(at("gantry-kv:stopping"), static_cast<long>(seen.size()));
}

}  // namespace
}  // namespace gantry::supervisor
