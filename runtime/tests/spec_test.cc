#include "runtime/spec.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>

#include "runtime/default_spec.h"

namespace gantry::runtime {
namespace {

using json = nlohmann::json;

json minimal() {
    return json::parse(R"({
        "ociVersion": "1.2.0",
        "process": {"args": ["/bin/true"], "cwd": "/"},
        "root": {"path": "rootfs"},
        "linux": {"namespaces": [{"type": "mount"}]}
    })");
}

std::string error_of(const json& j) {
    auto r = parse_spec_json(j);
    EXPECT_FALSE(r.has_value());
    return r ? std::string() : r.error().str();
}

TEST(Spec, ParsesMinimal) {
    auto r = parse_spec_json(minimal());
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->oci_version, "1.2.0");
    EXPECT_EQ(r->process.args, std::vector<std::string>{"/bin/true"});
    EXPECT_EQ(r->root.path, "rootfs");
    EXPECT_FALSE(r->root.readonly);
    EXPECT_TRUE(r->linux_.has_namespace(NsType::Mount));
}

TEST(Spec, ParsesDefaultSpec) {
    auto r = parse_spec_json(default_spec());
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_TRUE(r->root.readonly);
    EXPECT_EQ(r->hostname, "gantry");
    EXPECT_EQ(r->mounts.size(), 7u);
    EXPECT_EQ(r->linux_.namespaces.size(), 6u);
    EXPECT_TRUE(r->process.no_new_privileges);
    EXPECT_TRUE(r->process.capabilities.is_object());
    ASSERT_EQ(r->process.rlimits.size(), 1u);
    EXPECT_EQ(r->process.rlimits[0].resource, RLIMIT_NOFILE);
}

TEST(Spec, InvalidJsonSaysSo) {
    auto r = parse_spec("{\"ociVersion\": ");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().str().find("not valid JSON"), std::string::npos);
}

TEST(Spec, TerminalTrueIsRefusedWithReason) {
    json j = minimal();
    j["process"]["terminal"] = true;
    std::string e = error_of(j);
    EXPECT_NE(e.find("process.terminal: true is not supported"), std::string::npos) << e;
}

TEST(Spec, WrongTypeNamesThePath) {
    json j = minimal();
    j["process"]["user"] = {{"uid", "root"}, {"gid", 0}};
    EXPECT_EQ(error_of(j),
              "process.user.uid: expected an unsigned integer up to 4294967295, got \"root\"");
}

TEST(Spec, UnknownKeyGetsAHint) {
    json j = minimal();
    j["process"]["noNewPrivilege"] = true;
    EXPECT_EQ(error_of(j),
              "process.noNewPrivilege: unknown key (did you mean \"noNewPrivileges\"?)");
}

TEST(Spec, UnknownNamespaceTypeGetsAHint) {
    json j = minimal();
    j["linux"]["namespaces"].push_back({{"type", "netwrok"}});
    EXPECT_EQ(error_of(j),
              "linux.namespaces[1].type: unknown value \"netwrok\" (did you mean "
              "\"network\"?)");
}

TEST(Spec, DuplicateNamespace) {
    json j = minimal();
    j["linux"]["namespaces"].push_back({{"type", "mount"}});
    EXPECT_EQ(error_of(j), "linux.namespaces[1]: namespace \"mount\" is listed twice");
}

TEST(Spec, RlimitErrors) {
    json j = minimal();
    j["process"]["rlimits"] = {{{"type", "RLIMIT_NOFLE"}, {"soft", 1}, {"hard", 2}}};
    EXPECT_EQ(error_of(j),
              "process.rlimits[0].type: unknown value \"RLIMIT_NOFLE\" (did you mean "
              "\"RLIMIT_NOFILE\"?)");
    j["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 3}, {"hard", 2}}};
    EXPECT_EQ(error_of(j), "process.rlimits[0]: soft limit 3 is above the hard limit 2");
}

TEST(Spec, CwdThatClimbsOutIsRefused) {
    json j = minimal();
    j["process"]["cwd"] = "/../../etc";
    std::string e = error_of(j);
    EXPECT_NE(e.find("process.cwd"), std::string::npos) << e;
    EXPECT_NE(e.find("outside the rootfs"), std::string::npos) << e;
    j["process"]["cwd"] = "relative/dir";
    EXPECT_NE(error_of(j).find("not an absolute path"), std::string::npos);
    j["process"]["cwd"] = "/a/./b/../c";
    auto r = parse_spec_json(j);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->process.cwd, "/a/c");
}

TEST(Spec, MountDestinationMustBeAbsolute) {
    json j = minimal();
    j["mounts"] = {{{"destination", "proc"}, {"type", "proc"}}};
    EXPECT_EQ(error_of(j), "mounts[0].destination: \"proc\" must be an absolute path");
}

