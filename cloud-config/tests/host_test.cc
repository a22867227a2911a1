// Host bits, planned and applied under a temp root: users, keys, files, host name.
#include "cloud-config/host.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cloud-config/codec.h"
#include "cloud-config/parse.h"
#include "cloud-config/tests/test_util.h"
#include "cloud-config/users.h"

namespace gantry::config {
namespace {

using testing::slurp;
using testing::TempDir;

const char kPasswd[] =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
    "svc:x:1000:1000::/home/svc:/bin/sh\n";
const char kGroup[] = "root:x:0:\nwheel:x:10:root\nsvc:x:1000:\n";
const char kShadow[] = "root:*:19000:0:99999:7:::\n";

Config parse(const std::string& yaml) {
    auto c = parse_config(yaml, "t.yaml");
    EXPECT_TRUE(c) << (c ? "" : format_diagnostics(c.error()));
    return c ? *c : Config{};
}

void seed_etc(const TempDir& t) {
    t.write("etc/passwd", kPasswd);
    t.write("etc/group", kGroup);
    t.write("etc/shadow", kShadow);
}

mode_t mode_of(const std::string& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st.st_mode & 07777;
}

HostOptions options(const TempDir& t) {
    HostOptions o;
    o.root = t.path();
    o.set_kernel_hostname = false;
    o.change_owner = ::geteuid() == 0;  // chown needs root; the plan's owners are checked anyway
    return o;
}

TEST(UserDb, AddsUsersWithTheNextFreeIdsAndTheirGroups) {
    auto db = UserDb::parse(kPasswd, kGroup, kShadow);
    ASSERT_TRUE(db);
    User u;
    u.name = "core";
    u.home = "/home/core";
    u.groups = {"wheel", "docker"};
    u.passwd = "$6$salt$hash";
    db->apply(u);
    EXPECT_EQ(db->uid_of("core"), 1001u);
    EXPECT_EQ(db->passwd_text(), std::string(kPasswd) + "core:x:1001:1001::/home/core:/bin/sh\n");
    EXPECT_EQ(db->group_text(),
              "root:x:0:\nwheel:x:10:root,core\nsvc:x:1000:\ncore:x:1001:\n"
              "docker:x:1002:core\n");
    EXPECT_EQ(db->shadow_text(), std::string(kShadow) + "core:$6$salt$hash:19000:0:99999:7:::\n");
    // Applying again changes nothing: boots are idempotent.
    std::string before = db->group_text();
    db->apply(u);
    EXPECT_EQ(db->group_text(), before);
}

TEST(UserDb, RejectsMalformedFiles) {
    auto db = UserDb::parse("root:x:zero:0:root:/root:/bin/sh\n", "", "");
    ASSERT_FALSE(db);
    EXPECT_EQ(db.error().str(), "/etc/passwd line 1: uid and gid must be numbers");
}

TEST(UserDb, ResolvesOwners) {
    auto db = UserDb::parse(kPasswd, kGroup, kShadow);
    EXPECT_EQ(*resolve_owner(*db, "svc"), (std::pair<uid_t, gid_t>{1000, 1000}));
    EXPECT_EQ(*resolve_owner(*db, "svc:wheel"), (std::pair<uid_t, gid_t>{1000, 10}));
    EXPECT_EQ(*resolve_owner(*db, "42:43"), (std::pair<uid_t, gid_t>{42, 43}));
    EXPECT_EQ(resolve_owner(*db, "ghost").error().str(),
              "owner \"ghost\": no user \"ghost\" in /etc/passwd or users");
}

TEST(Host, PlanThenApplyUsersKeysFilesAndHostname) {
    TempDir t;
    seed_etc(t);
    std::string gz = base64_encode(gzip("zipped\n"));
    Config c = parse(
        "hostname: edge-1\n"
        "ssh_authorized_keys: ['ssh-ed25519 AAAA top@x']\n"
        "users:\n  - name: ops\n    groups: [wheel]\n"
        "    ssh_authorized_keys: ['ssh-ed25519 BBBB ops@x']\n"
        "write_files:\n"
        "  - {path: /etc/app/plain.conf, content: \"a=1\\n\", permissions: '0640', owner: ops}\n"
        "  - {path: /etc/app/b64, content: aGk=, encoding: b64}\n"
        "  - {path: /etc/app/gz, content: " +
        gz +
        ", encoding: gz+b64}\n"
        "  - {path: /etc/motd, content: \"one\\n\", append: true}\n"
        "  - {path: /etc/motd, content: \"two\\n\", append: true}\n");
    auto plan = plan_host(c, t.path());
    ASSERT_TRUE(plan) << plan.error().str();
    // Nothing is written by planning.
    EXPECT_EQ(slurp(t / "etc/passwd"), kPasswd);
    ASSERT_TRUE(apply_host(*plan, options(t)));

    EXPECT_EQ(slurp(t / "etc/hostname"), "edge-1\n");
    EXPECT_NE(slurp(t / "etc/passwd").find("ops:x:1001:1001::/home/ops:/bin/sh\n"),
              std::string::npos);
    EXPECT_NE(slurp(t / "etc/passwd").find("core:x:1002:1002::/home/core:/bin/sh\n"),
              std::string::npos);
    EXPECT_NE(slurp(t / "etc/shadow").find("ops:!:"), std::string::npos);  // locked password
    EXPECT_EQ(mode_of(t / "etc/shadow"), 0600u);
    EXPECT_EQ(slurp(t / "home/ops/.ssh/authorized_keys"), "ssh-ed25519 BBBB ops@x\n");
    EXPECT_EQ(slurp(t / "home/core/.ssh/authorized_keys"), "ssh-ed25519 AAAA top@x\n");
    EXPECT_EQ(mode_of(t / "home/ops/.ssh"), 0700u);
    EXPECT_EQ(mode_of(t / "home/ops/.ssh/authorized_keys"), 0600u);
    EXPECT_EQ(slurp(t / "etc/app/plain.conf"), "a=1\n");
    EXPECT_EQ(mode_of(t / "etc/app/plain.conf"), 0640u);
    EXPECT_EQ(slurp(t / "etc/app/b64"), "hi");
    EXPECT_EQ(slurp(t / "etc/app/gz"), "zipped\n");
    EXPECT_EQ(slurp(t / "etc/motd"), "one\ntwo\n");
    if (::geteuid() == 0) {
        struct stat st {};
        ::stat((t / "etc/app/plain.conf").c_str(), &st);
        EXPECT_EQ(st.st_uid, 1001u);
        ::stat((t / "home/ops/.ssh").c_str(), &st);
        EXPECT_EQ(st.st_uid, 1001u);
    }
}

TEST(Host, ApplyingTwiceIsIdempotentExceptAppends) {
    TempDir t;
    seed_etc(t);
    Config c = parse("users:\n  - name: ops\n");
    auto plan = plan_host(c, t.path());
    ASSERT_TRUE(apply_host(*plan, options(t)));
    std::string once = slurp(t / "etc/passwd");
    auto again = plan_host(c, t.path());
    ASSERT_TRUE(apply_host(*again, options(t)));
    EXPECT_EQ(slurp(t / "etc/passwd"), once);
}

TEST(Host, APlanThatFailsWritesNothing) {
    TempDir t;
    seed_etc(t);
    Config c = parse(
        "hostname: edge-1\nusers:\n  - name: ops\n"
        "write_files:\n  - {path: /etc/a, content: x}\n  - {path: /etc/b, content: y, owner: "
        "ghost}\n");
    auto plan = plan_host(c, t.path());
    ASSERT_FALSE(plan);
    EXPECT_EQ(plan.error().str(),
              "write_files /etc/b: owner \"ghost\": no user \"ghost\" in /etc/passwd or users");
    EXPECT_EQ(slurp(t / "etc/passwd"), kPasswd);
    EXPECT_FALSE(std::filesystem::exists(t / "etc/a"));
    EXPECT_FALSE(std::filesystem::exists(t / "etc/hostname"));
}

TEST(Host, FreshRootWithoutEtcFiles) {
    TempDir t;
    Config c = parse(
        "users:\n  - name: root\n    ssh_authorized_keys: ['ssh-rsa AAAA r@x']\n"
        "timezone: Europe/Paris\nwrite_files:\n  - {path: /etc/issue, content: hi}\n");
    auto plan = plan_host(c, t.path());
    ASSERT_TRUE(plan) << plan.error().str();
    ASSERT_TRUE(apply_host(*plan, options(t)));
    EXPECT_EQ(slurp(t / "root/.ssh/authorized_keys"), "ssh-rsa AAAA r@x\n");
    EXPECT_EQ(slurp(t / "etc/issue"), "hi");
    EXPECT_EQ(slurp(t / "etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
    EXPECT_EQ(slurp(t / "etc/group"), "root:x:0:\n");
    EXPECT_EQ(std::filesystem::read_symlink(t / "etc/localtime"),
              "/usr/share/zoneinfo/Europe/Paris");
}

}  // namespace
}  // namespace gantry::config
