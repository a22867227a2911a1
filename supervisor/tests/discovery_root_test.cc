// Root tests for issue 7: gantry-init --host-mode registers its services under
// /gantry/services/<name>, against gantry-kv (--kv-endpoint) and against Debian's etcd
// (kv.backend: etcd), both started here on 127.0.0.1.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "kv/tests/server_fixture.h"
#include "supervisor/tests/host_fixture.h"

namespace gantry::supervisor::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace kvt = gantry::kv::testing;

std::string b64decode(const std::string& in) {
    static const std::string kTable =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    uint32_t buf = 0;
    int bits = 0;
    for (char c : in) {
        auto p = kTable.find(c);
        if (p == std::string::npos) {
            break;
        }
        buf = (buf << 6) | static_cast<uint32_t>(p);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buf >> bits) & 0xff);
        }
    }
    return out;
}

json sh(const std::string& script) {
    return json::array({"busybox", "sh", "-c", script});
}

bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

enum class Backend { GantryKv, Etcd };

class Discovery : public ::testing::TestWithParam<Backend> {
  protected:
    void SetUp() override {
        if (geteuid() != 0) {
            GTEST_SKIP() << "needs root (the host-mode tests run as root)";
        }
        if (access("/bin/busybox", X_OK) != 0 && access("/usr/bin/busybox", X_OK) != 0) {
            GTEST_SKIP() << "needs busybox (Debian busybox-static)";
        }
        if (GetParam() == Backend::Etcd && access(kvt::kEtcdBin, X_OK) != 0) {
            GTEST_SKIP() << "needs Debian's etcd-server (" << kvt::kEtcdBin << ")";
        }
        data_dir_ = kvt::temp_dir("discovery-store");
        port_ = kvt::free_port();
        endpoint_ = "http://127.0.0.1:" + std::to_string(port_);
        start_store();
        flag_ = data_dir_ + ".healthy";
    }

    void TearDown() override {
        h_.reset();
        for (pid_t p : orphans_) {
            ::kill(p, SIGKILL);
        }
        store_.kill();
        std::filesystem::remove_all(data_dir_);
        ::unlink(flag_.c_str());
    }

    void start_store() {
        if (GetParam() == Backend::GantryKv) {
            store_ = kvt::start_gantry_kv(port_, data_dir_);
        } else {
            store_ = kvt::start_etcd(port_, kvt::free_port(), data_dir_);
        }
        ASSERT_TRUE(kvt::wait_ready(endpoint_, 30s)) << "store did not come up";
    }

    void start_init(std::chrono::seconds ttl) {
        json file = {{"services",
                      {{"db", {{"command", sh("exec sleep 1000")}}},
                       {"web",
                        {{"command", sh("exec sleep 1000")},
                         {"healthcheck",
                          {{"test", json::array({"CMD", "busybox", "test", "-f", flag_})},
                           {"interval", "200ms"},
                           {"retries", 1}}}}}}}};
        std::vector<std::string> args = {"--kv-ttl", std::to_string(ttl.count()) + "s"};
        if (GetParam() == Backend::Etcd) {
            file["kv"] = {{"backend", "etcd"}, {"endpoints", {endpoint_}}};
        } else {
            args.push_back("--kv-endpoint");
            args.push_back(endpoint_);
        }
        h_ = HostInit::start_file(file, args);
    }

    // The registration of `name`, or nullopt when the key is absent.
    std::optional<json> key(const std::string& name, int64_t* lease = nullptr) {
        kv::Client c(endpoint_);
        c.set_timeout(5s);
        auto r = c.get("/gantry/services/" + name);
        if (!r) {
            return std::nullopt;
        }
        json j = json::parse(*r, nullptr, false);
        if (!j.is_object() || !j.contains("kvs") || j["kvs"].empty()) {
            return std::nullopt;
        }
        if (lease != nullptr) {
            const json& l = j["kvs"][0].value("lease", json("0"));
            *lease = l.is_string() ? std::stoll(l.get<std::string>()) : l.get<int64_t>();
        }
        return json::parse(b64decode(j["kvs"][0]["value"].get<std::string>()), nullptr, false);
    }

    bool wait_key(const std::string& name, const std::function<bool(const json&)>& pred,
                  std::chrono::milliseconds timeout) {
        return wait_for(
            [&] {
                auto v = key(name);
                return v && pred(*v);
            },
            timeout);
    }

    bool wait_gone(const std::string& name, std::chrono::milliseconds timeout) {
        return wait_for([&] { return !key(name); }, timeout);
    }

    std::string data_dir_, endpoint_, flag_;
    int port_ = 0;
    kvt::Child store_;
    std::unique_ptr<HostInit> h_;
    std::vector<pid_t> orphans_;
};

