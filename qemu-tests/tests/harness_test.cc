#include <gtest/gtest.h>

#include <algorithm>

#include "base/sha256.h"
#include "qemu-tests/harness/qcase.h"
#include "qemu-tests/harness/vm.h"
#include "qemu-tests/testinit/modules.h"

namespace gantry::qemu {
namespace {

bool has_seq(const std::vector<std::string>& v, const std::string& a, const std::string& b) {
    for (size_t i = 0; i + 1 < v.size(); ++i) {
        if (v[i] == a && v[i + 1] == b) {
            return true;
        }
    }
    return false;
}

TEST(ParseChecks, ReadsOptionsStepsAndVariables) {
    auto c = parse_checks(
        "# comment\nimage test\ntimeout 30s\ndisk 64M\nappend a=1 b\nnetwork\n"
        "console \"GANTRY-TEST: ready\" timeout=5s\nevent config sha256=${h}\nexit 0\n",
        "checks", {{"h", "abc"}});
    ASSERT_TRUE(c) << c.error().str();
    EXPECT_EQ(c->image, "test");
    EXPECT_EQ(c->timeout, Duration{30000});
    EXPECT_EQ(c->disks, std::vector<uint64_t>{64ull << 20});
    EXPECT_EQ(c->append, "a=1 b");
    EXPECT_TRUE(c->network);
    ASSERT_EQ(c->steps.size(), 3u);
    EXPECT_EQ(c->steps[0].args[0], "GANTRY-TEST: ready");
    EXPECT_EQ(c->steps[0].timeout, Duration{5000});
    EXPECT_EQ(c->steps[1].args[1], "sha256=abc");
    EXPECT_EQ(c->steps[2].line, 9);
}

TEST(ParseChecks, UnknownVerbSaysWhereAndSuggests) {
    auto c = parse_checks("image test\nconsol \"x\"\n", "cases/x/checks", {});
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().str().find("cases/x/checks:2: unknown check 'consol'"), std::string::npos);
    EXPECT_NE(c.error().str().find("did you mean \"console\""), std::string::npos);
}

TEST(ParseChecks, RejectsBadArguments) {
    EXPECT_FALSE(parse_checks("exit\n", "c", {}));
    EXPECT_FALSE(parse_checks("timeout soon\n", "c", {}));
    EXPECT_FALSE(parse_checks("console \"open\n", "c", {}));
    EXPECT_FALSE(parse_checks("ctl ps match=(\n", "c", {}));
}

TEST(ParseChecks, SingleQuotesKeepDoubleQuotes) {
    auto c = parse_checks("ctl inspect x 'match=\"pids\": [1-9]'\n", "c", {});
    ASSERT_TRUE(c) << c.error().str();
    ASSERT_EQ(c->steps.size(), 1u);
    EXPECT_EQ(c->steps[0].args.back(), "match=\"pids\": [1-9]");
}

TEST(ParseChecks, ConfigDriveTakesAFormatAndALabel) {
    auto c = parse_checks("config_drive vfat config-2\nconfig_drive iso cidata\n", "c", {});
    ASSERT_TRUE(c) << c.error().str();
    ASSERT_EQ(c->drives.size(), 2u);
    EXPECT_EQ(c->drives[0].fs, "vfat");
    EXPECT_EQ(c->drives[0].label, "config-2");
    EXPECT_EQ(c->drives[1].label, "cidata");
    EXPECT_FALSE(parse_checks("config_drive iso\n", "c", {}));
    EXPECT_FALSE(parse_checks("config_drive ext4 cidata\n", "c", {}));
    EXPECT_FALSE(parse_checks("config_drive iso cdrom\n", "c", {}));
}

TEST(QemuArgv, UsesTcgFwCfgAndLocalhostForwards) {
    VmConfig cfg{.image_dir = "/img",
                 .work_dir = "/w",
                 .config_file = "/c.yaml",
                 .disks = {"/d.raw"},
                 .ports = {{8080, 80}}};
    auto a = qemu_argv(cfg);
    EXPECT_TRUE(has_seq(a, "-accel", "tcg"));
    EXPECT_TRUE(std::find(a.begin(), a.end(), "-enable-kvm") == a.end());
    EXPECT_TRUE(has_seq(a, "-fw_cfg", "name=opt/gantry/config,file=/c.yaml"));
    EXPECT_TRUE(has_seq(a, "-kernel", "/img/vmlinuz"));
    EXPECT_TRUE(has_seq(a, "-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:8080-:80"));
    EXPECT_TRUE(has_seq(a, "-drive", "if=none,id=disk0,format=raw,file=/d.raw"));
    EXPECT_TRUE(has_seq(a, "-serial", "file:/w/console.log"));
}

TEST(ParseEvent, ReadsNameAndTime) {
    auto e = parse_event(R"({"event":"ready","t":2.5,"kernel":"6.1"})");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->name, "ready");
    EXPECT_DOUBLE_EQ(e->t, 2.5);
    EXPECT_FALSE(parse_event("GANTRY-TEST: ready"));
    EXPECT_FALSE(parse_event(R"({"t":1})"));
}

TEST(EventMatches, ExactFieldsAndContainedText) {
    auto e = parse_event(
        R"({"event":"service","t":3,"service":"hog","to":"backoff","detail":"OOM-killed; restarting in 100ms"})");
    ASSERT_TRUE(e);
    EXPECT_TRUE(event_matches(*e, {"service", "service=hog", "to=backoff"}));
    EXPECT_TRUE(event_matches(*e, {"service", "detail=OOM-killed; restarting in 100ms"}));
    EXPECT_TRUE(event_matches(*e, {"service", "detail~=restarting in 100ms"}));
    EXPECT_TRUE(event_matches(*e, {"service", "t=3"}));
    EXPECT_FALSE(event_matches(*e, {"service", "detail=OOM-killed"}));
    EXPECT_FALSE(event_matches(*e, {"service", "detail~=200ms"}));
    EXPECT_FALSE(event_matches(*e, {"service", "nothere~=x"}));
    EXPECT_FALSE(event_matches(*e, {"ready"}));
}

TEST(Sha256, KnownVectors) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_hex(std::string(1000, 'a')),
              "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

TEST(ModuleList, SkipsBlanksAndComments) {
    auto l = testinit::parse_module_list("# x\n/lib/a.ko\n\n/lib/b.ko \n");
    EXPECT_EQ(l, (std::vector<std::string>{"/lib/a.ko", "/lib/b.ko"}));
}

TEST(ModuleLoad, MissingFileIsReportedNotFatal) {
    auto r = testinit::load_modules({"/nonexistent/x.ko"});
    EXPECT_EQ(r.loaded, 0);
    ASSERT_EQ(r.failed.size(), 1u);
    EXPECT_NE(r.failed[0].find("No such file"), std::string::npos);
}

}  // namespace
}  // namespace gantry::qemu
