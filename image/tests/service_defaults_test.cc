#include "image/service_defaults.h"

#include <gtest/gtest.h>

namespace gantry::image {
namespace {

using namespace std::chrono_literals;
using V = std::vector<std::string>;

ContainerConfig nginx_like() {
    ContainerConfig c;
    c.entrypoint = {"/docker-entrypoint.sh"};
    c.cmd = {"nginx", "-g", "daemon off;"};
    c.env = {"PATH=/usr/sbin:/usr/bin", "NGINX_VERSION=1.25", "EMPTY"};
    c.working_dir = "/srv";
    c.user = "101";
    c.exposed_ports = {"80/tcp"};
    c.stop_signal = "SIGQUIT";
    c.healthcheck = Healthcheck{{"CMD", "/bin/check"}, 5'000'000'000, 0, 0, 0};
    return c;
}

TEST(ServiceDefaults, ImageOnly) {
    auto r = resolve_service(nginx_like(), {});
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->argv, (V{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"}));
    EXPECT_EQ(r->env, (V{"PATH=/usr/sbin:/usr/bin", "NGINX_VERSION=1.25", "EMPTY="}));
    EXPECT_EQ(r->working_dir, "/srv");
    EXPECT_EQ(r->user, "101");
    EXPECT_EQ(r->stop_signal, "SIGQUIT");
    EXPECT_EQ(r->exposed_ports, V{"80/tcp"});
    ASSERT_TRUE(r->healthcheck);
    EXPECT_EQ(r->healthcheck->interval, 5s);
    EXPECT_EQ(r->healthcheck->timeout, 30s);  // Docker's default fills the gap
    EXPECT_EQ(r->healthcheck->retries, 3);
}

TEST(ServiceDefaults, CommandReplacesCmdKeepsEntrypoint) {
    auto r = resolve_service(nginx_like(), {.command = V{"nginx", "-t"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->argv, (V{"/docker-entrypoint.sh", "nginx", "-t"}));
}

TEST(ServiceDefaults, EntrypointDropsImageCmd) {
    auto r = resolve_service(nginx_like(), {.entrypoint = V{"/bin/sh"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->argv, V{"/bin/sh"});
    auto both =
        resolve_service(nginx_like(), {.entrypoint = V{"/bin/sh"}, .command = V{"-c", "x"}});
    EXPECT_EQ(both->argv, (V{"/bin/sh", "-c", "x"}));
    auto cleared = resolve_service(nginx_like(), {.entrypoint = V{}, .command = V{"/bin/true"}});
    EXPECT_EQ(cleared->argv, V{"/bin/true"});
}

TEST(ServiceDefaults, NothingToRunIsAnError) {
    auto r = resolve_service({}, {});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().str().find("nothing to run"), std::string::npos);
    EXPECT_FALSE(resolve_service(nginx_like(), {.entrypoint = V{}}));
}

TEST(ServiceDefaults, EnvironmentMergesByKey) {
    auto r = resolve_service(
        nginx_like(),
        {.environment = {{"NGINX_VERSION", "2"}, {"DB_HOST", "db"}, {"EMPTY", std::nullopt}}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->env, (V{"PATH=/usr/sbin:/usr/bin", "NGINX_VERSION=2", "DB_HOST=db"}));
    EXPECT_FALSE(resolve_service(nginx_like(), {.environment = {{"A=B", "x"}}}));
}

TEST(ServiceDefaults, PathDefaultsLikeDocker) {
    ContainerConfig c;
    c.cmd = {"x"};
    auto r = resolve_service(c, {.environment = {{"A", "1"}}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->env, (V{"PATH=" + std::string(kDefaultPath), "A=1"}));
    EXPECT_EQ(r->working_dir, "/");
    EXPECT_EQ(r->stop_signal, "SIGTERM");
    EXPECT_FALSE(r->healthcheck);
}

TEST(ServiceDefaults, ScalarOverrides) {
    auto r = resolve_service(
        nginx_like(), {.working_dir = "/app", .user = "1000:1000", .stop_signal = "SIGTERM"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->working_dir, "/app");
    EXPECT_EQ(r->user, "1000:1000");
    EXPECT_EQ(r->stop_signal, "SIGTERM");
    EXPECT_FALSE(resolve_service(nginx_like(), {.working_dir = "rel"}));
}

TEST(ServiceDefaults, ExposeAddsNormalisedPorts) {
    auto r = resolve_service(nginx_like(), {.expose = {"80", "53/udp", "8000-8010"}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exposed_ports, (V{"80/tcp", "53/udp", "8000-8010/tcp"}));
    EXPECT_FALSE(resolve_service(nginx_like(), {.expose = {"70000"}}));
    EXPECT_FALSE(resolve_service(nginx_like(), {.expose = {"80/icmp"}}));
}

TEST(ServiceDefaults, HealthcheckMergeAndDisable) {
    auto r = resolve_service(nginx_like(),
                             {.healthcheck = HealthcheckOverride{.interval = 1s, .retries = 5}});
    ASSERT_TRUE(r && r->healthcheck);
    EXPECT_EQ(r->healthcheck->test, (V{"CMD", "/bin/check"}));
    EXPECT_EQ(r->healthcheck->interval, 1s);
    EXPECT_EQ(r->healthcheck->retries, 5);
    auto off = resolve_service(nginx_like(), {.healthcheck = HealthcheckOverride{.disable = true}});
    EXPECT_FALSE(off->healthcheck);
    auto none =
        resolve_service(nginx_like(), {.healthcheck = HealthcheckOverride{.test = V{"NONE"}}});
    EXPECT_FALSE(none->healthcheck);
    ContainerConfig plain;
    plain.cmd = {"x"};
    auto added = resolve_service(
        plain, {.healthcheck = HealthcheckOverride{.test = V{"CMD-SHELL", "true"}}});
    ASSERT_TRUE(added->healthcheck);
    EXPECT_EQ(added->healthcheck->timeout, 30s);
    EXPECT_FALSE(resolve_service(plain, {.healthcheck = HealthcheckOverride{.test = V{"true"}}}));
}

TEST(ServiceDefaults, ParsesFromImageConfigJson) {
    auto ic = parse_image_config(R"({"architecture":"amd64","os":"linux","config":{
        "Entrypoint":["/e"],"Cmd":null,"Env":["A=1"],"ExposedPorts":{"8080/tcp":{}},
        "StopSignal":"SIGINT","Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":2000000000,
        "Retries":2}},"rootfs":{"type":"layers","diff_ids":[]}})");
    ASSERT_TRUE(ic) << ic.error().str();
    auto r = resolve_service(ic->config, {});
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->argv, V{"/e"});
    EXPECT_EQ(r->exposed_ports, V{"8080/tcp"});
    EXPECT_EQ(r->stop_signal, "SIGINT");
    EXPECT_EQ(r->healthcheck->interval, 2s);
    EXPECT_EQ(r->healthcheck->retries, 2);
}

}  // namespace
}  // namespace gantry::image