TEST_P(Discovery, KeysFollowStateAndHealthAndGoOnStop) {
    start_init(10s);
    ASSERT_TRUE(wait_key(
        "db", [](const json& v) { return v["state"] == "running"; }, 10s))
        << h_->init_log();
    int64_t lease = 0;
    json db = *key("db", &lease);
    EXPECT_EQ(db["name"], "db");
    EXPECT_EQ(db["pid"], h_->service("db")["pid"]);
    EXPECT_EQ(db["network_mode"], "host");
    EXPECT_TRUE(db["addresses"].is_array());
    EXPECT_TRUE(db["started_at"].is_string());
    EXPECT_NE(lease, 0) << "the key is on a lease";
    {
        kv::Client c(endpoint_);
        c.set_timeout(5s);
        auto r = c.post("/v3/lease/timetolive", json{{"ID", std::to_string(lease)}}.dump());
        ASSERT_TRUE(r);
        json t = json::parse(r->body);
        int64_t ttl = std::stoll(t.value("TTL", std::string("0")));
        EXPECT_GT(ttl, 0);
        EXPECT_LE(ttl, 10);
    }

    // Health: unhealthy (no flag file), then healthy.
    ASSERT_TRUE(wait_key(
        "web", [](const json& v) { return v["health"] == "unhealthy"; }, 5s));
    EXPECT_EQ(key("web")->value("state", ""), "unhealthy");
    std::ofstream(flag_) << "ok";
    ASSERT_TRUE(wait_key(
        "web", [](const json& v) { return v["health"] == "healthy"; }, 5s));

    // Stop: key and lease go at once; start: back with a new lease.
    ASSERT_EQ(h_->raw_call({{"cmd", "stop"}, {"service", "db"}})["ok"], true);
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_gone("db", 5s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s) << "deleted, not left to expire";
    ASSERT_EQ(h_->raw_call({{"cmd", "start"}, {"service", "db"}})["ok"], true);
    ASSERT_TRUE(wait_key(
        "db", [](const json& v) { return v["state"] == "running"; }, 5s));
    int64_t lease2 = 0;
    key("db", &lease2);
    EXPECT_NE(lease2, lease);

    // A clean shutdown revokes everything.
    EXPECT_EQ(h_->terminate(), 0);
    EXPECT_FALSE(key("db"));
    EXPECT_FALSE(key("web"));
}

// gantry-init killed: no keepalives, so the store drops the keys when the TTL runs out.
TEST_P(Discovery, KeysExpireWhenTheSupervisorDies) {
    start_init(3s);
    ASSERT_TRUE(wait_key(
        "db", [](const json& v) { return v["state"] == "running"; }, 10s))
        << h_->init_log();
    ASSERT_TRUE(wait_key(
        "web", [](const json&) { return true; }, 5s));
    orphans_.push_back(h_->service("db")["pid"].get<pid_t>());
    orphans_.push_back(h_->service("web")["pid"].get<pid_t>());
    // Kept alive past the TTL while it lives.
    std::this_thread::sleep_for(4s);
    ASSERT_TRUE(key("db")) << "keepalives should have held the lease";
    ::kill(h_->pid(), SIGKILL);
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_gone("db", 10s));
    ASSERT_TRUE(wait_gone("web", 2s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s);
}

// The store goes away and comes back empty: the supervisor is not held up meanwhile and
// registers everything again.
TEST_P(Discovery, ReregistersWhenTheStoreComesBack) {
    start_init(10s);
    ASSERT_TRUE(wait_key(
        "db", [](const json& v) { return v["state"] == "running"; }, 10s));
    store_.kill();
    std::filesystem::remove_all(data_dir_);
    std::filesystem::create_directories(data_dir_);
    // The API answers quickly while the store is down (the worker thread waits, not PID 1).
    for (int i = 0; i < 5; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        EXPECT_EQ(h_->raw_call({{"cmd", "ps"}})["ok"], true);
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
        std::this_thread::sleep_for(200ms);
    }
    // A state change while the store is down is not lost.
    ASSERT_EQ(h_->raw_call({{"cmd", "stop"}, {"service", "web"}})["ok"], true);
    start_store();
    EXPECT_TRUE(wait_key(
        "db", [](const json& v) { return v["state"] == "running"; }, 10s))
        << h_->init_log();
    EXPECT_FALSE(key("web"));
}

INSTANTIATE_TEST_SUITE_P(Backends, Discovery, ::testing::Values(Backend::GantryKv, Backend::Etcd),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                             return info.param == Backend::Etcd ? "etcd" : "gantry_kv";
                         });

}  // namespace
}  // namespace gantry::supervisor::testing
