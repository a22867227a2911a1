// Crash test: gantry-kv is killed with SIGKILL at random points under concurrent write
// load, many times. After each restart every acknowledged write must be there and the
// revision must not go back.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <mutex>
#include <random>
#include <sstream>

#include "kv/affinity.h"
#include "kv/json.h"
#include "kv/tests/server_fixture.h"

namespace gantry::kv {
namespace {

using json::Json;
using namespace testing;

TEST(Crash, NoAcknowledgedWriteIsLost) {
    std::string dir = temp_dir("kv-crash");
    int port = free_port();
    std::string ep = "127.0.0.1:" + std::to_string(port);
    std::mt19937 rng(12345);
    std::map<std::string, std::string> acked;  // key -> last acknowledged value
    int64_t max_rev = 0;
    constexpr int kRounds = 10;
    constexpr int kWriters = 6;
    for (int round = 0; round < kRounds; ++round) {
        Child server = start_gantry_kv(port, dir);
        ASSERT_TRUE(wait_ready(ep, std::chrono::seconds(5))) << "round " << round;
        // 1. Everything acknowledged before the last crash is there.
        Client check(ep);
        check.set_timeout(std::chrono::seconds(10));
        auto all = check.post("/v3/kv/range", R"({"key":"AA==","range_end":"AA=="})");
        ASSERT_TRUE(all && all->status == 200);
        Json j = Json::parse(all->body);
        int64_t rev = std::stoll(j["header"]["revision"].get<std::string>());
        EXPECT_GE(rev, max_rev) << "revision went back in round " << round;
        std::map<std::string, std::string> found;
        for (const auto& kv : j.value("kvs", Json::array())) {
            found[*json::base64_decode(kv["key"].get<std::string>())] =
                *json::base64_decode(kv.value("value", ""));
        }
        for (const auto& [k, v] : acked) {
            // A later unacknowledged write to the same key may also have landed: values
            // only grow, so the stored one must be at least the acknowledged one.
            ASSERT_TRUE(found.contains(k)) << "lost " << k << " in round " << round;
            EXPECT_GE(std::stoll(found[k]), std::stoll(v)) << k;
        }
        // 2. Load, then a kill at a random moment.
        std::mutex mu;
        std::atomic<bool> stop = false;
        std::vector<std::thread> writers;
        for (int w = 0; w < kWriters; ++w) {
            writers.emplace_back([&, w] {
                Client c(ep);
                c.set_timeout(std::chrono::seconds(10));
                std::string key = "k" + std::to_string(w);
                for (int64_t i = round * 100000;; ++i) {
                    auto r = c.put(key, std::to_string(i));
                    if (!r) {
                        return;  // the server died; this write was never acknowledged
                    }
                    int64_t wrev =
                        std::stoll(Json::parse(*r)["header"]["revision"].get<std::string>());
                    std::lock_guard lock(mu);
                    acked[key] = std::to_string(i);
                    max_rev = std::max(max_rev, wrev);
                    if (stop) {
                        return;
                    }
                }
            });
        }
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 250)(rng)));
        server.kill(SIGKILL);
        stop = true;
        for (auto& t : writers) {
            t.join();
        }
    }
    EXPECT_GT(max_rev, 50);  // the load really ran
    std::filesystem::remove_all(dir);
}