TEST(Spec, UserNamespaceNeedsMappings) {
    json j = minimal();
    j["linux"]["namespaces"].push_back({{"type", "user"}});
    EXPECT_NE(error_of(j).find("needs uidMappings and gidMappings"), std::string::npos);
    j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 0}}};
    j["linux"]["gidMappings"] = j["linux"]["uidMappings"];
    EXPECT_EQ(error_of(j), "linux.uidMappings[0].size: must be at least 1");
    j["linux"]["uidMappings"][0]["size"] = 65536;
    j["linux"]["gidMappings"][0]["size"] = 65536;
    auto r = parse_spec_json(j);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->linux_.uid_mappings[0].host_id, 100000u);
}

TEST(Spec, MappingsWithoutUserNamespace) {
    json j = minimal();
    j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1}, {"size", 1}}};
    EXPECT_NE(error_of(j).find("no new user namespace"), std::string::npos);
}

TEST(Spec, HostnameNeedsUts) {
    json j = minimal();
    j["hostname"] = "box";
    EXPECT_EQ(error_of(j), "hostname: setting a hostname needs a new uts namespace");
}

TEST(Spec, SysctlRules) {
    json j = minimal();
    j["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
    EXPECT_EQ(error_of(j), "linux.sysctl.net.ipv4.ip_forward: needs a new network namespace");
    j["linux"]["namespaces"].push_back({{"type", "network"}});
    EXPECT_TRUE(parse_spec_json(j));
    j["linux"]["sysctl"] = {{"vm.swappiness", "10"}};
    EXPECT_EQ(error_of(j), "linux.sysctl.vm.swappiness: not namespaced; it would change the host");
    j["linux"]["sysctl"] = {{"net.ipv4/../../x", "1"}};
    EXPECT_NE(error_of(j).find("is not a sysctl name"), std::string::npos);
}

TEST(Spec, DeviceValidation) {
    json j = minimal();
    j["linux"]["devices"] = {{{"path", "/etc/passwd"}, {"type", "c"}, {"major", 1}, {"minor", 3}}};
    EXPECT_EQ(error_of(j), "linux.devices[0].path: \"/etc/passwd\" is not under /dev");
    j["linux"]["devices"] = {{{"path", "/dev/fuse"}, {"type", "x"}, {"major", 10}, {"minor", 229}}};
    EXPECT_NE(error_of(j).find("linux.devices[0].type: unknown value \"x\""), std::string::npos);
}

TEST(Spec, ApparmorIsANote) {
    json j = minimal();
    j["process"]["apparmorProfile"] = "docker-default";
    auto r = parse_spec_json(j);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->notes.size(), 1u);
    EXPECT_NE(r->notes[0].find("apparmor"), std::string::npos);
}

TEST(Spec, HooksAreRefused) {
    json j = minimal();
    j["hooks"] = json::object();
    EXPECT_EQ(error_of(j), "hooks: OCI hooks are not supported by gantry-oci");
}

TEST(Spec, OciVersionMustBe1x) {
    json j = minimal();
    j["ociVersion"] = "0.9";
    EXPECT_EQ(error_of(j), "ociVersion: \"0.9\" is not a 1.x runtime-spec version");
}

TEST(Spec, SecurityObjectsAreKeptRaw) {
    json j = minimal();
    j["process"]["capabilities"] = {{"bounding", {"CAP_KILL"}}};
    j["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ERRNO"}};
    j["linux"]["resources"] = {{"pids", {{"limit", 10}}}};
    auto r = parse_spec_json(j);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->process.capabilities["bounding"][0], "CAP_KILL");
    EXPECT_EQ(r->linux_.seccomp["defaultAction"], "SCMP_ACT_ERRNO");
    EXPECT_EQ(r->linux_.resources["pids"]["limit"], 10);
    j["linux"]["seccomp"] = "strict";
    EXPECT_EQ(error_of(j), "linux.seccomp: expected an object, got \"strict\"");
}

TEST(Spec, EnvMustBeNameValue) {
    json j = minimal();
    j["process"]["env"] = {"PATH=/bin", "JUNK"};
    EXPECT_EQ(error_of(j), "process.env[1]: \"JUNK\" is not NAME=VALUE");
}

TEST(NormalizeAbsPath, Cases) {
    EXPECT_EQ(*normalize_abs_path("/"), "/");
    EXPECT_EQ(*normalize_abs_path("//a//b/"), "/a/b");
    EXPECT_EQ(*normalize_abs_path("/a/../b"), "/b");
    EXPECT_FALSE(normalize_abs_path("/.."));
    EXPECT_FALSE(normalize_abs_path("a"));
}

}  // namespace
}  // namespace gantry::runtime
