// Parser details: defaults, Compose's alternative spellings, marks, and boot policies.
#include "cloud-config/parse.h"

#include <gtest/gtest.h>

#include "cloud-config/codec.h"

namespace gantry::config {
namespace {

using namespace std::chrono_literals;

Config ok(const std::string& yaml) {
    auto c = parse_config(yaml, "t.yaml");
    EXPECT_TRUE(c) << (c ? "" : format_diagnostics(c.error()));
    return c ? *c : Config{};
}

Diagnostics errors(const std::string& yaml) {
    auto c = parse_config(yaml, "t.yaml");
    EXPECT_FALSE(c) << "accepted:\n" << yaml;
    return c ? Diagnostics{} : c.error();
}

TEST(Parse, EmptyFileIsAnEmptyConfig) {
    Config c = ok("#cloud-config\n");
    EXPECT_TRUE(c.services.empty());
    EXPECT_EQ(c.kv.backend, KvBackend::embedded);
    EXPECT_EQ(c.update.reboot_strategy, RebootStrategy::best_effort);
}

TEST(Parse, ServiceDefaults) {
    Config c = ok("services:\n  web:\n    image: nginx\n");
    const Service& s = c.services.at(0);
    EXPECT_EQ(s.type, ServiceType::service);
    EXPECT_EQ(s.restart.policy, RestartPolicy::no);
    EXPECT_EQ(s.network_mode, NetworkMode::bridge);
    EXPECT_EQ(s.stop_signal, 15);
    EXPECT_EQ(s.stop_grace_period, 10s);
    EXPECT_FALSE(s.healthcheck);
    EXPECT_EQ(s.mark.line, 2);
    EXPECT_EQ(s.mark.column, 3);
    EXPECT_EQ(s.mark_of("image").line, 3);
    EXPECT_EQ(s.mark_of("image").column, 5);
}

TEST(Parse, EnvironmentAsMapOrList) {
    Config a = ok("services:\n  w:\n    image: x\n    environment: {A: '1', B: 2, C: \"\"}\n");
    EXPECT_EQ(a.services[0].environment.at("B"), "2");
    EXPECT_EQ(a.services[0].environment.at("C"), "");
    Config b = ok("services:\n  w:\n    image: x\n    environment: [A=1, B=x=y, C=]\n");
    EXPECT_EQ(b.services[0].environment.at("B"), "x=y");
    EXPECT_EQ(b.services[0].environment.at("C"), "");
}

TEST(Parse, CommandStringIsSplitLikeAShell) {
    Config c =
        ok("services:\n  w:\n    image: x\n    command: sh -c 'echo \"a b\"' \"c d\" e\\ f\n");
    EXPECT_EQ(c.services[0].command,
              (std::vector<std::string>{"sh", "-c", "echo \"a b\"", "c d", "e f"}));
}

TEST(Parse, PortSyntaxes) {
    Config c =
        ok("services:\n  w:\n    image: x\n    ports:\n"
           "      - \"80\"\n      - 8080:80\n      - 127.0.0.1:53:53/udp\n"
           "      - \"[::1]:9000-9001:9000-9001\"\n"
           "      - {target: 443, published: 8443, host_ip: 10.0.0.1}\n");
    const auto& p = c.services[0].ports;
    ASSERT_EQ(p.size(), 5u);
    EXPECT_EQ(p[0].host_start, 0);
    EXPECT_EQ(p[0].container_start, 80);
    EXPECT_EQ(p[1].host_start, 8080);
    EXPECT_EQ(p[2].host_ip, "127.0.0.1");
    EXPECT_EQ(p[2].protocol, Protocol::udp);
    EXPECT_EQ(p[3].host_ip, "::1");
    EXPECT_EQ(p[3].host_end, 9001);
    EXPECT_EQ(p[4].host_start, 8443);
    EXPECT_EQ(p[4].container_start, 443);
}

TEST(Parse, VolumeSyntaxes) {
    Config c =
        ok("services:\n  w:\n    image: x\n    volumes:\n"
           "      - /srv:/srv:ro\n      - cache:/cache\n      - /anon\n"
           "      - {type: tmpfs, target: /t}\n    tmpfs: /run:size=16M\n");
    const auto& v = c.services[0].volumes;
    ASSERT_EQ(v.size(), 4u);
    EXPECT_EQ(v[0].type, VolumeType::bind);
    EXPECT_TRUE(v[0].read_only);
    EXPECT_EQ(v[1].type, VolumeType::volume);
    EXPECT_EQ(v[1].source, "cache");
    EXPECT_EQ(v[2].type, VolumeType::volume);
    EXPECT_EQ(v[2].source, "");
    EXPECT_EQ(v[3].type, VolumeType::tmpfs);
    EXPECT_EQ(c.services[0].tmpfs.at(0).size_bytes, 16u << 20);
}

TEST(Parse, HealthcheckForms) {
    Config c =
        ok("services:\n  a:\n    image: x\n    healthcheck: {test: curl -f localhost}\n"
           "  b:\n    image: x\n    healthcheck: {test: [CMD-SHELL, exit 0], retries: 9}\n"
           "  c:\n    image: x\n    healthcheck: {disable: true}\n");
    EXPECT_EQ(c.services[0].healthcheck->test,
              (std::vector<std::string>{"/bin/sh", "-c", "curl -f localhost"}));
    EXPECT_EQ(c.services[1].healthcheck->retries, 9u);
    EXPECT_FALSE(c.services[2].healthcheck);
}

TEST(Parse, RestartAndSignalsAndCaps) {
    Config c =
        ok("services:\n  w:\n    image: x\n    restart: on-failure:5\n    stop_signal: QUIT\n"
           "    cap_add: [net_admin, CAP_SYS_TIME]\n    ulimits: {nofile: 1024}\n");
    const Service& s = c.services[0];
    EXPECT_EQ(s.restart.policy, RestartPolicy::on_failure);
    EXPECT_EQ(s.restart.max_retries, 5u);
    EXPECT_EQ(s.stop_signal, 3);
    EXPECT_EQ(s.cap_add, (std::vector<std::string>{"CAP_NET_ADMIN", "CAP_SYS_TIME"}));
    EXPECT_EQ(s.ulimits.at("nofile").soft, 1024u);
    EXPECT_EQ(s.ulimits.at("nofile").hard, 1024u);
}

TEST(Parse, WriteFilesBinaryTagAndEncodings) {
    std::string gz = base64_encode(gzip("hello\n"));
    Config c =
        ok("write_files:\n  - path: /a\n    content: !!binary aGk=\n"
           "  - path: /b\n    encoding: gz+b64\n    content: " +
           gz +
           "\n"
           "    permissions: '0600'\n    owner: core:core\n    append: true\n");
    EXPECT_EQ(c.write_files[0].content, "hi");
    EXPECT_EQ(c.write_files[1].encoding, Encoding::gzip_base64);
    EXPECT_EQ(c.write_files[1].permissions, 0600u);
    EXPECT_TRUE(c.write_files[1].append);
}

TEST(Parse, EveryErrorOfAFileIsReportedInOrder) {
    Diagnostics d = errors(
        "services:\n  b:\n    image: x\n    restart: nope\n  a:\n    image: x\n    cpus: -1\n"
        "hostname: 'bad name'\n");
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(d[0].line, 4);
    EXPECT_EQ(d[1].line, 7);
    EXPECT_EQ(d[2].line, 8);
    EXPECT_EQ(d[0].str(),
              "t.yaml:4:14: services.b.restart: \"nope\" is not one of no, always, on-failure, "
              "unless-stopped");
}

TEST(Parse, DuplicateKeysDeepInsideAreFound) {
    Diagnostics d =
        errors("services:\n  w:\n    image: x\n    labels:\n      a: '1'\n      a: '2'\n");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].str(),
              "t.yaml:6:7: services.w.labels.a: duplicate key (first set at line 5, column 7)");
}