TEST(Crash, LeaseSurvivesRestartAndStillExpires) {
    std::string dir = temp_dir("kv-lease");
    int port = free_port();
    std::string ep = "127.0.0.1:" + std::to_string(port);
    {
        Child server = start_gantry_kv(port, dir);
        ASSERT_TRUE(wait_ready(ep, std::chrono::seconds(5)));
        Client c(ep);
        auto g = c.post("/v3/lease/grant", R"({"TTL":2,"ID":99})");
        ASSERT_TRUE(g && g->status == 200);
        ASSERT_TRUE(c.put("leased", "v", 99));
    }  // SIGKILL
    Child server = start_gantry_kv(port, dir);
    ASSERT_TRUE(wait_ready(ep, std::chrono::seconds(5)));
    Client c(ep);
    auto ttl = c.post("/v3/lease/timetolive", R"({"ID":99,"keys":true})");
    ASSERT_TRUE(ttl);
    EXPECT_EQ(Json::parse(ttl->body)["grantedTTL"], "2") << ttl->body;
    EXPECT_EQ(Json::parse(*c.get("leased")).value("count", ""), "1");
    std::this_thread::sleep_for(std::chrono::milliseconds(3200));
    EXPECT_FALSE(Json::parse(*c.get("leased")).contains("count")) << "lease did not expire";
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gantry::kv

namespace gantry::kv {
namespace {

using namespace testing;

// /proc/PID/task/TID/stat field 41: the scheduling policy (SCHED_FIFO is 1).
int policy_of(pid_t pid) {
    auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    if (!stat) {
        return -1;
    }
    // Fields after the command name "(...)", which may hold spaces.
    std::istringstream in(stat->substr(stat->rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 41 && in >> field; ++i) {
        if (i == 41) {
            return std::stoi(field);
        }
    }
    return -1;
}

// gantry-kv puts itself in SCHED_FIFO 1 by default (kv/realtime.h), and
// --realtime-priority 0 leaves it in SCHED_OTHER. Needs CAP_SYS_NICE (root).
TEST(Scheduling, RealtimeByDefaultAndOffOnRequest) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root (CAP_SYS_NICE) for SCHED_FIFO";
    }
    for (bool rt : {true, false}) {
        std::string dir = temp_dir("kv-sched");
        int port = free_port();
        Child server = start_gantry_kv(
            port, dir,
            rt ? std::vector<std::string>{} : std::vector<std::string>{"--realtime-priority", "0"});
        ASSERT_TRUE(wait_ready("127.0.0.1:" + std::to_string(port), std::chrono::seconds(5)));
        EXPECT_EQ(policy_of(server.pid()), rt ? SCHED_FIFO : SCHED_OTHER);
        server.kill();
        std::filesystem::remove_all(dir);
    }
}

// Cpus_allowed_list from /proc/PID/status.
std::set<int> allowed_cpus_of(pid_t pid) {
    auto status = read_file("/proc/" + std::to_string(pid) + "/status");
    std::string key = "Cpus_allowed_list:";
    if (!status || status->find(key) == std::string::npos) {
        return {};
    }
    size_t at = status->find(key) + key.size();
    std::string line = status->substr(at, status->find('\n', at) - at);
    line.erase(0, line.find_first_not_of(" \t"));
    auto cpus = parse_cpu_list(line);
    return cpus ? *cpus : std::set<int>{};
}

// gantry-kv pins itself to the CPUs of its data disk's interrupts by default (kv/affinity.h)
// and stays where it was started with --affinity any.
TEST(Affinity, StorageIrqCpusByDefaultAndAnyOnRequest) {
    std::string dir = temp_dir("kv-affinity");
    struct stat st {};
    ASSERT_EQ(::stat(dir.c_str(), &st), 0);
    auto irq = storage_irq_cpus(st.st_dev);
    if (!irq) {
        std::filesystem::remove_all(dir);
        GTEST_SKIP() << "no interrupt information for the disk of " << dir << ": "
                     << irq.error().str();
    }
    std::set<int> mine = allowed_cpus_of(::getpid());
    std::set<int> want;
    std::ranges::set_intersection(irq->cpus, mine, std::inserter(want, want.end()));
    if (want.empty() || want == mine) {
        std::filesystem::remove_all(dir);
        GTEST_SKIP() << "the disk's interrupt CPUs leave nothing to pin here";
    }
    for (bool storage : {true, false}) {
        int port = free_port();
        Child server = start_gantry_kv(
            port, dir,
            storage ? std::vector<std::string>{} : std::vector<std::string>{"--affinity", "any"});
        std::string ep = "127.0.0.1:" + std::to_string(port);
        ASSERT_TRUE(wait_ready(ep, std::chrono::seconds(5)));
        // A put is answered by the loop, which runs after the pinning.
        Client c(ep);
        ASSERT_TRUE(c.put("k", "v"));
        EXPECT_EQ(allowed_cpus_of(server.pid()), storage ? want : mine);
        server.kill();
    }
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gantry::kv
