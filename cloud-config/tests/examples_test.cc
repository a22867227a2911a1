// Every file in examples/ is valid, and the effective config prints and reads back equal.
#include <gtest/gtest.h>

#include <filesystem>

#include "cloud-config/emit.h"
#include "cloud-config/parse.h"
#include "cloud-config/tests/test_util.h"

namespace gantry::config {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::vector<std::string> examples() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(GANTRY_EXAMPLES_DIR)) {
        if (e.path().extension() == ".yaml") {
            out.push_back(e.path().string());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

Config load(const std::string& name) {
    std::string path = std::string(GANTRY_EXAMPLES_DIR "/") + name;
    auto c = parse_config(testing::slurp(path), path);
    EXPECT_TRUE(c) << (c ? "" : format_diagnostics(c.error()));
    return c ? *c : Config{};
}

TEST(Examples, AllValidAndRoundTrip) {
    auto files = examples();
    ASSERT_GE(files.size(), 4u);
    for (const auto& f : files) {
        SCOPED_TRACE(f);
        auto c = parse_config(testing::slurp(f), f);
        ASSERT_TRUE(c) << format_diagnostics(c.error());
        std::string yaml = to_yaml(*c);
        auto again = parse_config(yaml, f + " (shown)");
        ASSERT_TRUE(again) << format_diagnostics(again.error()) << yaml;
        EXPECT_EQ(to_json(*again), to_json(*c));
    }
}

TEST(Examples, DesignDocExampleIsValid) {
    std::string path = GANTRY_CONFIG_TESTS_DIR "/good/design-example.yaml";
    auto c = parse_config(testing::slurp(path), path);
    ASSERT_TRUE(c) << format_diagnostics(c.error());
    const Service* db = c->find_service("db");
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(db->resources.memory_bytes, 128u << 20);
    EXPECT_DOUBLE_EQ(db->resources.cpus, 0.5);
    EXPECT_EQ(db->resources.pids, 256u);
    EXPECT_EQ(c->storage.filesystems.at(0).label, "data");
    EXPECT_EQ(c->network.interfaces.at(0).name, "eth0");
    EXPECT_TRUE(c->network.interfaces.at(0).dhcp);
}

TEST(Examples, RequiredOnesExist) {
    for (const char* name : {"default.yaml", "web.yaml", "web-db.yaml", "storage-network.yaml"}) {
        EXPECT_TRUE(fs::exists(std::string(GANTRY_EXAMPLES_DIR "/") + name)) << name;
    }
}

TEST(Examples, WebDbModel) {
    Config c = load("web-db.yaml");
    ASSERT_EQ(c.services.size(), 3u);
    const Service* app = c.find_service("app");
    ASSERT_NE(app, nullptr);
    ASSERT_EQ(app->depends_on.size(), 2u);
    EXPECT_EQ(app->depends_on[0].service, "db");
    EXPECT_EQ(app->depends_on[0].condition, DependCondition::service_healthy);
    EXPECT_EQ(app->depends_on[1].condition, DependCondition::service_completed_successfully);
    EXPECT_TRUE(app->notify);
    EXPECT_EQ(app->resources.memory_bytes, 256u << 20);
    EXPECT_EQ(app->healthcheck->interval, 10s);
    EXPECT_EQ(app->healthcheck->timeout, 30s);  // Compose's default
    const Service* db = c.find_service("db");
    EXPECT_EQ(db->resources.memory_bytes, 512u << 20);
    EXPECT_DOUBLE_EQ(db->resources.cpus, 1.5);
    EXPECT_EQ(db->resources.pids, 512u);
    EXPECT_EQ(db->healthcheck->start_period, 10s);
    const Service* migrate = c.find_service("migrate");
    EXPECT_EQ(migrate->type, ServiceType::oneshot);
    EXPECT_EQ(migrate->restart.policy, RestartPolicy::on_failure);
    EXPECT_EQ(migrate->restart.max_retries, 3u);
    EXPECT_EQ(migrate->environment.at("DATABASE_URL"), "postgres://postgres@db/app");
}

TEST(Examples, StorageNetworkModel) {
    Config c = load("storage-network.yaml");
    ASSERT_EQ(c.storage.disks.size(), 1u);
    EXPECT_EQ(c.storage.disks[0].partitions[0].size_bytes, 1ull << 30);
    EXPECT_EQ(c.storage.filesystems[1].format, FsFormat::xfs);
    EXPECT_FALSE(c.storage.filesystems[1].wipe);
    ASSERT_EQ(c.network.interfaces.size(), 2u);
    EXPECT_EQ(c.network.interfaces[0].name, "eth0");
    EXPECT_EQ(c.network.interfaces[0].mtu, 9000u);
    EXPECT_EQ(c.network.interfaces[1].match_mac, "52:54:00:ab:cd:ef");
    EXPECT_EQ(c.update.reboot_strategy, RebootStrategy::etcd_lock);
    EXPECT_EQ(c.kernel.sysctl.at("vm.swappiness"), "10");
    EXPECT_EQ(c.services[0].network_mode, NetworkMode::host);
    EXPECT_EQ(c.services[0].command,
              (std::vector<std::string>{"httpd", "-f", "-p", "8000", "-h", "/data"}));
}

}  // namespace
}  // namespace gantry::config