TEST(Parse, DuplicateServiceNamesAreFound) {
    Diagnostics d = errors("services:\n  w:\n    image: x\n  w:\n    image: y\n");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].line, 4);
    EXPECT_EQ(d[0].path, "services.w");
}

TEST(Parse, NeverThrowsOnGarbage) {
    for (const char* s : {"{", "[[[", "\t", "a: *nope", "? [a]\n: b", "%YAML 9\n---\n", "\xff\xfe",
                          "services: 3", "services:\n  - web", "users: {a: b}"}) {
        auto c = parse_config(s, "g.yaml");
        if (!c) {
            EXPECT_FALSE(c.error().empty());
        }
    }
}

TEST(Parse, SysctlKeysWithDotsAreQuotedInPaths) {
    Diagnostics d = errors("kernel:\n  sysctl:\n    net.ipv4.ip_forward: [1]\n");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].path, "kernel.sysctl[\"net.ipv4.ip_forward\"]");
}

TEST(BootPolicy, FormattingIsFirstBootOnlyEverythingElseEveryBoot) {
    EXPECT_EQ(boot_policy("storage.disks"), BootPolicy::first_boot);
    EXPECT_EQ(boot_policy("storage.filesystems"), BootPolicy::first_boot);
    EXPECT_EQ(boot_policy("storage.mounts"), BootPolicy::every_boot);
    for (const char* s : {"hostname", "users", "write_files", "network", "services", "kv"}) {
        EXPECT_EQ(boot_policy(s), BootPolicy::every_boot) << s;
    }
    // Every top-level section has a documented policy and a reason.
    for (const auto& p : section_policies()) {
        EXPECT_FALSE(p.why.empty()) << p.section;
    }
    EXPECT_EQ(section_policies().size(), 13u);
}

TEST(BootPolicy, WipeDefaultsToFalse) {
    Config c =
        ok("storage:\n  disks: [{device: /dev/vdb}]\n  filesystems:\n"
           "    - {device: /dev/vdb, format: ext4}\n");
    EXPECT_FALSE(c.storage.disks[0].wipe);
    EXPECT_FALSE(c.storage.filesystems[0].wipe);
}

}  // namespace
}  // namespace gantry::config
