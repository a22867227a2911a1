#include "supervisor/container_spec.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace gantry::supervisor {
namespace {

using json = nlohmann::json;

ServiceSpec web() {
    ServiceSpec s;
    s.name = "web";
    s.image = "web:1";
    s.argv = {"httpd", "-f"};
    s.env = {"PATH=/bin"};
    s.working_dir = "/srv";
    return s;
}

bool has_ns(const json& j, std::string_view type) {
    const auto& ns = j["linux"]["namespaces"];
    return std::any_of(ns.begin(), ns.end(), [&](const json& n) { return n["type"] == type; });
}

const json* find_mount(const json& j, std::string_view dest) {
    for (const auto& m : j["mounts"]) {
        if (m["destination"] == dest) {
            return &m;
        }
    }
    return nullptr;
}

TEST(ContainerSpec, DefaultProfileWithTheService) {
    ContainerSpecInput in{.rootfs = "/r", .uid = 33, .gid = 33, .notify_socket = "/run/n/web"};
    auto r = container_spec_json(web(), in);
    ASSERT_TRUE(r) << r.error().str();
    const json& j = *r;
    EXPECT_EQ(j["process"]["args"], json({"httpd", "-f"}));
    EXPECT_EQ(j["process"]["cwd"], "/srv");
    EXPECT_EQ(j["process"]["user"]["uid"], 33);
    EXPECT_EQ(j["process"]["env"].back(), "NOTIFY_SOCKET=/run/gantry-notify.sock");
    EXPECT_EQ(j["root"]["path"], "/r");
    EXPECT_EQ(j["hostname"], "web");
    for (auto t : {"pid", "mount", "uts", "ipc", "network"}) {
        EXPECT_TRUE(has_ns(j, t)) << t;
    }
    const json* n = find_mount(j, "/run/gantry-notify.sock");
    ASSERT_NE(n, nullptr);
    EXPECT_EQ((*n)["source"], "/run/n/web");
    EXPECT_TRUE(j["linux"].contains("seccomp"));
    EXPECT_FALSE(j["linux"].contains("resources"));
    auto spec = container_spec(web(), in);
    ASSERT_TRUE(spec) << spec.error().str();
}

TEST(ContainerSpec, WatchdogEnvForTheContainersInit) {
    ServiceSpec s = web();
    s.notify = true;
    s.watchdog = std::chrono::seconds(10);
    ContainerSpecInput in{.rootfs = "/r", .uid = 0, .gid = 0, .notify_socket = "/run/n/web"};
    auto r = container_spec_json(s, in);
    ASSERT_TRUE(r) << r.error().str();
    auto env = (*r)["process"]["env"].get<std::vector<std::string>>();
    EXPECT_NE(std::find(env.begin(), env.end(), "WATCHDOG_USEC=10000000"), env.end());
    EXPECT_NE(std::find(env.begin(), env.end(), "WATCHDOG_PID=1"), env.end());
}

TEST(ContainerSpec, HostNetworkVolumesTmpfsLimits) {
    ServiceSpec s = web();
    s.network_mode = NetworkMode::Host;
    s.volumes = {{"/data", "/var/data", true}};
    s.tmpfs = {{"/tmp", 1 << 20}};
    s.resources = {64 << 20, 0.5, 10};
    s.ulimits["nproc"] = {5, 6};
    s.sysctls["kernel.msgmax"] = "100";  // net.* needs its own netns
    auto r = container_spec_json(s, {.rootfs = "/r"});
    ASSERT_TRUE(r) << r.error().str();
    const json& j = *r;
    EXPECT_FALSE(has_ns(j, "network"));
    const json* v = find_mount(j, "/var/data");
    ASSERT_NE(v, nullptr);
    EXPECT_EQ((*v)["options"], json({"rbind", "rprivate", "ro"}));
    const json* t = find_mount(j, "/tmp");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ((*t)["type"], "tmpfs");
    EXPECT_EQ(j["linux"]["resources"]["memory"]["limit"], 64 << 20);
    EXPECT_EQ(j["linux"]["resources"]["cpu"]["quota"], 50000);
    EXPECT_EQ(j["linux"]["resources"]["pids"]["limit"], 10);
    EXPECT_EQ(j["linux"]["sysctl"]["kernel.msgmax"], "100");
    EXPECT_EQ(j["process"]["rlimits"][0]["type"], "RLIMIT_NPROC");
    auto parsed = container_spec(s, {.rootfs = "/r"});
    EXPECT_TRUE(parsed) << parsed.error().str();
}

TEST(ContainerSpec, CapsAddDropPrivileged) {
    ServiceSpec s = web();
    s.cap_add = {"NET_ADMIN"};
    s.cap_drop = {"CAP_MKNOD", "net_raw"};
    auto r = container_spec_json(s, {.rootfs = "/r"});
    ASSERT_TRUE(r);
    auto caps = (*r)["process"]["capabilities"]["bounding"].get<std::vector<std::string>>();
    EXPECT_NE(std::ranges::find(caps, "CAP_NET_ADMIN"), caps.end());
    EXPECT_EQ(std::ranges::find(caps, "CAP_MKNOD"), caps.end());
    EXPECT_EQ(std::ranges::find(caps, "CAP_NET_RAW"), caps.end());
    s.cap_drop = {"ALL"};
    caps = (*container_spec_json(s, {.rootfs = "/r"}))["process"]["capabilities"]["bounding"]
               .get<std::vector<std::string>>();
    EXPECT_TRUE(caps.empty());
    s.cap_add = {"BOGUS"};
    EXPECT_FALSE(container_spec_json(s, {.rootfs = "/r"}));
    ServiceSpec p = web();
    p.privileged = true;
    auto pj = *container_spec_json(p, {.rootfs = "/r"});
    EXPECT_FALSE(pj["linux"].contains("seccomp"));
    EXPECT_TRUE(pj["linux"]["maskedPaths"].empty());
    EXPECT_NE(std::ranges::find(pj["process"]["capabilities"]["bounding"], "CAP_SYS_ADMIN"),
              pj["process"]["capabilities"]["bounding"].end());
}

TEST(ContainerSpec, UserFromImageDatabase) {
    std::string passwd = "root:x:0:0::/root:/bin/sh\nwww:x:33:34::/srv:/bin/false\n";
    std::string group = "root:x:0:\nweb:x:50:\n";
    auto u = resolve_container_user("www", passwd, group);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->uid, 33u);
    EXPECT_EQ(u->gid, 34u);
    u = resolve_container_user("www:web", passwd, group);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->gid, 50u);
    u = resolve_container_user("33", passwd, group);
    EXPECT_EQ(u->gid, 34u);
    u = resolve_container_user("1000:7", passwd, group);
    EXPECT_EQ(u->uid, 1000u);
    EXPECT_EQ(u->gid, 7u);
    EXPECT_EQ(resolve_container_user("", passwd, group)->uid, 0u);
    auto bad = resolve_container_user("ghost", passwd, group);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().str().find("/etc/passwd"), std::string::npos);
}

}  // namespace
}  // namespace gantry::supervisor
